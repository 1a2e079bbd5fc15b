"""``finch-lsp bench --replay``: typing replayed over real code, learning from implicit feedback only.

The code is a third-party package installed beside finch (``click`` by default): its modules,
sorted by name, are split into the user's files so far (every other one) and held-out files.
A replay types each file top to bottom the way a user writing it would: at each sampled line
it puts the cursor after the line's indentation, asks for an inline completion, accepts it
when the line really starts with it (the accepted characters are saved typing), and types
the rest of the line. Suggestions that do not match are typed over. No rating is ever given.

1. The held-out files are replayed on the base model: characters saved and acceptance rate.
2. The user's files are replayed with implicit feedback on (settled at once: the replayed
   user is fast; off before and after, so nothing typed in the held-out files is learnt);
   the threshold starts training, or ``finch.train`` does at the end.
3. Once the adapter is active (when the gate lets it through), the held-out files again.
4. When the gate refused the adapter, the held-out files once more with it used by hand
   (``finch.adapters.use``): whether the gate or the training held the figure back.

Completions are single-line here (``multiline: never``), the ones whose acceptance is clear.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from finch_lsp.tools.latency import machine_info, machine_line
from finch_lsp.tools.overrides import parse_overrides
from finch_lsp.tools.report import write_section
from finch_lsp.tools.stdio_client import StdioClient

HEADING = "## Learning from what the user does (typing replay)"
CAPABILITIES = {"textDocument": {"inlineCompletion": {}}, "window": {"workDoneProgress": False}}
MIN_LINE_CHARS = 8


@dataclass
class Tally:
    """What one replay saved."""

    typed: int = 0
    saved: int = 0
    shown: int = 0
    accepted: int = 0

    @property
    def saved_share(self) -> float:
        return self.saved / self.typed if self.typed else 0.0

    @property
    def acceptance(self) -> float:
        return self.accepted / self.shown if self.shown else 0.0


def package_files(package: str) -> list[Path]:
    """The package's modules, sorted by name, without empty or tiny ones."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"finch-lsp bench --replay: package {package!r} is not installed; pick another with --package")
    root = Path(list(spec.submodule_search_locations)[0])
    return [p for p in sorted(root.glob("*.py")) if p.stat().st_size > 2000]


def split_files(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """(the user's files, held-out files): every other file, so both halves span the package."""
    return files[0::2], files[1::2]


def cursor_points(text: str, per_file: int) -> list[tuple[str, str]]:
    """(prefix, rest of line) at up to ``per_file`` evenly spread code lines of ``text``."""
    lines = text.split("\n")
    offsets, at = [], 0
    for line in lines:
        offsets.append(at)
        at += len(line) + 1
    candidates = []
    for i, line in enumerate(lines):
        body = line.strip()
        if len(body) >= MIN_LINE_CHARS and not body.startswith(("#", '"', "'")):
            indent = len(line) - len(line.lstrip())
            candidates.append((text[: offsets[i] + indent], line[indent:]))
    step = max(1, len(candidates) // per_file) if per_file else 1
    return candidates[::step][:per_file]


def accepted_part(suggestion: str, rest: str) -> str:
    """The part of a suggestion the user takes: all of its first line when the line starts with it."""
    first = suggestion.split("\n", 1)[0]
    return first if first.strip() and rest.startswith(first) else ""


class Replayer:
    """Types files into one server over stdio."""

    def __init__(self, client: StdioClient) -> None:
        self.client, self.version, self.files = client, 0, 0
        self.text = ""

    def _set(self, uri: str, text: str) -> None:
        """Change the document to ``text``: typed at the end when it extends it, as an editor sends it."""
        self.version += 1
        if text.startswith(self.text):
            lines = self.text.split("\n")
            end = {"line": len(lines) - 1, "character": len(lines[-1])}  # ASCII source: UTF-16 units are characters
            change = {"range": {"start": end, "end": end}, "text": text[len(self.text):]}
        else:
            change = {"text": text}
        self.text = text
        self.client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": self.version}, "contentChanges": [change]})

    def replay(self, path: Path, per_file: int, tally: Tally) -> None:
        text = path.read_text(encoding="utf-8")
        self.files += 1
        uri = f"file:///replay/{self.files}_{path.name}"
        self.version += 1
        self.client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": self.version, "text": ""}})
        self.text = ""
        for prefix, rest in cursor_points(text, per_file):
            self._set(uri, prefix)
            lines = prefix.split("\n")
            position = {"line": len(lines) - 1, "character": len(lines[-1])}
            items = self.client.request("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 2}})["items"]
            tally.typed += len(rest) + 1
            if items:
                tally.shown += 1
                taken = accepted_part(items[0]["insertText"], rest)
                if taken:
                    tally.accepted += 1
                    tally.saved += len(taken)
                    self.client.command("finch.accept", items[0]["command"]["arguments"][0])
                    self._set(uri, prefix + taken)
            self._set(uri, prefix + rest + "\n")
        self.client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def status(self) -> dict:
        return self.client.command("finch.status")

    def wait(self, done, timeout: float = 4 * 3600) -> dict:
        # a bench, not a test: on a shared machine the niced trainer has taken over 30 min
        return self.client.wait_for_status(done, timeout)


def implicit(client: StdioClient, on: bool) -> None:
    """Implicit feedback on or off (``training.implicit``), as an editor changes a setting."""
    client.notify("workspace/didChangeConfiguration", {"settings": {"finch": {"training": {"implicit": on}}}})


def note(line: str) -> None:
    """A phase's figures on stderr as soon as it ends (a replay takes most of an hour)."""
    print(f"finch-lsp bench --replay: {line}", file=sys.stderr, flush=True)


def measure(replayer: Replayer, user: list[Path], held_out: list[Path], per_file: int) -> dict:
    """Held-out files on the base model, the user's files with implicit feedback, held-out files again.

    Implicit feedback is on only while the user's files are typed: what is typed in the
    held-out files must never become a training example.
    """
    replayer.wait(lambda s: s["model"]["state"] != "loading")
    before = Tally()
    for path in held_out:
        replayer.replay(path, per_file, before)
    note(f"held-out files on the base model: {before}")
    implicit(replayer.client, True)
    learnt = Tally()
    for path in user:
        replayer.replay(path, per_file, learnt)
    status = replayer.status()
    implicit(replayer.client, False)
    examples = status["buffer"]["examples"]
    note(f"user's files typed: {learnt}; {examples} implicit examples")
    started = time.monotonic()
    # The threshold may have started a training part-way through the user's files: once it ends,
    # what was typed after its start is trained on too, as the user's next edit would start it.
    status = replayer.wait(lambda s: s["training"]["state"] != "running")
    if status["buffer"]["newSinceTraining"] > 0 or replayer.client.command("finch.adapters.list") == []:
        replayer.client.command("finch.train")
        replayer.wait(lambda s: s["training"]["state"] != "running")
    adapters = replayer.client.command("finch.adapters.list")
    adapter = adapters[-1] if adapters else None
    activated = bool(adapter and adapter["evaluation"] and adapter["evaluation"].get("passed"))
    note(f"training ended: adapter {'activated' if activated else 'not activated'} ({(adapter or {}).get('verdict') or 'no adapter'})")
    if activated:
        replayer.wait(lambda s: s["adapter"]["version"] == adapter["version"], timeout=300)
    after = Tally()
    for path in held_out:
        replayer.replay(path, per_file, after)
    used = None
    if adapter and not activated:  # what the gate kept out, used by hand: is it the gate or the training?
        replayer.client.command("finch.adapters.use", adapter["version"])
        replayer.wait(lambda s: s["adapter"]["version"] == adapter["version"], timeout=300)
        used = Tally()
        for path in held_out:
            replayer.replay(path, per_file, used)
        note(f"held-out files with the refused adapter used by hand: {used}")
    return {"before": before, "learnt": learnt, "after": after, "used": used, "examples": examples, "activated": activated,
            "verdict": (adapter or {}).get("verdict") or "", "evaluation": (adapter or {}).get("evaluation") or {}, "training": time.monotonic() - started}


def render(result: dict, model: str, package: str, user: list[Path], held_out: list[Path], machine: dict, line: str) -> str:
    before, after = result["before"], result["after"]
    relative = (after.saved_share / before.saved_share - 1) * 100 if before.saved_share else float("nan")
    return "\n".join([
        f"### {model} on `{package}`, {machine_line(machine)} ({datetime.date.today().isoformat()})",
        "",
        f"`{line}`",
        "",
        f"User's files: {', '.join(p.name for p in user)}. Held out: {', '.join(p.name for p in held_out)}.",
        f"Implicit examples recorded while the user's files were typed: {result['examples']}; "
        f"adapter {'activated' if result['activated'] else 'not activated'} ({result['verdict'] or 'no verdict'}); "
        f"training and gate took {result['training']:.0f} s.",
        "",
        "| held-out files | characters saved | acceptance rate | suggestions shown |",
        "|---|---|---|---|",
        f"| base model | {before.saved_share:.1%} ({before.saved}/{before.typed}) | {before.acceptance:.1%} | {before.shown} |",
        f"| after implicit training | {after.saved_share:.1%} ({after.saved}/{after.typed}) | {after.acceptance:.1%} | {after.shown} |",
        *([f"| the refused adapter, used by hand | {used.saved_share:.1%} ({used.saved}/{used.typed}) | {used.acceptance:.1%} | {used.shown} |"] if (used := result.get("used")) else []),
        "",
        f"Characters saved on the held-out files: {relative:+.0f}% relative.{gate_line(result.get('evaluation') or {})}",
        "",
    ])


def gate_line(evaluation: dict) -> str:
    """The gate's HumanEval subset and general prompts, before and after, when it ran them."""
    if evaluation.get("pass_after") is None:
        return ""
    return (f" The gate's HumanEval subset: {evaluation.get('pass_before')} -> {evaluation['pass_after']} of {evaluation.get('pass_total')} passed; "
            f"general prompts unchanged {evaluation.get('general_kept')}/{evaluation.get('general_total')}.")


def training_settings(pairs: list[str]) -> dict:
    """``--set key=value`` pairs as ``finch.training`` settings (camelCase), values parsed as JSON."""
    from finch_lsp.config import TrainingConfig

    names = {f.encode_name for f in msgspec.structs.fields(TrainingConfig)} - {"implicit", "settleSeconds"}
    return parse_overrides(pairs, names, "a finch.training setting the replay can change")


def run_replay_bench(args: argparse.Namespace) -> int:
    model = args.model or "smollm2-135m"
    package = args.package or "click"
    user, held_out = split_files(package_files(package))
    training = {**training_settings(args.set or []), "settleSeconds": 0, "implicit": False}  # implicit on for the user's files only
    settings = {"completion": {"multiline": "never"}, "training": training}
    with tempfile.TemporaryDirectory(prefix="finch-replay-") as tmp:
        command = [sys.executable, "-m", "finch_lsp", "--model", model, "--device", args.device or "cpu", "--data-dir", args.data_dir or tmp]
        client = StdioClient(command, dict(os.environ), stderr=open(Path(tmp) / "server.log", "ab"))
        try:
            client.request("initialize", {"processId": os.getpid(), "capabilities": CAPABILITIES, "initializationOptions": {"finch": settings}})
            client.notify("initialized", {})
            result = measure(Replayer(client), user, held_out, args.per_file)
        finally:
            client.close()
    line = f"finch-lsp bench --replay --model {model} --package {package} --per-file {args.per_file}" + "".join(f" --set {p}" for p in args.set or [])
    section = render(result, model, package, user, held_out, machine_info(), line)
    print(section)
    if args.output:
        write_section(args.output, HEADING, __doc__.split("\n\n", 1)[1], section, title="# Learning")
    return 0
