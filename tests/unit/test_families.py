"""The preference families of the learning bench: well-formed data and judges that tell habits apart."""

import ast

import pytest

from finch_lsp.learning.training.general import GENERAL_PROMPTS
from finch_lsp.tools.families import FAMILIES, check_program, pick
from finch_lsp.tools.family_bench import overrides
from finch_lsp.tools.sandbox import run_python

ALL = list(FAMILIES.values())


def test_four_families_of_different_kinds():
    assert len(ALL) >= 4 and len({f.kind for f in ALL}) == len(ALL)


@pytest.mark.parametrize("family", ALL, ids=lambda f: f.name)
def test_family_shape(family):
    assert len(family.train) == 10 and len(family.held_out) == 6 and len(family.unrelated) >= 4
    trained = {s for s, _ in family.train}
    assert not trained & set(family.held_out), "held-out prompts must not be trained on"
    assert len(set(family.held_out)) == 6
    assert not {family.header + u.prompt for u in family.unrelated} & set(GENERAL_PROMPTS)


@pytest.mark.parametrize("family", ALL, ids=lambda f: f.name)
def test_every_correction_follows_the_habit_and_parses(family):
    for signature, line in family.train:
        assert family.follows(line), line
        ast.parse(f"{family.header}{signature}\n    {line}\n")


@pytest.mark.parametrize("family", ALL, ids=lambda f: f.name)
def test_other_habits_do_not_count(family):
    others = [line for f in ALL if f is not family for _, line in f.train]
    assert not any(family.follows(line) for line in others)
    assert not family.follows("return None") and not family.follows("")


@pytest.mark.parametrize(
    "name, text, follows",
    [
        ("utc", "return datetime.now(timezone.utc)", True),
        ("utc", "return datetime.now(tz=timezone.utc)", True),
        ("utc", "return datetime.now()", False),
        ("utc", "return datetime.utcnow()", False),
        ("logging", 'log.info("x %s", x)', True),
        ("logging", 'log.info(f"x {x}")', False),
        ("logging", 'print("x", x)', False),
        ("errors", 'if x < 0: raise ValueError(f"bad {x}")', True),
        ("errors", "if x < 0:", False),
        ("errors", "assert x >= 0", False),
        ("keyword-args", "return Item(name=n, price=p, quantity=q)", True),
        ("keyword-args", "return Item(n, p, q)", False),
    ],
)
def test_judges(name, text, follows):
    assert FAMILIES[name].follows(text) is follows


def test_unrelated_checks_tell_right_from_wrong():
    family = FAMILIES["utc"]
    assert run_python(check_program(family, 5, " x * 2"), 20).passed
    assert not run_python(check_program(family, 5, " x / 2"), 20).passed


def test_pick_and_overrides():
    assert pick("all") == ALL and [f.name for f in pick("utc,errors")] == ["utc", "errors"]
    with pytest.raises(ValueError, match="unknown families"):
        pick("utc,nope")
    assert overrides(["learning_rate=0.0005", "target_modules=[\"q_proj\"]"]) == {"learning_rate": 0.0005, "target_modules": ["q_proj"]}
    with pytest.raises(SystemExit, match="not a TrainConfig field"):
        overrides(["lr=1"])


def test_unrelated_functions_are_neither_anchors_nor_general_prompts():
    from finch_lsp.learning.training.data import ANCHOR_PROMPTS

    def name(prompt):
        return prompt.split("(")[0].split()[-1]

    trained_on = {name(p) for p in ANCHOR_PROMPTS + GENERAL_PROMPTS if p.startswith("def ")}
    assert not {name(u.prompt) for f in ALL for u in f.unrelated} & trained_on
