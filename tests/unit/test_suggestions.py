"""The suggestion registry: bounded, last suggestion, accepted ranges tracked through edits."""

import pytest

from finch_lsp.documents.suggestions import Suggestion, SuggestionRegistry, shift_range


def make(reg: SuggestionRegistry, prefix="def f(p):\n    ", text="return open(p).read()", uri="file:///a.py") -> Suggestion:
    return reg.add(Suggestion(reg.new_id(), uri, 1, prefix, "", text, "m", None))


def test_bounded_and_last():
    reg = SuggestionRegistry(capacity=3)
    made = [make(reg) for _ in range(5)]
    assert len(reg) == 3 and reg.get(made[0].id) is None and reg.last() is made[-1]
    reg.accept(made[4].id, None)
    make(reg)
    assert reg.last() is made[4]  # the most recently accepted wins over newer shown ones


@pytest.mark.parametrize(
    "range_,change,inserted,expected",
    [
        ((10, 20), (0, 0), 5, (15, 25)),  # insert before: shift
        ((10, 20), (2, 5), 0, (7, 17)),  # delete before: shift back
        ((10, 20), (25, 30), 3, (10, 20)),  # after: unchanged
        ((10, 20), (12, 15), 1, (10, 18)),  # inside: shrink
        ((10, 20), (20, 20), 4, (10, 24)),  # typing at its end: the user's continuation
        ((10, 20), (8, 12), 0, (8, 16)),  # overlapping its start
    ],
)
def test_shift_range(range_, change, inserted, expected):
    assert shift_range(*range_, *change, inserted) == expected


def test_accepted_text_follows_the_users_edit():
    reg = SuggestionRegistry()
    prefix = "def f(p):\n    "
    s = make(reg, prefix)
    doc = prefix + s.text + "\n"
    reg.accept(s.id, doc)
    start = doc.index("open(p).read()")
    end = start + len("open(p).read()")
    new = doc[:start] + "Path(p).read_text()" + doc[end:]
    reg.on_change(s.uri, start, end, "Path(p).read_text()", new)
    assert reg.edited_text(s.id) == "return Path(p).read_text()"
    reg.on_change(s.uri, 0, 0, "import os\n", "import os\n" + new)
    assert reg.edited_text(s.id) == "return Path(p).read_text()"
    reg.on_change("file:///other.py", 0, 5, "", "x")
    assert reg.edited_text(s.id) == "return Path(p).read_text()"
