"""``finch-lsp bench --beside-load``: completion latency on a quiet machine and beside busy processes.

A user's machine is rarely idle: a build, a test run, another model. The real server runs on
stdio; the client asks for the same single-line completions three ways: on the quiet machine,
then while ``--hogs`` processes each keep a core busy (a Python busy loop, not niced, as a
compiler would be), then quiet again. After each completion it reads ``engine.threads`` from
``finch.status``: the torch threads the server ran with (``completion.engine.serving_pacer``).
"""

from __future__ import annotations

import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finch_lsp.tools.latency import machine_info, machine_line, percentile
from finch_lsp.tools.report import write_section
from finch_lsp.tools.train_timing import PROBES, load_average, server, timed

HEADING = "## Completions beside a busy machine"
HOG = "while True: pass"


def measure(session, rounds: int) -> dict:
    """p50 and p90 of ``rounds`` passes over the probes, and the thread counts the server used."""
    seconds, threads = [], []
    for _ in range(rounds):
        for prompt in PROBES:
            seconds.append(timed(session, prompt))
            threads.append(session.client.command("finch.status")["engine"]["threads"])
    return {
        "p50_ms": 1000 * percentile(seconds, 50), "p90_ms": 1000 * percentile(seconds, 90),
        "n": len(seconds), "threads": sorted(set(threads), key=lambda t: (t is None, t)),
    }


def run_beside_load_bench(args) -> int:
    model, device, hogs = args.model or "smollm2-135m", args.device or "cpu", max(1, args.hogs)
    rounds = max(1, args.runs // len(PROBES)) if args.runs else 3
    rows = []
    with tempfile.TemporaryDirectory(prefix="finch-load-") as tmp:
        session = server(model, device, str(Path(tmp) / "data"), Path(tmp) / "server.log")
        try:
            session.wait(lambda s: s["model"]["state"] != "loading")
            for p in PROBES:
                session.complete(p)  # warm-up
            rows.append({"label": "quiet", "load": load_average(), **measure(session, rounds)})
            busy = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(hogs)]
            try:
                rows.append({"label": f"beside {hogs} busy process(es)", "load": load_average(), **measure(session, rounds)})
            finally:
                for p in busy:
                    p.kill()
                    p.wait()
            time.sleep(3.0)  # the server's pacer wants the machine quiet for cpu.QUIET_S before it takes every core again
            rows.append({"label": "quiet again", "load": load_average(), **measure(session, rounds)})
        finally:
            session.client.close()
    for row in rows:
        print(row, file=sys.stderr, flush=True)
    quiet = rows[0]["p50_ms"]
    lines = [
        f"### {model}, {machine_line(machine_info())} ({datetime.date.today().isoformat()})", "",
        f"`finch-lsp bench --beside-load --hogs {hogs} --model {model}`: single-line completions of {len(PROBES)} short prompts, "
        f"{rounds} passes each way, timed at the client over stdio", "",
        "| machine | completion p50 (p90, n) | against quiet | server's torch threads | load average before |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['label']} | {r['p50_ms']:.0f} ms ({r['p90_ms']:.0f}, {r['n']}) | {r['p50_ms'] / quiet:.2f}x | {', '.join(map(str, r['threads']))} | {r['load']} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.output:
        write_section(args.output, HEADING, "", section)
    return 0
