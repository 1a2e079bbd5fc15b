"""TrainerProcess: the server's handle on one spawned training process.

The child (``python -m finch_lsp.learning.training.worker``) is started with exec, never
forked from the server, so a crash or a kill cannot take completions down. Its stdout is
a stream of JSON events read on a thread. A file lock in the data dir makes training
exclusive across server instances sharing that dir.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)


class TrainingState(str, enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    FAILED = "failed"


EventHandler = Callable[[dict], None]
ExitHandler = Callable[[dict | None, str | None], None]


class TrainerProcess:
    """Starts, watches and stops the training child; one at a time per data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = FileLock(str(self.data_dir / "training.lock"))
        self.state = TrainingState.IDLE
        self.progress: dict | None = None
        self.last_error: str | None = None
        self.started_at: float | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.state is TrainingState.RUNNING

    def start(self, job_json: bytes, on_event: EventHandler, on_exit: ExitHandler, threads: int | None = None) -> str | None:
        """Spawn the trainer for ``job_json``; returns why not, or None when it started."""
        if self.running:
            return "training is already running"
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return "another finch-lsp instance is training with this data dir; try again when it has finished"
        job_path = self.jobs_dir / f"job-{int(time.time() * 1000)}.json"
        fd = os.open(job_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(job_json)
        env = dict(os.environ)
        if threads is not None:
            env["FINCH_TRAIN_THREADS"] = str(threads)
        stderr = open(self.data_dir / "trainer.log", "ab")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "finch_lsp.learning.training.worker", str(job_path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env,
            )
        except OSError as exc:
            self._lock.release()
            return f"could not start the trainer: {exc}"
        finally:
            stderr.close()
        self.state, self.progress, self.last_error, self.started_at = TrainingState.RUNNING, None, None, time.time()
        threading.Thread(target=self._watch, args=(self._proc, job_path, on_event, on_exit), name="finch-trainer", daemon=True).start()
        return None

    def _watch(self, proc: subprocess.Popen, job_path: Path, on_event: EventHandler, on_exit: ExitHandler) -> None:
        result, error = None, None
        try:
            for raw in proc.stdout:
                event = _parse(raw)
                if event is None:
                    continue
                if event.get("event") == "progress":
                    self.progress = {k: v for k, v in event.items() if k != "event"}
                    on_event(self.progress)
                elif event.get("event") == "done":
                    result = event.get("result")
                elif event.get("event") == "error":
                    error = str(event.get("message"))
            code = proc.wait()
            if result is None and error is None:
                error = f"the trainer exited with code {code} without a result (see {self.data_dir / 'trainer.log'})"
        finally:
            self._lock.release()
            job_path.unlink(missing_ok=True)
        try:
            on_exit(result, error)  # publish and judge first: "idle" means the adapter is listed
        finally:
            self.state = TrainingState.IDLE if error is None else TrainingState.FAILED
            self.last_error = error

    def kill(self) -> None:
        """Stop a running trainer (server exit)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None


def _parse(raw: bytes) -> dict | None:
    try:
        event = json.loads(raw)
    except ValueError:
        log.warning("trainer wrote a line that is not an event: %.200r", raw)
        return None
    return event if isinstance(event, dict) else None
