"""KV prefix reuse: greedy output with reuse equals output without, and stale caches are dropped."""

from __future__ import annotations

import threading

import pytest

from finch_lsp.completion.engine import CompletionRequest, InferenceEngine
from finch_lsp.completion.generate import generate
from finch_lsp.completion.kvcache import MIN_REUSE_TOKENS, PrefixCache, common_prefix, reusable_length

BASE = (
    "import json\nfrom pathlib import Path\n\n\n"
    "def load(path: Path) -> dict:\n    with open(path) as f:\n        return json.load(f)\n\n\n"
    "def save(path: Path, data: dict) -> None:\n    with open(path, 'w') as f:\n        json.dump(data, f)\n\n\n"
    "def merge(a: dict, b: dict) -> dict:\n    out = dict(a)\n    for key, value in b.items():\n"
)


@pytest.mark.parametrize(
    ("a", "b", "common", "reusable"),
    [
        ([], [1, 2], 0, 0),
        ([1, 2, 3], [1, 2, 3], 3, 2),  # identical: all but the last token (it has to be fed)
        ([1, 2, 3], [1, 2, 3, 4, 5], 3, 3),  # typed at the end
        ([1, 2, 3, 4, 5], [1, 2, 3], 3, 2),  # deleted at the end
        ([1, 2, 9, 4], [1, 2, 3, 4], 2, 2),  # edited inside
        ([7], [1, 2], 0, 0),
    ],
)
def test_common_and_reusable_prefix(a, b, common, reusable):
    assert common_prefix(a, b) == common
    assert reusable_length(a, b) == reusable


def _edits(text: str) -> list[str]:
    """The same document after a run of edits: type at the end, insert, delete, type again."""
    at = text.index("def save")
    return [
        text,
        text + "        out[key",
        text + "        out[key] = ",
        text[:at] + "# saved as JSON\n" + text[at:] + "        out[key] = ",  # insert earlier in the file
        text[:at] + text[at + 4 :] + "        out[",  # delete earlier in the file
        text + "        out[key] = value\n    return",
        text + "        out[key] = value\n    return",  # identical repeat
    ]


@pytest.mark.parametrize("name", ["tiny-qwen2", "smollm2-135m"])
def test_greedy_output_with_reuse_equals_output_without(name):
    from finch_lsp.models import load_model

    loaded = load_model(name, "cpu")
    cache = PrefixCache()
    reused_any = False
    edits = _edits(BASE)
    if name != "tiny-qwen2":  # the real model is slower: type at the end, insert earlier, delete earlier
        edits = [edits[0], edits[1], edits[3], edits[4]]
    for text in edits:
        cold = generate(loaded, text, "", 8, min_new_tokens=8)
        warm = generate(loaded, text, "", 8, min_new_tokens=8, reuse=cache, reuse_key="doc", weights="w")
        assert warm.text == cold.text, text[-40:]
        assert cold.prefilled == cold.prompt_tokens
        reused_any |= warm.prefilled < warm.prompt_tokens
    assert reused_any
    # typing at the end reuses everything before the new characters
    generate(loaded, BASE, "", 4, min_new_tokens=4, reuse=cache, reuse_key="doc2", weights="w")
    typed = generate(loaded, BASE + "        out", "", 4, min_new_tokens=4, reuse=cache, reuse_key="doc2", weights="w")
    assert typed.prefilled <= 4


def test_other_weights_never_reuse_a_cache():
    from finch_lsp.models import load_model

    loaded = load_model("tiny-qwen2", "cpu")
    cache = PrefixCache()
    generate(loaded, BASE, "", 4, min_new_tokens=4, reuse=cache, reuse_key="doc", weights=("m", 1))
    again = generate(loaded, BASE + " ", "", 4, min_new_tokens=4, reuse=cache, reuse_key="doc", weights=("m", 2))
    assert again.prefilled == again.prompt_tokens


def test_engine_drops_cached_prefixes_when_a_task_may_swap_the_adapter():
    from finch_lsp.models import load_model

    engine = InferenceEngine()
    try:
        engine.load(lambda: load_model("tiny-qwen2", "cpu")).result(timeout=120)
        request = lambda prefix: CompletionRequest(key="doc", prefix=prefix, suffix="", max_new_tokens=4, min_new_tokens=4)  # noqa: E731
        engine.complete(request(BASE)).result(timeout=120)
        warm = engine.complete(request(BASE + "        out")).result(timeout=120)
        assert warm.prefilled < warm.prompt_tokens / 4
        # a code action does not touch the weights: the cache stays
        engine.run(lambda loaded: None, changes_weights=False).result(timeout=60)
        assert len(engine.prefixes) == 1
        # an adapter swap goes through run: the next completion prefills everything
        engine.run(lambda loaded: setattr(engine, "adapter_version", 7)).result(timeout=60)
        after = engine.complete(request(BASE + "        out[")).result(timeout=120)
        assert after.prefilled == after.prompt_tokens
    finally:
        engine.close()


def test_a_task_cancelled_while_queued_never_runs():
    engine = InferenceEngine()
    try:
        gate, ran = threading.Event(), []
        engine.run(lambda loaded: gate.wait(30), changes_weights=False)
        cancel = threading.Event()
        queued = engine.run(lambda loaded: ran.append("action"), cancel=cancel, changes_weights=False)
        cancel.set()
        gate.set()
        assert queued.result(timeout=30) is None
        assert ran == []
    finally:
        engine.close()


def test_min_reuse_is_small_next_to_a_prompt():
    assert 0 < MIN_REUSE_TOKENS <= 16
