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

from finch_lsp.cpu import usable_cores
from finch_lsp.paths import check_inside, open_private, private_subdir

log = logging.getLogger(__name__)


class TrainingState(str, enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    FAILED = "failed"


PARENT_ENV = "FINCH_PARENT_PID"
THREADS_ENV = "FINCH_TRAIN_THREADS"
PR_SET_PDEATHSIG = 1

WORKER_MODULE = "finch_lsp.learning.training.worker"
WAIT_ARG = "--wait"
"""``worker --wait MODEL DEVICE``: load the model, then read the job's path from stdin."""

PREPARED_S = 900.0
"""Seconds a prepared trainer waits for its job before it is stopped (its memory back)."""

ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
"""glibc's malloc for the trainer: keep freed blocks of any size for reuse instead of handing
each back to the kernel. A training step allocates and frees its logits and gradients (tens
of MB each) dozens of times, and by default every such block is a fresh mapping that the
kernel zeroes page by page: 4.6 million page faults in one training, a third of its steps'
time (docs/benchmarks.md). The trainer's memory goes back when it exits. Other C libraries
ignore these; values already in the environment are kept."""

T = TypeVar("T")
EventHandler = Callable[[dict], None]
ExitHandler = Callable[[dict | None, str | None], None]


def configured_threads() -> int | None:
    """``$FINCH_TRAIN_THREADS`` when it is a positive count: the trainer then keeps exactly that."""
    configured = os.environ.get(THREADS_ENV, "").strip()
    return int(configured) if configured.isdigit() and int(configured) > 0 else None


def train_threads() -> int:
    """Threads for training while anything else uses the CPU: ``$FINCH_TRAIN_THREADS``, else one
    less than the machine's cores (``idle_train_threads`` while nothing does: ``training.pacing``)."""
    return configured_threads() or max(1, usable_cores() - 1)


def idle_train_threads() -> int:
    """Threads for training while nothing else on the machine uses the CPU: every core (or the configured count)."""
    return configured_threads() or usable_cores()


def serving_threads() -> int:
    """Threads for completions on the CPU while the trainer runs: the cores it leaves free.

    Two torch threads sharing a core with the trainer wait for it at every parallel region
    (each op of each layer): on 2 cores a completion took 2.4x its idle time that way, and
    1.6x on the one free core (docs/benchmarks.md).
    """
    return max(1, usable_cores() - train_threads())


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
        self._prepared: subprocess.Popen | None = None  # loaded, waiting for a job (``prepare``)
        self._prepared_lock = threading.Lock()

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

    def start(self, job_json: bytes, on_event: EventHandler, on_exit: ExitHandler) -> str | None:
        """Run the trainer for ``job_json`` (the waiting one ``prepare`` started, else a new one);
        returns why not, or None when it started."""
        if self.running:
            return "training is already running"
        if self.problem is not None:
            return self.problem
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return "another finch-lsp instance is training with this data dir; try again when it has finished"
        job_path = self.jobs_dir / f"job-{int(time.time() * 1000)}.json"
        try:
            with os.fdopen(open_private(self.data_dir, job_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as f:
                f.write(job_json)
            proc = self._hand_over(job_path) or self._spawn([str(job_path)], subprocess.DEVNULL)
        except OSError as exc:
            self._lock.release()
            job_path.unlink(missing_ok=True)
            return f"could not start the trainer: {exc}"
        self._proc = proc
        self.state, self.progress, self.last_error, self.started_at = TrainingState.RUNNING, None, None, time.time()
        threading.Thread(target=self._watch, args=(proc, job_path, on_event, on_exit), name="finch-trainer", daemon=True).start()
        return None

    def prepare(self, base_model: str, device: str) -> None:
        """Start a trainer that imports torch, loads ``base_model`` and waits for its job, when
        training is about to start (one rating short of the threshold): ``start`` then hands it
        the job instead of spending those seconds. It is stopped after ``PREPARED_S`` unused,
        and it loads again if the job names another model. Never raises."""
        with self._prepared_lock:
            if self.running or self.problem is not None or (self._prepared is not None and self._prepared.poll() is None):
                return
            try:
                proc = self._spawn([WAIT_ARG, base_model, device], subprocess.PIPE)
            except OSError as exc:
                log.info("could not prepare a trainer: %s", exc)
                return
            self._prepared = proc
        timer = threading.Timer(PREPARED_S, self._drop_prepared, args=(proc,))
        timer.daemon = True
        timer.start()

    def _hand_over(self, job_path: Path) -> subprocess.Popen | None:
        """The prepared trainer, given ``job_path`` on its stdin; None when there is none alive."""
        with self._prepared_lock:
            proc, self._prepared = self._prepared, None
        if proc is None:
            return None
        try:
            if proc.poll() is not None:
                raise OSError("it has exited")
            proc.stdin.write(f"{job_path}\n".encode())
            proc.stdin.close()
        except OSError as exc:
            log.info("the prepared trainer could not take the job (%s): starting another", exc)
            _stop(proc)
            return None
        return proc

    def _drop_prepared(self, proc: subprocess.Popen) -> None:
        with self._prepared_lock:
            if self._prepared is not proc:
                return  # handed a job, or replaced
            self._prepared = None
        _stop(proc)

    def _spawn(self, args: list[str], stdin) -> subprocess.Popen:
        """``python -m ...worker ARGS``, its stderr appended to trainer.log; raises OSError."""
        env = {**ALLOCATOR_ENV, **os.environ, PARENT_ENV: str(os.getpid())}
        stderr = os.fdopen(open_private(self.data_dir, self.data_dir / "trainer.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab")
        try:
            return subprocess.Popen([sys.executable, "-m", WORKER_MODULE, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=stderr, env=env)
        finally:
            stderr.close()

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
        """Stop a running trainer and a prepared one (server exit)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        with self._prepared_lock:
            prepared, self._prepared = self._prepared, None
        if prepared is not None:
            _stop(prepared)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None


def _stop(proc: subprocess.Popen) -> None:
    """Kill a trainer that has no job (or could not take one) and reap it."""
    try:
        proc.kill()
        proc.wait()
    except OSError:
        pass
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


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
