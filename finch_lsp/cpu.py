"""The machine's cores and how busy the rest of it keeps them.

Torch's CPU threads wait for each other at every parallel region (each op of each layer), so a
model run with one thread per core beside any other busy process waits for the thread that
shares its core: a 24-token completion on smollm2-135m took 0.8 s on two idle cores, 18 s on
two threads beside one CPU hog and 1.3 s on one thread beside it (docs/benchmarks.md). A
``Pacer`` tells a model's owner how many threads to run with now: every core while the others
stay quiet, one fewer while they do not. The trainer paces its steps with one
(``learning.training.pacing``), the server its completions (``completion.engine``).
"""

from __future__ import annotations

import os
import time
from typing import Callable

OTHERS_BUSY_CORES = 0.2
"""Cores' worth of CPU that other processes may use while the trainer still takes every core."""

QUIET_S = 2.0
"""Seconds the others must have stayed under the threshold before every core is taken again."""

MIN_WINDOW_S = 0.5
"""The shortest time between two readings (``/proc/stat`` counts in hundredths of a second)."""

PROC_STAT = "/proc/stat"


def usable_cores() -> int:
    """The cores this process may run on (its affinity: ``taskset``, a container's cpuset), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 2


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
    """The thread count a model's owner should use now, from what the rest of the machine uses.

    Each reading (at most every ``MIN_WINDOW_S``) takes the busy time of all cores less this
    process's own over the window since the last one. While that is above ``others_busy`` cores,
    and for ``QUIET_S`` after it last was, ``busy_threads``; otherwise ``idle_threads``. Without
    ``/proc/stat`` (not Linux) always ``busy_threads``.
    """

    def __init__(
        self,
        busy_threads: int,
        idle_threads: int,
        machine: Callable[[], float | None] = machine_busy_seconds,
        own: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
        others_busy: float = OTHERS_BUSY_CORES,
    ) -> None:
        self.busy_threads, self.idle_threads = busy_threads, idle_threads
        self.machine, self.own, self.clock = machine, own, clock
        self.others_busy = others_busy
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
            if self.others > self.others_busy:
                self._last_busy = now
        return self.idle_threads if now - self._last_busy >= QUIET_S else self.busy_threads

    def pace(self) -> None:
        """Set torch's threads to ``wanted()`` when they differ (on the thread that runs torch)."""
        wanted = self.wanted()
        if wanted != self.threads:
            import torch

            torch.set_num_threads(wanted)
            self.threads = wanted
