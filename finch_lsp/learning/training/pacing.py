"""The trainer's torch threads follow the server: every core while it runs no model task.

The server writes ``child.BUSY`` on the trainer's stdin when a model task (a completion, a
code action) starts and ``child.IDLE`` when it ends (``TrainerProcess.serving``). A reader
thread keeps that state; the training loop and the gate call ``pace()`` between steps,
chunks, prompts and decoding steps, on the thread that runs torch (torch's thread count
belongs to it). While a task runs, and for ``QUIET_S`` after the last one ends (a user
typing asks again within that), the trainer keeps to ``child.train_threads()`` and leaves the
server its core; otherwise it takes ``child.idle_train_threads()``. A task that starts inside a
step shares the machine until that step's end.

Without a pacer installed (``install``: the trainer process does it) ``pace()`` does nothing:
the benches and tests that call ``train_adapter`` in their own process keep their threads.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

from finch_lsp.learning.child import BUSY, IDLE

QUIET_S = 2.0
"""Seconds after the server's last model task during which the trainer still leaves it a core."""


class Pacer:
    """The thread count the trainer should use now, from the server's BUSY / IDLE bytes."""

    def __init__(self, busy_threads: int, idle_threads: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.busy_threads, self.idle_threads = busy_threads, idle_threads
        self.clock = clock
        self.serving = False
        self.last_served = float("-inf")
        self.threads: int | None = None
        """What ``pace`` last set (None: not yet)."""

    def feed(self, data: bytes) -> None:
        """Take what the server wrote (any other byte is ignored)."""
        for byte in data:
            if byte == BUSY[0]:
                self.serving = True
            elif byte == IDLE[0]:
                self.serving, self.last_served = False, self.clock()

    def wanted(self) -> int:
        if self.serving or self.clock() - self.last_served < QUIET_S:
            return self.busy_threads
        return self.idle_threads

    def pace(self) -> None:
        """Set torch's threads to ``wanted()`` when they differ (on the thread that runs torch)."""
        wanted = self.wanted()
        if wanted != self.threads:
            import torch

            torch.set_num_threads(wanted)
            self.threads = wanted

    def read(self, fd: int) -> None:
        """Feed from the file descriptor ``fd`` until it ends (the server closed it or went away).

        A raw ``os.read``: a daemon thread blocked in a buffered reader holds its lock, and the
        interpreter aborts at exit when it cannot take it."""
        while True:
            try:
                data = os.read(fd, 64)
            except OSError:
                return
            if not data:
                return
            self.feed(data)


_installed: Pacer | None = None


def install(pacer: Pacer, fd: int | None) -> None:
    """Make ``pace()`` follow ``pacer``, fed from the descriptor ``fd`` on a daemon thread (None: not fed)."""
    global _installed
    _installed = pacer
    if fd is not None:
        threading.Thread(target=pacer.read, args=(fd,), name="finch-pacer", daemon=True).start()
    pacer.pace()


def pace() -> None:
    """Between two pieces of training work: the threads the server's load allows now."""
    if _installed is not None:
        _installed.pace()


def threads() -> int | None:
    """The torch threads the trainer trains with now (None without a pacer)."""
    return _installed.threads if _installed is not None else None


def processor():
    """A logits processor that paces at every decoding step and changes nothing."""
    from transformers import LogitsProcessor

    class Pace(LogitsProcessor):
        def __call__(self, input_ids, scores):
            pace()
            return scores

    return Pace()
