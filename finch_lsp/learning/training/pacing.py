"""The trainer's torch threads follow the machine: every core while nothing else uses one.

The training loop and the gate call ``pace()`` between steps, chunks, prompts and decoding
steps, on the thread that runs torch (torch's thread count belongs to it). It reads how much
CPU the rest of the machine used since the last reading: the busy time of all cores in
``/proc/stat`` (steal included: a host taking its cores back) less this process's own. While
that is above ``OTHERS_BUSY_CORES``, and for ``QUIET_S`` after it last was (a user typing asks
again within that), the trainer keeps to ``child.train_threads()`` and leaves a core to the
server's completions, a build, anything; otherwise it takes ``child.idle_train_threads()``.

Why the machine and not only the server: torch's threads wait for each other at every
parallel region, so a trainer with every core beside one busy process ran 28x slower (its
thread on the shared core gets a niced share; docs/benchmarks.md). Work that starts inside a
step shares the machine until that step's end.

Without ``/proc/stat`` (not Linux) the trainer keeps ``train_threads()``. Without a pacer
installed (``install``: the trainer process does it) ``pace()`` does nothing: the benches and
tests that call ``train_adapter`` in their own process keep their threads.
"""

from __future__ import annotations

import time
from typing import Callable

OTHERS_BUSY_CORES = 0.2
"""Cores' worth of CPU that other processes may use while the trainer still takes every core."""

QUIET_S = 2.0
"""Seconds the others must have stayed under ``OTHERS_BUSY_CORES`` before the trainer takes every core."""

MIN_WINDOW_S = 0.5
"""The shortest time between two readings (``/proc/stat`` counts in hundredths of a second)."""

PROC_STAT = "/proc/stat"


def machine_busy_seconds(path: str = PROC_STAT) -> float | None:
    """CPU seconds all cores have been busy since boot (user, nice, system, irq, softirq, steal),
    or None where the file is missing or unreadable."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.readline().split()
    except (OSError, ValueError):
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        return None
    try:
        ticks = [int(v) for v in fields[1:9]]
    except ValueError:
        return None
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # less idle and iowait
    return busy / 100.0  # USER_HZ: 100 on every Linux


class Pacer:
    """The thread count the trainer should use now, from what the rest of the machine uses."""

    def __init__(
        self,
        busy_threads: int,
        idle_threads: int,
        machine: Callable[[], float | None] = machine_busy_seconds,
        own: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.busy_threads, self.idle_threads = busy_threads, idle_threads
        self.machine, self.own, self.clock = machine, own, clock
        self.threads: int | None = None
        """What ``pace`` last set (None: not yet)."""
        self.others: float | None = None
        """Cores the rest of the machine used over the last window (None: not measured yet)."""
        self._reading = self._read()
        self._last_busy = self.clock()  # nothing known yet: as if just busy

    def _read(self) -> tuple[float, float, float] | None:
        machine = self.machine()
        return None if machine is None else (self.clock(), machine, self.own())

    def wanted(self) -> int:
        """``idle_threads`` once the others have stayed quiet for ``QUIET_S``, else ``busy_threads``."""
        if self._reading is None:
            return self.busy_threads
        now = self.clock()
        then, machine_then, own_then = self._reading
        if now - then >= MIN_WINDOW_S:
            reading = self._read()
            if reading is None:
                self._reading = None
                return self.busy_threads
            _, machine_now, own_now = reading
            self.others = max(0.0, (machine_now - machine_then) - (own_now - own_then)) / (now - then)
            self._reading = reading
            if self.others > OTHERS_BUSY_CORES:
                self._last_busy = now
        return self.idle_threads if now - self._last_busy >= QUIET_S else self.busy_threads

    def pace(self) -> None:
        """Set torch's threads to ``wanted()`` when they differ (on the thread that runs torch)."""
        wanted = self.wanted()
        if wanted != self.threads:
            import torch

            torch.set_num_threads(wanted)
            self.threads = wanted


_installed: Pacer | None = None


def install(pacer: Pacer) -> None:
    """Make ``pace()`` follow ``pacer`` (and set its threads now)."""
    global _installed
    _installed = pacer
    pacer.pace()


def pace() -> None:
    """Between two pieces of training work: the threads the machine's load allows now."""
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
