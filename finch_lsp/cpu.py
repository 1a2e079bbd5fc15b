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

import math
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

CGROUP_ROOT = "/sys/fs/cgroup"
SELF_CGROUP = "/proc/self/cgroup"


def usable_cores(cgroup_root: str = CGROUP_ROOT, self_cgroup: str = SELF_CGROUP) -> int:
    """The cores this process may run on, not the machine's: its affinity (``taskset``, a
    container's cpuset), lowered to its cgroup's CPU quota rounded up (``docker --cpus 2`` on a
    16-core host: 2), so torch does not start a thread per host core that the quota then stalls."""
    try:
        cores = len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 2
    limit = cgroup_cpu_limit(cgroup_root, self_cgroup)
    return max(1, min(cores, math.ceil(limit))) if limit is not None else cores


def cpu_max_cores(text: str) -> float | None:
    """Cores' worth of CPU that a cgroup v2 ``cpu.max`` allows (``"200000 100000"``: 2.0), or
    None for no limit (``"max 100000"``) and for text that is not one."""
    fields = text.split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def cfs_quota_cores(quota_us: str, period_us: str) -> float | None:
    """Cores' worth of CPU that cgroup v1's ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``
    allows, or None for no limit (a quota of -1) and for text that is not one."""
    return _ratio(quota_us.strip(), period_us.strip())


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_cpu_limit(cgroup_root: str = CGROUP_ROOT, self_cgroup: str = SELF_CGROUP) -> float | None:
    """The tightest CPU quota on this process's cgroup and its ancestors, in cores (v2's
    ``cpu.max``, else v1's CFS quota), or None where there is none or nothing can be read.
    Inside a container the paths of ``/proc/self/cgroup`` start at the container's own root."""
    try:
        with open(self_cgroup, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, ValueError):
        return None
    limits = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":  # v2: "0::/path"
            limits += _along(cgroup_root, path, lambda d: cpu_max_cores(_read(os.path.join(d, "cpu.max"))))
        elif "cpu" in controllers.split(","):  # v1: "N:cpu,cpuacct:/path"
            base = os.path.join(cgroup_root, controllers)
            if not os.path.isdir(base):
                base = os.path.join(cgroup_root, "cpu")
            limits += _along(base, path, lambda d: cfs_quota_cores(_read(os.path.join(d, "cpu.cfs_quota_us")), _read(os.path.join(d, "cpu.cfs_period_us"))))
    return min(limits) if limits else None


def _along(base: str, path: str, limit_in: Callable[[str], float | None]) -> list[float]:
    """The limits found in the cgroup directory of ``path`` under ``base`` and in each above it."""
    parts = [p for p in path.strip().split("/") if p and p != ".."]
    found = []
    for depth in range(len(parts), -1, -1):
        limit = limit_in(os.path.join(base, *parts[:depth]))
        if limit is not None:
            found.append(limit)
    return found


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read(256)
    except (OSError, ValueError):
        return ""


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
