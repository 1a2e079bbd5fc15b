"""``finch-lsp models list|pull NAME|remove NAME``: what is known, downloaded, and picked.

Progress and notes go to stderr, results to stdout. Exit status: 0 done, 1 the download or
removal failed (the message says why), 2 an unknown name, 130 interrupted (a later pull
resumes).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from finch_lsp.models.catalog import HUB_MODELS, format_size, hub_model
from finch_lsp.models.download_errors import DownloadError
from finch_lsp.models.transfer import ProgressSnapshot, Throttle, format_bar, format_progress

NAMES = ", ".join(model.name for model in HUB_MODELS)


def add_parser(sub) -> None:
    """The ``models`` subcommand on the ``finch-lsp`` parser's subparsers."""
    models = sub.add_parser("models", help="list, download and remove models")
    actions = models.add_subparsers(dest="models_command", required=True)
    listing = actions.add_parser("list", help="every known model: size, memory, downloaded or not, and what auto picks")
    listing.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="the device auto picks for (default: auto)")
    listing.add_argument("--json", action="store_true", help="print the rows as JSON (as finch.models.list answers)")
    pull = actions.add_parser("pull", help="download a model into the Hugging Face cache (resumes an interrupted download)")
    pull.add_argument("name", help=f"{NAMES}, or a Hugging Face model id")
    remove = actions.add_parser("remove", help="delete a downloaded model from the Hugging Face cache")
    remove.add_argument("name", help=f"{NAMES}, or a Hugging Face model id")


def run(args: argparse.Namespace) -> int:
    if args.models_command == "list":
        return list_models(args.device, args.json)
    if args.models_command == "pull":
        return pull_model(args.name)
    return remove_model(args.name)


def list_models(device: str = "auto", as_json: bool = False, out: TextIO = sys.stdout) -> int:
    from finch_lsp.models.listing import model_rows
    from finch_lsp.models.registry import LOADERS
    from finch_lsp.models.machine import probe_machine

    machine = probe_machine(device)
    rows = model_rows(machine, loaders=LOADERS)
    if as_json:
        print(json.dumps(rows, indent=2), file=out)
        return 0
    print(render_table(rows), file=out)
    pick = next(row for row in rows if row["autoPick"])
    print(f"\nauto picks {pick['name']} on this machine: {pick['why']}", file=out)
    return 0


def render_table(rows: list[dict]) -> str:
    """The rows of ``model_rows`` as an aligned text table."""
    header = ("name", "repo", "size", "CPU memory", "GPU memory", "downloaded", "")
    lines = [header]
    for row in rows:
        lines.append((
            row["name"], row["repo"] or "(built in)", format_size(row["sizeBytes"]) if row["sizeBytes"] else "-",
            format_size(row["cpuMemoryBytes"]), format_size(row["gpuMemoryBytes"]),
            "yes" if row["present"] else "no", "<- auto" if row["autoPick"] else "",
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


def repo_for(name: str) -> str | None:
    """The hub repository a ``pull``/``remove`` NAME stands for; None when it names none."""
    model = hub_model(name)
    if model is not None:
        return model.repo
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name if "/" in name else None


def pull_model(name: str, err: TextIO = sys.stderr, out: TextIO = sys.stdout) -> int:
    from finch_lsp.models.download import pull

    repo_id = repo_for(name)
    if repo_id is None:
        print(f"finch: {name!r} is not a model finch can download: use one of {NAMES}, or a Hugging Face id such as Qwen/Qwen2.5-Coder-0.5B", file=err)
        return 2
    bar = ProgressBar(err)
    print(f"finch: downloading {repo_id}", file=err, flush=True)
    try:
        result = pull(repo_id, on_progress=bar.show, on_status=bar.note)
    except DownloadError as error:
        bar.end()
        print(f"finch: {error.message}", file=err)
        return 1
    except KeyboardInterrupt:
        bar.end()
        print(f"finch: interrupted; what was downloaded is kept: run `finch-lsp models pull {name}` again to resume", file=err)
        return 130
    bar.end()
    print(f"finch: downloaded {repo_id} ({result.summary()}) into {result.snapshot}", file=out)
    _say_what_auto_picks(out)
    return 0


def remove_model(name: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from finch_lsp.models.local_cache import remove

    repo_id = repo_for(name)
    if repo_id is None:
        print(f"finch: {name!r} is not a downloadable model: use one of {NAMES}, or a Hugging Face id", file=err)
        return 2
    try:
        removal = remove(repo_id)
    except OSError as error:
        print(f"finch: could not remove {repo_id}: {error}; check the permissions of the Hugging Face cache", file=err)
        return 1
    if not removal.found:
        print(f"finch: {repo_id} is not in the Hugging Face cache; nothing removed", file=err)
        return 1
    print(f"finch: removed {repo_id} ({format_size(removal.freed_bytes)} freed)", file=out)
    _say_what_auto_picks(out)
    return 0


def _say_what_auto_picks(out: TextIO) -> None:
    from finch_lsp.models.listing import auto_choice

    choice = auto_choice()
    print(f"finch: auto now picks {choice.name}: {choice.why}", file=out)


class ProgressBar:
    """One line redrawn in place on a terminal; a line every few percent otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.throttle = Throttle(interval_s=0.2 if self.tty else 10.0, step=100 if self.tty else 10)
        self._drawn = False
        self._last: ProgressSnapshot | None = None

    def show(self, snapshot: ProgressSnapshot) -> None:
        self._last = snapshot
        if not self.throttle.due(snapshot.percentage) and snapshot.done < snapshot.total:
            return
        if self.tty:
            self.stream.write(f"\r\033[K{format_bar(snapshot)}")
            self._drawn = True
        else:
            self.stream.write(f"finch: {format_progress(snapshot)}\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        if message.startswith("verifying"):
            return  # frequent and short; the bar says enough
        self.end()
        self.stream.write(f"finch: {message}\n")
        self.stream.flush()

    def end(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
