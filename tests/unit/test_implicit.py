"""Implicit feedback: which settled suggestions say what (pure)."""

import pytest

from finch_lsp.documents.suggestions import Suggestion
from finch_lsp.learning.implicit import observe, typed_over

URI = "file:///w/a.py"
PREFIX = "def area(w, h):\n    return "


def shown(text="w * h", prefix=PREFIX, suffix="\n", created=0.0, **kw) -> Suggestion:
    return Suggestion(id=kw.pop("id", "s1"), uri=URI, version=1, prefix=prefix, suffix=suffix, text=text,
                      model="m", adapter_version=None, created=created, **kw)


def accepted(current: str, at: float = 0.0, **kw) -> Suggestion:
    s = shown(**kw)
    s.accepted, s.accepted_at, s.current_text = True, at, current
    return s


@pytest.mark.parametrize(
    "suggestion, document, now, expected",
    [
        (accepted("w * h"), PREFIX + "w * h\n", 30.0, ("kept", "w * h", None)),
        (accepted("w * h"), PREFIX + "w * h\n", 5.0, None),  # not settled yet
        (accepted("w * h * 1"), PREFIX + "w * h * 1\n", 30.0, ("edit", "w * h * 1", "w * h")),
        (accepted(""), PREFIX + "\n", 30.0, None),  # deleted: nothing to learn
        (shown(), PREFIX + "h * w\n\nx = 1\n", 30.0, ("typed", "h * w", "w * h")),
        (shown(), PREFIX + "h * w" + "\n", 30.0, None),  # the line is not finished yet (no newline typed)
        (shown(), PREFIX + "w * h\nx = 1\n", 30.0, None),  # typed what was suggested
        (shown(), PREFIX + "w\nx = 1\n", 30.0, None),  # typed a part of it
        (shown(), "# changed\n" + PREFIX + "h * w\nx\n", 30.0, None),  # text before it changed
        (shown(), PREFIX + "h * w\nx\n", 5.0, None),  # shown too recently
    ],
)
def test_observe(suggestion, document, now, expected):
    seen = observe([suggestion], {URI: document}, now, settle_seconds=20)
    assert [(o.kind, o.target, o.rejected) for o in seen] == ([expected] if expected else [])


def test_only_the_newest_suggestion_at_a_line_is_typed_over_and_observed_ones_are_skipped():
    older = shown(text="w + h", prefix=PREFIX[:-1], id="s1")
    newer = shown(text="w * h", id="s2")
    document = PREFIX + "h * w\nx = 1\n"
    assert [o.suggestion.id for o in observe([older, newer], {URI: document}, 30.0, 20)] == ["s2"]
    newer.observed = True
    assert observe([newer], {URI: document}, 30.0, 20) == []


def test_rated_or_action_suggestions_are_not_observed():
    action = accepted("x", kind="action:fix")
    assert observe([action], {URI: PREFIX}, 30.0, 0) == []


def test_typed_over_needs_the_text_around_it_unchanged():
    s = shown(suffix="\nprint(1)\n")
    assert typed_over(s, PREFIX + "abc\nprint(1)\n") == "abc"
    assert typed_over(s, PREFIX + "abc\nprint(2)\n") is None


def _example(rating: str, source: str | None = None, rejected: str | None = None):
    from finch_lsp.learning.store import Example

    return Example(rating=rating, weight=0.25 if rating == "implicit" else 10.0, suggestion_id="s", correction_source=source, rejected=rejected)


@pytest.mark.parametrize("rated, typed, kept, validation, held_out", [
    (0, 10, 0, 2, 0),   # implicit only: a fifth of the typed-over lines judge it
    (0, 4, 0, 0, 0),    # too few to judge on: the corrections check stays
    (0, 60, 10, 8, 2),  # at most HELD_OUT_MAX of either
    (1, 10, 5, 0, 1),   # a rated correction: judged on the corrections, every typed line trained on
])
def test_the_buffer_splits_into_training_held_out_and_validation(rated, typed, kept, validation, held_out):
    from finch_lsp.learning.coordinator import split_buffer

    buffer = (
        [_example("critical", "argument", " old") for _ in range(rated)]
        + [_example("implicit", "typed", " suggested") for _ in range(typed)]
        + [_example("implicit", "kept") for _ in range(kept)]
    )
    train, out, lines = split_buffer(buffer)
    assert (len(lines), len(out)) == (validation, held_out)
    assert all(e.correction_source == "typed" for e in lines) and all(e.correction_source == "kept" for e in out)
    assert sorted(e.id for e in train + out + lines) == sorted(e.id for e in buffer)  # nothing lost, nothing twice
    assert split_buffer(buffer)[2] == lines  # the same buffer splits the same way
