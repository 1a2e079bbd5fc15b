"""Thread counts from the machine's load (``cpu.Pacer``, used by ``training.pacing`` and the engine), on a fake clock and fake counters."""

from __future__ import annotations

import os

import pytest

from finch_lsp import cpu
from finch_lsp.cpu import Pacer


class Machine:
    """Busy seconds of all cores and of the trainer itself, advanced by hand."""

    def __init__(self) -> None:
        self.now, self.busy, self.own = 100.0, 5000.0, 10.0
        self.readable = True

    def run(self, seconds: float, own_cores: float, other_cores: float) -> None:
        self.now += seconds
        self.own += own_cores * seconds
        self.busy += (own_cores + other_cores) * seconds

    def pacer(self) -> Pacer:
        return Pacer(1, 2, machine=lambda: self.busy if self.readable else None, own=lambda: self.own, clock=lambda: self.now)


def test_every_core_once_the_rest_of_the_machine_has_stayed_quiet():
    m = Machine()
    p = m.pacer()
    assert p.wanted() == 1  # nothing measured yet
    m.run(1.0, own_cores=1.0, other_cores=0.0)
    assert p.wanted() == 1 and p.others == pytest.approx(0.0)  # quiet, but not for QUIET_S yet
    m.run(cpu.QUIET_S, own_cores=1.0, other_cores=0.05)
    assert p.wanted() == 2 and p.others == pytest.approx(0.05)


def test_a_core_is_left_while_anything_else_runs_and_for_quiet_s_after():
    m = Machine()
    p = m.pacer()
    m.run(cpu.QUIET_S + 1, own_cores=1.0, other_cores=0.0)
    assert p.wanted() == 2
    m.run(1.0, own_cores=1.1, other_cores=0.9)  # a completion (or a build) took a core from the trainer's two threads
    assert p.wanted() == 1 and p.others == pytest.approx(0.9)
    m.run(1.0, own_cores=1.0, other_cores=0.0)
    assert p.wanted() == 1  # quiet for 1 s only
    m.run(cpu.QUIET_S, own_cores=1.0, other_cores=0.0)
    assert p.wanted() == 2


def test_a_reading_waits_for_a_window_long_enough_to_count():
    m = Machine()
    p = m.pacer()
    m.run(cpu.QUIET_S + 1, own_cores=1.0, other_cores=0.0)
    assert p.wanted() == 2
    m.run(cpu.MIN_WINDOW_S / 2, own_cores=0.0, other_cores=2.0)
    assert p.wanted() == 2 and p.others == pytest.approx(0.0)  # too short to judge: the last reading holds
    m.run(cpu.MIN_WINDOW_S / 2, own_cores=0.0, other_cores=2.0)
    assert p.wanted() == 1 and p.others == pytest.approx(2.0)


def test_a_steady_other_process_keeps_the_trainer_to_its_share():
    m = Machine()
    p = m.pacer()
    for _ in range(20):
        m.run(1.0, own_cores=1.0, other_cores=1.0)  # a CPU hog beside the trainer
        assert p.wanted() == 1


def test_without_readable_counters_the_trainer_keeps_a_core_free():
    m = Machine()
    m.readable = False
    assert m.pacer().wanted() == 1
    m.readable = True
    p = m.pacer()
    m.readable = False
    m.run(cpu.QUIET_S + 1, own_cores=1.0, other_cores=0.0)
    assert p.wanted() == 1
    m.readable = True
    m.run(cpu.QUIET_S + 1, own_cores=1.0, other_cores=0.0)
    assert p.wanted() == 1  # it stops reading once the counters failed


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cpu  100 20 30 1000 50 5 5 40 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n", 2.0),  # user nice system irq softirq steal; idle and iowait left out
        ("cpu  100 0 0 900\n", 1.0),  # an old kernel's four fields
        ("cpu0 100 0 0 900\n", None),
        ("cpu  x y z w\n", None),
        ("", None),
    ],
)
def test_machine_busy_seconds_reads_the_first_line_of_proc_stat(tmp_path, text, expected):
    path = tmp_path / "stat"
    path.write_text(text)
    assert cpu.machine_busy_seconds(str(path)) == expected


def test_machine_busy_seconds_is_none_without_the_file(tmp_path):
    assert cpu.machine_busy_seconds(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("cores, configured, expected", [
    ({0, 1}, "", (1, 2, 1)),
    ({0, 1, 2, 3}, "", (3, 4, 1)),
    ({5}, "", (1, 1, 1)),
    ({0, 1, 2, 3}, "2", (2, 2, 2)),
    ({0, 1}, "junk", (1, 2, 1)),
])
def test_thread_counts_follow_the_cores_this_process_may_use(monkeypatch, cores, configured, expected):
    """(training while others run, training on a quiet machine, completions while training): a
    container or ``taskset`` limit counts, not the machine's cores; ``$FINCH_TRAIN_THREADS`` fixes the trainer's."""
    from finch_lsp.learning import child

    monkeypatch.setattr(child.os, "sched_getaffinity", lambda pid: cores, raising=False)
    monkeypatch.setattr(child.os, "cpu_count", lambda: 64)
    monkeypatch.setenv(child.THREADS_ENV, configured)
    assert (child.train_threads(), child.idle_train_threads(), child.serving_threads()) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("200000 100000\n", 2.0),  # docker --cpus 2
        ("150000 100000", 1.5),
        ("max 100000\n", None),  # no limit
        ("0 100000", None),
        ("200000", None),
        ("lots 100000", None),
        ("", None),
    ],
)
def test_cpu_max_cores_reads_a_cgroup_v2_quota(text, expected):
    assert cpu.cpu_max_cores(text) == expected


@pytest.mark.parametrize(
    "quota, period, expected",
    [("300000\n", "100000\n", 3.0), ("-1\n", "100000\n", None), ("50000", "100000", 0.5), ("", "", None)],
)
def test_cfs_quota_cores_reads_a_cgroup_v1_quota(quota, period, expected):
    assert cpu.cfs_quota_cores(quota, period) == expected


def _cgroups(tmp_path, self_cgroup: str, files: dict[str, str]) -> tuple[str, str]:
    root = tmp_path / "cgroup"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    root.mkdir(exist_ok=True)
    proc = tmp_path / "self-cgroup"
    proc.write_text(self_cgroup)
    return str(root), str(proc)


def test_the_tightest_quota_on_the_process_cgroup_or_above_it_counts(tmp_path):
    root, proc = _cgroups(tmp_path, "0::/machine/app\n", {
        "cpu.max": "max 100000\n", "machine/cpu.max": "250000 100000\n", "machine/app/cpu.max": "max 100000\n",
    })
    assert cpu.cgroup_cpu_limit(root, proc) == 2.5
    assert cpu.usable_cores(root, proc) == min(3, len(os.sched_getaffinity(0)))


def test_a_cgroup_v1_cfs_quota_counts_and_no_quota_leaves_the_affinity(tmp_path):
    root, proc = _cgroups(tmp_path, "4:memory:/x\n3:cpu,cpuacct:/job\n0::/\n", {
        "cpu,cpuacct/job/cpu.cfs_quota_us": "100000\n", "cpu,cpuacct/job/cpu.cfs_period_us": "100000\n",
    })
    assert cpu.cgroup_cpu_limit(root, proc) == 1.0
    assert cpu.usable_cores(root, proc) == 1
    unlimited_root, unlimited = _cgroups(tmp_path / "other", "0::/\n", {"cpu.max": "max 100000\n"})
    assert cpu.cgroup_cpu_limit(unlimited_root, unlimited) is None
    assert cpu.usable_cores(unlimited_root, unlimited) == len(os.sched_getaffinity(0))


def test_unreadable_cgroup_files_mean_no_limit(tmp_path):
    assert cpu.cgroup_cpu_limit(str(tmp_path), str(tmp_path / "missing")) is None
    root, proc = _cgroups(tmp_path, "garbage without colons\n0::/../../etc\n", {"cpu.max": "not a quota"})
    assert cpu.cgroup_cpu_limit(root, proc) is None
