"""Selective adapter decoding: the rule that picks each token, and the paired batch."""

import math

import pytest

torch = pytest.importorskip("torch")

from finch_lsp.completion import selective  # noqa: E402


def logprobs(*rows):
    return torch.log_softmax(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_a_near_tie_the_adapter_flips_stays_the_base_models():
    base = logprobs([2.0, 1.9, -5.0])  # token 0 leads token 1 by 0.1 nats
    adapted = logprobs([1.9, 2.0, -5.0])  # the adapter nudges token 1 ahead by 0.2 nats
    assert selective.choose(base, adapted, 1.0).tolist() == [0]


def test_a_token_the_adapter_raised_by_more_than_the_threshold_is_taken():
    base = logprobs([3.0, 0.0, 0.0])
    adapted = logprobs([0.0, 4.0, 0.0])  # token 1: from about -3.1 to -0.04 nats
    assert selective.choose(base, adapted, 1.0).tolist() == [1]
    assert selective.choose(base, adapted, 10.0).tolist() == [0]


def test_where_both_agree_the_token_is_taken_whatever_the_threshold():
    rows = logprobs([0.0, 5.0, 1.0])
    assert selective.choose(rows, rows, math.inf).tolist() == [1]


def test_rows_are_judged_pair_by_pair():
    base = logprobs([2.0, 1.9, 0.0], [3.0, 0.0, 0.0])
    adapted = logprobs([1.9, 2.0, 0.0], [0.0, 4.0, 0.0])
    assert selective.choose(base, adapted, 1.0).tolist() == [0, 1]


def test_the_processor_writes_one_token_into_both_rows_of_each_pair():
    scores = torch.tensor([[2.0, 1.9, 0.0], [3.0, 0.0, 0.0], [1.9, 2.0, 0.0], [0.0, 4.0, 0.0]])  # base, base, adapted, adapted
    out = selective.processor(1.0)(torch.zeros((4, 1), dtype=torch.long), scores)
    assert out.argmax(-1).tolist() == [0, 1, 0, 1]
    assert torch.isinf(out).sum().item() == 4 * 2  # every other token is ruled out


class FakeLoaded:
    def __init__(self, shift, model):
        self.adapter_min_shift, self.model = shift, model


class FakePeft:
    active_adapter = "v0001"
    peft_config = {"v0001": object()}
    _adapters_disabled = False


def test_pairing_is_off_without_a_threshold_an_adapter_or_with_adapters_disabled():
    ids = torch.tensor([[5, 6, 7]])
    mask = torch.ones_like(ids)
    for loaded in (FakeLoaded(0.0, FakePeft()), FakeLoaded(1.0, object())):
        assert selective.pair(loaded, ids, mask)[2:] == ({}, [])
    disabled = FakePeft()
    disabled._adapters_disabled = True
    assert selective.pair(FakeLoaded(1.0, disabled), ids, mask)[2:] == ({}, [])


def test_pairing_doubles_the_batch_base_rows_first():
    ids = torch.tensor([[1, 2], [3, 4]])
    paired, mask, kwargs, processors = selective.pair(FakeLoaded(0.5, FakePeft()), ids, torch.ones_like(ids))
    assert paired.tolist() == [[1, 2], [3, 4], [1, 2], [3, 4]] and mask.shape == (4, 2)
    assert kwargs == {"adapter_names": ["__base__", "__base__", "v0001", "v0001"]} and len(processors) == 1


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    """tiny-qwen2 with a random LoRA adapter activated the way the server does, and the base model."""
    import json

    from finch_lsp.learning.adapters import activate
    from finch_lsp.models import load_model
    from tests.tiny_adapter import save_random_adapter

    path = save_random_adapter(tmp_path_factory.mktemp("adapter"), std=0.5, seed=0)
    (path / "meta.json").write_text(json.dumps({"config": {"decode_min_shift": 0.75}}))
    loaded = load_model("tiny-qwen2", "cpu")
    activate(loaded, path, 1)
    return loaded, load_model("tiny-qwen2", "cpu")


PROMPTS = ["def add(a, b):\n    return ", "import os\n\ndef read(path):\n    ", "class Point:\n    def __init__(self"]


def completions(loaded, shift):
    from finch_lsp.completion.generate import generate, heal_prompt
    from finch_lsp.learning.training.greedy import base_completions

    loaded.adapter_min_shift = shift
    one = [generate(loaded, *heal_prompt(loaded.tokenizer, p), 12, min_new_tokens=12).text for p in PROMPTS]
    return one, base_completions(loaded, PROMPTS, 12)


def test_activation_takes_the_threshold_the_adapter_was_judged_with(adapted):
    loaded, _ = adapted
    assert loaded.adapter_min_shift == 0.75


def test_an_unreachable_threshold_decodes_as_the_base_model_and_none_as_the_adapter(adapted):
    loaded, base = adapted
    try:
        plain = completions(loaded, 0.0)
        assert completions(loaded, math.inf) == completions(base, 0.0)
        assert completions(loaded, -math.inf) == plain  # every adapted token taken: plain decoding
        assert plain != completions(base, 0.0)  # the adapter does change these completions
    finally:
        loaded.adapter_min_shift = 0.75


def test_greedy_batches_of_pairs_equal_one_by_one_selective_decoding(adapted):
    """Pairs (base row, adapted row) leave the batch together as their prompt finishes."""
    from finch_lsp.learning.training.greedy import greedy_completion, greedy_completions

    loaded, base = adapted
    budgets = [5, 12, 8]
    assert loaded.adapter_min_shift == 0.75
    one = [greedy_completion(loaded, p, b) for p, b in zip(PROMPTS, budgets)]
    assert greedy_completions(loaded, PROMPTS, budgets) == one
    assert one != [greedy_completion(base, p, b) for p, b in zip(PROMPTS, budgets)]  # the adapter does show
