"""``finch-lsp bench --learning --timing``: rating to active adapter, and completions meanwhile.

Through the real server on stdio with default settings: ten critical ratings with
corrections (a preference family's), the tenth starts training by the threshold; the clock
runs from that rating's answer to the moment ``finch.status`` shows the new adapter active
(or the gate refusing it). In a "typing" round the client meanwhile keeps asking for
single-line completions and records their latency, against the same completions asked for
before the ratings (idle); in a "waiting" round it only polls ``finch.status`` (a user who
rated and waits: the trainer may take every core). Progress messages seen in ``finch.status`` are
counted by phase (steps, gate).

In one data dir: a first typing round computes the gate's base-model figures (once per
model); then, with them cached as every later training finds them, a typing and a waiting
round of another family (a fresh buffer each). With ``--data-dir`` holding them already, the
last two only.
"""

from __future__ import annotations

import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from finch_lsp.tools.families import FAMILIES, Family
from finch_lsp.tools.latency import machine_info, machine_line
from finch_lsp.tools.lessons import CAPABILITIES, Session
from finch_lsp.tools.report import write_section
from finch_lsp.tools.stdio_client import StdioClient

HEADING = "## Learning: rating to active adapter (ten ratings)"
PROBES = ["def area(width, height):\n    return", "def is_even(n):\n    return", "def square(x):\n    return", "def greet(name):\n    return"]


def timed(session: Session, prompt: str) -> float:
    started = time.perf_counter()
    session.complete(prompt)
    return time.perf_counter() - started


WAIT_POLL_S = 0.5
"""How often a waiting round polls ``finch.status``."""


def one_round(session: Session, family: Family, typing: bool = True) -> dict:
    """Ten ratings, the threshold's training, latencies meanwhile (``typing``): the figures of one round."""
    session.wait(lambda s: s["model"]["state"] != "loading")
    for p in PROBES:
        session.complete(p)  # warm-up
    idle = [timed(session, p) for p in PROBES * 3]
    for prompt, correction in family.train_cases():
        session.complete(prompt)
        answer = session.client.command("finch.feedback", {"rating": "critical", "correction": correction, "note": family.habit})
    if not answer["trainingStarted"]:
        raise RuntimeError(f"the tenth rating did not start training: {answer}")
    started = time.monotonic()
    busy, phases, verdict = [], {"steps": 0, "gate": 0}, None
    while True:
        status = session.client.command("finch.status")
        progress = status["training"].get("progress") or {}
        phases["gate" if progress.get("phase") == "gate" else "steps"] += bool(progress)
        if status["training"]["state"] != "running":
            adapter = session.client.command("finch.adapters.list")[-1]
            if not adapter["evaluation"]["passed"] or status["adapter"]["version"] == adapter["version"]:
                verdict = adapter
                break
        if typing:
            busy.append(timed(session, PROBES[len(busy) % len(PROBES)]))
        else:
            time.sleep(WAIT_POLL_S)  # a poll interval, not a wait for an event: the bench samples progress
        if time.monotonic() - started > 1800:
            raise TimeoutError("training took more than 30 minutes")
    seconds = time.monotonic() - started
    return {
        "family": family.name, "seconds": seconds, "active": verdict["evaluation"]["passed"], "verdict": verdict["verdict"],
        "gate_seconds": verdict["evaluation"].get("gate_seconds") or 0.0,
        "idle_ms": 1000 * statistics.median(idle), "busy_ms": 1000 * statistics.median(busy) if busy else float("nan"),
        "busy_p90_ms": 1000 * sorted(busy)[int(0.9 * (len(busy) - 1))] if busy else float("nan"), "busy_n": len(busy), "phases": phases,
    }


def during(row: dict) -> str:
    """The latency-during-training cell: p50 (p90, n), or none asked in a waiting round."""
    if not row["busy_n"]:
        return "none asked (waiting)"
    return f"{row['busy_ms']:.0f} ms ({row['busy_p90_ms']:.0f}, {row['busy_n']})"


def server(model: str, device: str, data_dir: str, log: Path) -> Session:
    command = [sys.executable, "-m", "finch_lsp", "--model", model, "--device", device, "--data-dir", data_dir]
    client = StdioClient(command, dict(os.environ), stderr=open(log, "ab"))
    client.request("initialize", {"processId": os.getpid(), "capabilities": CAPABILITIES, "initializationOptions": {"finch": {}}})
    client.notify("initialized", {})
    return Session(client)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def cached(data: Path) -> bool:
    return any((data / "gate").glob("base-*.json"))


def run_timing_bench(args) -> int:
    """Two rounds (base figures computed, then cached); one round when ``--data-dir`` already holds them."""
    model, device = args.model or "smollm2-135m", args.device or "cpu"
    rows = []
    with tempfile.TemporaryDirectory(prefix="finch-timing-") as tmp:
        data = Path(args.data_dir) if args.data_dir else Path(tmp) / "data"
        rounds = [(FAMILIES["logging"], True), (FAMILIES["logging"], False)]
        for family, typing in rounds if cached(data) else [(FAMILIES["utc"], True), *rounds]:
            label = ("base figures cached" if cached(data) else "first training (gate base figures computed)") + (", typing" if typing else ", waiting")
            before = load_average()
            session = server(model, device, str(data), Path(tmp) / "server.log")
            try:
                row = one_round(session, family, typing)
            finally:
                session.client.close()
            rows.append({**row, "label": label, "load": f"{before} -> {load_average()}"})
            print(rows[-1], file=sys.stderr, flush=True)
            for sub in ("feedback", "adapters"):  # a fresh buffer; the gate cache stays
                shutil.rmtree(data / sub, ignore_errors=True)
    lines = [
        f"### {model}, {machine_line(machine_info())} ({datetime.date.today().isoformat()})", "",
        f"`finch-lsp bench --learning --timing --model {model}`, default settings (trainer niced, "
        f"{os.environ.get('FINCH_TRAIN_THREADS', 'every core while nothing else uses the CPU, cores - 1 while anything does')} thread(s)); "
        "load average (1, 5, 15 min) before -> after each round", "",
        "| round | family | rating to active | of which the gate (adapter side) | outcome | completion p50 idle | during training p50 (p90, n) | progress seen (steps, gate) | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['family']} | {r['seconds']:.0f} s | {r['gate_seconds']:.0f} s | {'active' if r['active'] else 'refused: ' + r['verdict']} "
            f"| {r['idle_ms']:.0f} ms | {during(r)} | {r['phases']['steps']}, {r['phases']['gate']} | {r['load']} |"
        )
    section = "\n".join(lines) + "\n"
    print(section)
    if args.output:
        write_section(args.output, HEADING, "", section)
    return 0
