"""The inference engine runs its tasks with the torch threads it was asked for."""

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
