"""Typing into a suggestion: answered from the shown suggestion, without the model."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import msgspec
import pytest
from lsprotocol import types

from finch_lsp.completion.engine import InferenceEngine
from finch_lsp.completion.service import CompletionService
from finch_lsp.completion.typeahead import TypeAhead, typed_into
from finch_lsp.config import FinchConfig
from finch_lsp.documents.suggestions import Suggestion, SuggestionRegistry


@pytest.mark.parametrize(
    ("prefix", "suffix", "rest"),
    [
        ("x = ", "\n", "compute(a, b)"),  # identical repeat: the whole suggestion
        ("x = c", "\n", "ompute(a, b)"),  # typed one character of it
        ("x = comp", "\n", "ute(a, b)"),
        ("x = compute(a, b", "\n", ")"),
        ("x = compute(a, b)", "\n", None),  # typed all of it: nothing left, ask the model
        ("x = d", "\n", None),  # typed something else
        ("x =", "\n", None),  # backspaced before where it was shown
        ("x = c", "\nmore", None),  # the suffix changed
        ("y = c", "\n", None),
    ],
)
def test_typed_into(prefix, suffix, rest):
    assert typed_into("x = ", "\n", "compute(a, b)", prefix, suffix) == rest


def _suggestion(**kw) -> Suggestion:
    base = dict(id="s1", uri="file:///a.py", version=1, prefix="x = ", suffix="\n", text="compute(a, b)", model="m", adapter_version=None)
    return Suggestion(**{**base, **kw})


def test_lookup_keeps_the_id_and_records_what_was_typed():
    cache = TypeAhead()
    s = cache.remember(_suggestion()).suggestion
    answer = cache.lookup(s.uri, "x = comp", "\n", lambda s: True, lambda shown: None)
    assert (answer.suggestion.id, answer.text, answer.typed_ahead, s.typed_ahead) == ("s1", "ute(a, b)", True, 4)
    back = cache.lookup(s.uri, "x = ", "\n", lambda s: True, lambda shown: None)  # backspaced to where it was shown
    assert (back.suggestion.id, back.text, back.typed_ahead) == ("s1", "compute(a, b)", False)


def test_a_stale_suggestion_is_forgotten():
    cache = TypeAhead()
    cache.remember(_suggestion())
    assert cache.lookup("file:///a.py", "x = c", "\n", lambda s: False, lambda shown: None) is None
    assert cache.lookup("file:///a.py", "x = c", "\n", lambda s: True, lambda shown: None) is None


def test_the_rest_of_a_block_is_served_once_its_first_line_is_reached():
    cache = TypeAhead()
    shown = cache.remember(_suggestion(prefix="def f():\n    ", suffix="", text="x = 1"))
    assert cache.extend(shown, "\n    return x", "prompt")
    follow = _suggestion(id="s2", prefix="def f():\n    x = 1", suffix="", text="\n    return x")
    answer = cache.lookup("file:///a.py", "def f():\n    x = 1\n    ret", "", lambda s: True, lambda shown: follow)
    assert (answer.suggestion.id, answer.text) == ("s2", "urn x")
    # the follow-up is now the document's suggestion
    assert cache.lookup("file:///a.py", "def f():\n    x = 1\n", "", lambda s: True, lambda shown: None).suggestion.id == "s2"


def test_accepting_the_rest_after_typing_locates_the_whole_suggestion():
    registry = SuggestionRegistry()
    s = registry.add(_suggestion(typed_ahead=4))
    # the client runs finch.accept before it inserts the rest: the range holds what was typed, then grows
    accepted = registry.accept(s.id, "x = comp\n")
    assert (accepted.start, accepted.end) == (4, 8)
    registry.on_change(s.uri, 8, 8, "ute(a, b)", "x = compute(a, b)\n")
    assert registry.edited_text(s.id) == "compute(a, b)"


class _Doc(SimpleNamespace):
    pass


def _host(engine: InferenceEngine, text: str, loop) -> SimpleNamespace:
    config = msgspec.structs.replace(FinchConfig(), completion=msgspec.structs.replace(FinchConfig().completion, debounce_ms=0, block_tokens=0))
    doc = _Doc(source=text, version=1, path="/tmp/a.py", language_id="python", uri="file:///a.py")
    return SimpleNamespace(
        config=config, engine=engine, suggestions=SuggestionRegistry(), model_name="tiny-qwen2",
        workspace=SimpleNamespace(text_documents={"file:///a.py": doc}), position_encoding="utf-16",
        client_has_inline_completion=True, call_soon=loop.call_soon_threadsafe,
    )


def test_typing_into_a_suggestion_takes_a_fiftieth_of_a_fresh_completion():
    from finch_lsp.models import load_model

    engine = InferenceEngine()
    try:
        engine.load(lambda: load_model("tiny-qwen2", "cpu")).result(timeout=120)
        engine.reuse_prefixes = False  # a fresh completion, as on the first request at a place

        async def scenario():
            text = "import os\n\n\ndef main():\n    path = "
            host = _host(engine, text, asyncio.get_running_loop())
            service = CompletionService(host)
            end = types.Position(4, len("    path = "))
            first = await service.suggest("file:///a.py", end)
            assert first is not None and not first.typed_ahead
            doc = host.workspace.text_documents["file:///a.py"]
            for typed in range(1, min(4, len(first.text))):
                doc.source, doc.version = text + first.text[:typed], doc.version + 1
                answer = await service.suggest("file:///a.py", types.Position(4, end.character + typed))
                assert answer.suggestion.id == first.suggestion.id and answer.text == first.text[typed:]
            doc.source = text  # backspaced to where it was shown, and asked again
            again = await service.suggest("file:///a.py", end)
            assert again.suggestion.id == first.suggestion.id and again.text == first.text
            return list(service.timings)

        timings = asyncio.run(scenario())
    finally:
        engine.close()
    model = [t for how, t in timings if how == "model"]
    typed = [t for how, t in timings if how == "typed"]
    assert len(model) == 1 and len(typed) >= 2
    assert max(typed) / model[0] <= 0.02, (typed, model)
