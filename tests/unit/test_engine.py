"""The inference engine runs its tasks with the torch threads it was asked for."""

import pytest

from finch_lsp.completion.engine import InferenceEngine


def test_limit_threads_applies_on_the_worker_and_goes_back_to_the_default():
    import torch

    engine = InferenceEngine()
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


def test_while_threads_are_limited_each_task_is_announced_before_it_runs_and_after():
    engine = InferenceEngine()
    seen = []
    try:
        engine.load(lambda: object()).result(timeout=60)
        engine.limit_threads(1, seen.append)
        engine.run(lambda _: seen.append("task"), changes_weights=False).result(timeout=60)
        with pytest.raises(ValueError):
            engine.run(lambda _: (_ for _ in ()).throw(ValueError("boom")), changes_weights=False).result(timeout=60)
        engine.limit_threads(None, seen.append)  # the limit lifted: no more announcements
        engine.run(lambda _: seen.append("after"), changes_weights=False).result(timeout=60)
    finally:
        engine.close(wait_s=10)
    assert seen == [True, "task", False, True, False, "after"]
