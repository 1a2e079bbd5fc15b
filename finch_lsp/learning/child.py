"""TrainerProcess: the server's handle on one spawned training process.

The child (``python -m finch_lsp.learning.training.worker``) is started with exec, never
forked from the server, so a crash or a kill cannot take completions down. Its stdout is
a stream of JSON events read on a thread. A file lock in the data dir makes training
exclusive across server instances sharing that dir.

The child dies with its server, however the server ended: on Linux the worker asks the
kernel for SIGKILL when its parent goes (``die_with_parent``, PR_SET_PDEATHSIG), and the
server kills it on a normal close. The job file, the lock and trainer.log are private
(0600) and never opened through a link.
"""

from __future__ import annotations

import ctypes
import enum
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

from filelock import FileLock, Timeout

from finch_lsp.paths import check_inside, open_private, private_subdir

log = logging.getLogger(__name__)


class TrainingState(str, enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    FAILED = "failed"


PARENT_ENV = "FINCH_PARENT_PID"
THREADS_ENV = "FINCH_TRAIN_THREADS"
PR_SET_PDEATHSIG = 1

T = TypeVar("T")
EventHandler = Callable[[dict], None]
ExitHandler = Callable[[dict | None, str | None], None]


def train_threads() -> int:
    """Threads for training: ``$FINCH_TRAIN_THREADS``, else one less than the machine's cores."""
    configured = os.environ.get(THREADS_ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, (os.cpu_count() or 2) - 1)


def serving_threads() -> int:
    """Threads for completions on the CPU while the trainer runs: the cores it leaves free.

    Two torch threads sharing a core with the trainer wait for it at every parallel region
    (each op of each layer): on 2 cores a completion took 2.4x its idle time that way, and
    1.6x on the one free core (docs/benchmarks.md).
    """
    return max(1, (os.cpu_count() or 2) - train_threads())


class TrainerProcess:
    """Starts, watches and stops the training child; one at a time per data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        lock_path = self.data_dir / "training.lock"
        self._lock = FileLock(str(lock_path), mode=0o600)  # touches the disk only when taken
        self.problem: str | None = None  # why training cannot run here (a link out of the data dir)
        try:
            private_subdir(self.data_dir, "jobs")
            check_inside(self.data_dir, lock_path)
        except OSError as exc:
            self.problem = f"training is off: {exc}"
        self.state = TrainingState.IDLE
        self.progress: dict | None = None
        self.last_error: str | None = None
        self.started_at: float | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.state is TrainingState.RUNNING

    def while_no_trainer_runs(self, fn: Callable[[], T]) -> T | None:
        """``fn()`` while holding the training lock (no instance trains); None when one does."""
        if self.problem is not None:
            return None
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return None
        try:
            return fn()
        finally:
            self._lock.release()

    def start(self, job_json: bytes, on_event: EventHandler, on_exit: ExitHandler, threads: int | None = None) -> str | None:
        """Spawn the trainer for ``job_json``; returns why not, or None when it started."""
        if self.running:
            return "training is already running"
        if self.problem is not None:
            return self.problem
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return "another finch-lsp instance is training with this data dir; try again when it has finished"
        job_path = self.jobs_dir / f"job-{int(time.time() * 1000)}.json"
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        if threads is not None:
            env[THREADS_ENV] = str(threads)
        try:
            with os.fdopen(open_private(self.data_dir, job_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as f:
                f.write(job_json)
            stderr = os.fdopen(open_private(self.data_dir, self.data_dir / "trainer.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
        except OSError as exc:
            self._lock.release()
            return f"could not start the trainer: {exc}"
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


def die_with_parent() -> None:
    """In the trainer child, first thing: be killed when the server that spawned it goes.

    PR_SET_PDEATHSIG fires when the spawning thread ends; the server spawns from its
    long-lived learning thread, and kills the child itself on a normal close. If the server
    died before the call took effect, the parent is already someone else: exit at once.
    """
    expected = os.environ.get(PARENT_ENV)
    if not sys.platform.startswith("linux") or not expected:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        log.warning("the trainer cannot ask to die with its server: %s", exc)
    if str(os.getppid()) != expected:
        os._exit(3)  # the server is already gone


def _parse(raw: bytes) -> dict | None:
    try:
        event = json.loads(raw)
    except ValueError:
        log.warning("trainer wrote a line that is not an event: %.200r", raw)
        return None
    return event if isinstance(event, dict) else None
