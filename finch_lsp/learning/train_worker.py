"""The trainer process: ``python -m finch_lsp.learning.train_worker JOB_JSON_PATH``.

The server spawns it (never forks it) so that training cannot crash the server, gives its
memory back when it ends, and runs at lower priority with fewer threads than the machine has,
leaving a core to completions.

It reads a ``TrainJob`` (JSON), loads the base model, trains, evaluates and saves the adapter
into ``job.output_dir``. Its stdout carries one JSON object per line and nothing else:

    {"event": "progress", "epoch": 2, "epochs": 6, "step": 3, "steps": 12, "loss": 0.91, ...}
    {"event": "done", "result": {TrainResult}}
    {"event": "error", "message": "..."}          (then exit code 1)

Logging and library chatter go to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import msgspec

log = logging.getLogger("finch_lsp.train_worker")

THREADS_ENV = "FINCH_TRAIN_THREADS"
NICENESS = 10


def train_threads() -> int:
    """Threads for training: ``$FINCH_TRAIN_THREADS``, else one less than the machine's cores."""
    configured = os.environ.get(THREADS_ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, (os.cpu_count() or 2) - 1)


def lower_priority() -> None:
    """Make the process nicer than the server, so completions win the CPU."""
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError) as exc:
        log.info("could not lower the trainer's priority: %s", exc)


class EventWriter:
    """Writes one JSON object per line to the server and flushes each."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.encoder = msgspec.json.Encoder()

    def send(self, event: str, **fields) -> None:
        line = self.encoder.encode({"event": event, **fields}).decode("utf-8")
        self.stream.write(line + "\n")
        self.stream.flush()


def read_job(path: str):
    """The TrainJob in the JSON file at ``path``."""
    from finch_lsp.learning.training import TrainJob

    with open(path, "rb") as f:
        return msgspec.json.decode(f.read(), type=TrainJob)


def run(job_path: str, events: EventWriter) -> None:
    """Load, train, evaluate, save; report through ``events``."""
    import torch

    from finch_lsp.learning.training import train_adapter
    from finch_lsp.models import load_model

    threads = train_threads()
    torch.set_num_threads(threads)
    job = read_job(job_path)
    log.info("training on %d examples with %d thread(s); adapter into %s", len(job.examples), threads, job.output_dir)
    loaded = load_model(job.base_model, job.device, on_progress=lambda message: log.info("%s", message))

    def on_progress(progress: dict) -> None:
        events.send("progress", **progress)

    result = train_adapter(job, loaded, on_progress)
    events.send("done", result=msgspec.to_builtins(result))


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 done, 1 error, 2 bad usage)."""
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("FINCH_TRAIN_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    events = EventWriter(sys.stdout)
    sys.stdout = sys.stderr  # anything printed by libraries must not reach the event stream
    if len(argv) != 1:
        events.send("error", message="usage: python -m finch_lsp.learning.train_worker JOB_JSON_PATH")
        return 2
    lower_priority()
    try:
        run(argv[0], events)
    except Exception as exc:  # noqa: BLE001 - every failure is reported as one error event
        log.exception("training failed")
        events.send("error", message=f"training failed: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
