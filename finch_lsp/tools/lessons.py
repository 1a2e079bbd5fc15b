"""``finch-lsp bench --learning``: the pathlib scenario through the real server, measured.

Before training, the unseen and unrelated prompts are completed; five critical corrections
are rated; ``finch.train`` runs with the given settings (defaults: the server's); after the
swap the same prompts are completed again. Prints the held-out hit rate, the unrelated
prompts kept, and the training time (the trainer's own, from the adapter's meta).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

from finch_lsp.tools.latency import machine_info, machine_line
from finch_lsp.tools.report import write_section
from finch_lsp.tools.scenarios import TRAIN_CASES, UNRELATED, UNSEEN_PROMPTS, score
from finch_lsp.tools.stdio_client import StdioClient

HEADING = "## Learning (the pathlib scenario)"
CAPABILITIES = {"textDocument": {"inlineCompletion": {}}, "window": {"workDoneProgress": False}}


class Session:
    """One server over stdio and the documents opened in it."""

    def __init__(self, client: StdioClient) -> None:
        self.client, self.opened = client, 0

    def complete(self, text: str) -> str:
        self.opened += 1
        uri = f"file:///bench/learn_{self.opened}.py"
        self.client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
        lines = text.split("\n")
        position = {"line": len(lines) - 1, "character": len(lines[-1])}
        items = self.client.request("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}})["items"]
        return items[0]["insertText"] if items else ""

    def wait(self, done, timeout: float = 1800) -> dict:
        return self.client.wait_for_status(done, timeout)


def measure(session: Session) -> dict:
    """Run the scenario; the numbers of one training."""
    session.wait(lambda s: s["model"]["state"] != "loading")
    unseen_before = [session.complete(p) for p in UNSEEN_PROMPTS]
    unrelated_before = [session.complete(p) for p, _ in UNRELATED]
    for prompt, correction in TRAIN_CASES:
        session.complete(prompt)
        session.client.command("finch.feedback", {"rating": "critical", "correction": correction})
    started = time.monotonic()
    session.client.command("finch.train")
    session.wait(lambda s: s["training"]["state"] != "running")
    wall = time.monotonic() - started
    adapter = session.client.command("finch.adapters.list")[-1]
    if adapter["evaluation"]["passed"]:
        session.wait(lambda s: s["adapter"]["version"] == adapter["version"], timeout=120)
    after = score([session.complete(p) for p in UNSEEN_PROMPTS], [session.complete(p) for p, _ in UNRELATED], unrelated_before)
    before = score(unseen_before, unrelated_before, unrelated_before)
    return {"before_hits": before["hits"], **after, "wall": wall, "activated": adapter["evaluation"]["passed"], "changed": after["changed"]}


def render(result: dict, model: str, machine: dict, command: str) -> str:
    when = datetime.date.today().isoformat()
    return "\n".join([
        f"### {model}, {machine_line(machine)} ({when})",
        "",
        f"`{command}`",
        "",
        "| unseen with pathlib before | after | unrelated kept | adapter activated | training (submit to idle) |",
        "|---|---|---|---|---|",
        f"| {result['before_hits']}/{result['unseen']} | {result['hits']}/{result['unseen']} | {result['kept']}/{result['unrelated']} "
        f"| {'yes' if result['activated'] else 'no'} | {result['wall']:.1f} s |",
        "",
    ])


def run_learning_bench(args: argparse.Namespace) -> int:
    model = args.model or "smollm2-135m"
    with tempfile.TemporaryDirectory(prefix="finch-learn-") as tmp:
        command = [sys.executable, "-m", "finch_lsp", "--model", model, "--device", args.device or "cpu", "--data-dir", args.data_dir or tmp]
        client = StdioClient(command, dict(os.environ), stderr=open(Path(tmp) / "server.log", "ab"))
        try:
            client.request("initialize", {"processId": os.getpid(), "capabilities": CAPABILITIES, "initializationOptions": {"finch": {}}})
            client.notify("initialized", {})
            result = measure(Session(client))
        finally:
            client.close()
    line = "finch-lsp bench --learning --model " + model + (" --output " + args.output if args.output else "")
    section = render(result, model, machine_info(), line)
    print(section)
    if result["changed"]:
        print("unrelated prompts that changed:", result["changed"])
    if args.output:
        intro = ("Issue 3, item 8, through the real server on stdio: five critical corrections\n(`return Path(<param>).read_text()`), then completions on five unseen functions and six unrelated\n"
                 "prompts (docs/learning.md has the design and the sweeps). Default settings.")
        write_section(args.output, HEADING, intro, section)
    return 0
