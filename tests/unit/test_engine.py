"""The inference engine runs its tasks with the torch threads it was asked for, or that the machine's load allows."""

import threading
import time

from finch_lsp import cpu
from finch_lsp.completion.engine import InferenceEngine, serving_pacer


def test_limit_threads_applies_on_the_worker_and_goes_back_to_the_default():
    import torch

    engine = InferenceEngine(pacer=lambda threads: None)  # torch's default between limits
    try:
        engine.load(lambda: object()).result(timeout=60)
        threads = lambda: engine.run(lambda _: torch.get_num_threads(), changes_weights=False).result(timeout=60)  # noqa: E731
        default = threads()
        assert engine.threads == default
        for wanted in (1, default + 1):
            engine.limit_threads(wanted)
            assert threads() == wanted == engine.threads
        engine.limit_threads(None)
        assert threads() == default == engine.threads
    finally:
        engine.close(wait_s=10)


def test_a_cgroup_quota_under_torch_default_threads_caps_them(monkeypatch):
    import torch

    monkeypatch.setattr("finch_lsp.completion.engine.usable_cores", lambda: 1)  # as under `docker --cpus 1`
    before = torch.get_num_threads()
    engine = InferenceEngine(pacer=lambda threads: None)
    try:
        engine.load(lambda: object()).result(timeout=60)
        assert engine.run(lambda _: torch.get_num_threads(), changes_weights=False).result(timeout=60) == 1 == engine.threads
    finally:
        engine.close(wait_s=10)
    assert torch.get_num_threads() == before  # the worker's own threads; this thread's are untouched


class Load:
    """The machine's busy seconds and a clock, advanced by the test (the engine's own CPU: none)."""

    def __init__(self) -> None:
        self.now, self.busy = 100.0, 5000.0
        self.lock = threading.Lock()

    def run(self, seconds: float, other_cores: float) -> None:
        with self.lock:
            self.now += seconds
            self.busy += other_cores * seconds

    def pacer(self, default: int) -> cpu.Pacer:
        return cpu.Pacer(default - 1, default, machine=lambda: self.busy, own=lambda: 0.0, clock=lambda: self.now, others_busy=0.5)


def test_completions_drop_a_thread_while_the_rest_of_the_machine_is_busy_and_take_it_back_after():
    import torch

    load = Load()
    default = max(2, torch.get_num_threads())
    engine = InferenceEngine(pacer=lambda threads: load.pacer(default))
    try:
        engine.load(lambda: object()).result(timeout=60)
        threads = lambda: engine.run(lambda _: torch.get_num_threads(), changes_weights=False).result(timeout=60)  # noqa: E731
        assert threads() == default - 1  # nothing measured yet: as if busy
        load.run(cpu.QUIET_S + 1, other_cores=0.3)  # an editor redrawing: under half a core
        assert threads() == default
        load.run(1.0, other_cores=1.0)  # a build beside the server
        assert threads() == default - 1
        engine.limit_threads(default + 1)  # an explicit limit (training) wins over the load
        load.run(cpu.QUIET_S + 1, other_cores=0.0)
        assert threads() == default + 1
        engine.limit_threads(None)
        assert threads() == default
        load.run(1.0, other_cores=2.0)
        deadline = time.monotonic() + 60
        while engine.threads != default - 1:  # read while idle: no task needed to see the build
            assert time.monotonic() < deadline, "the idle worker never read the load"
            time.sleep(0.05)
        assert threads() == default - 1
    finally:
        engine.close(wait_s=10)


def test_the_serving_pacer_keeps_one_thread_fewer_and_none_on_one_core():
    assert serving_pacer(1) is None
    pacer = serving_pacer(4)
    assert (pacer.busy_threads, pacer.idle_threads, pacer.others_busy) == (3, 4, 0.5)


def test_background_work_yields_to_any_task_submitted_after_it():
    engine = InferenceEngine(pacer=lambda threads: None)
    try:
        engine.load(lambda: object()).result(timeout=60)
        started, release = threading.Event(), threading.Event()
        running_cancel, queued_cancel = threading.Event(), threading.Event()

        def long_background() -> str:
            started.set()
            assert running_cancel.wait(timeout=60), "the running background task was never cancelled"
            return "cancelled in time"

        running = engine.submit(long_background, key="a.py", cancel=running_cancel, background=True)
        assert started.wait(timeout=60)
        queued = engine.submit(lambda: "should not run", key="b.py", cancel=queued_cancel, background=True)
        foreground = engine.submit(lambda: "asked for", key="c.py", cancel=threading.Event())
        assert queued.result(timeout=60) is None  # dropped from the queue
        assert running.result(timeout=60) == "cancelled in time"  # its cancel event was set
        assert foreground.result(timeout=60) == "asked for"
        blocker = engine.submit(lambda: release.wait(timeout=60), key="d.py")  # foreground work does not yield to foreground work
        other = engine.submit(lambda: "after it", key="e.py")
        release.set()
        assert blocker.result(timeout=60) is True and other.result(timeout=60) == "after it"
    finally:
        engine.close(wait_s=10)
