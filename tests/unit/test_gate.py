"""The gate's forgetting checks: general-prompt comparison, thresholds, cache, shipped tasks, sandbox."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from finch_lsp.learning.jobs import Evaluation
from finch_lsp.learning.training import gate
from finch_lsp.learning.training.data import ANCHOR_PROMPTS
from finch_lsp.learning.training.general import GENERAL_PROMPTS, changed_prompts, describe_change, prompt_set_hash
from finch_lsp.tools.sandbox import run_python


@pytest.mark.parametrize(
    "before, after, changed",
    [
        ([" a * b", " a + b"], [" a * b", " a + b"], []),
        ([" a * b", " a + b"], ["  a  *  b ", " a + b\n    x"], []),  # whitespace and later lines do not count
        ([" a * b", " a + b"], [" a / b", " a + b"], [0]),
        ([" a * b", ""], [" a * b", " a"], [1]),
    ],
)
def test_changed_prompts_compare_first_lines(before, after, changed):
    prompts = ["p0", "p1"]
    assert [prompts.index(p) for p, _, _ in changed_prompts(prompts, before, after)] == changed


def test_changed_prompts_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="2 prompts but 1"):
        changed_prompts(["a", "b"], ["x"], ["x", "y"])


def test_describe_change_shows_the_line_and_both_completions():
    assert describe_change("def area(w, h):\n    return", " w * h", " w / h") == "`return` 'w * h' -> 'w / h'"


def test_prompt_set_hash_is_stable_and_order_sensitive():
    assert prompt_set_hash(["a", "b"]) == prompt_set_hash(["a", "b"])
    assert prompt_set_hash(["a", "b"]) != prompt_set_hash(["b", "a"])
    assert prompt_set_hash(["ab"]) != prompt_set_hash(["a", "b"])


def test_general_prompts_are_many_distinct_and_not_anchors():
    assert 30 <= len(GENERAL_PROMPTS) <= 60
    assert len(set(GENERAL_PROMPTS)) == len(GENERAL_PROMPTS)
    assert not set(GENERAL_PROMPTS) & set(ANCHOR_PROMPTS)


@pytest.mark.parametrize("total, needed", [(40, 30), (10, 8), (24, 18), (1, 1), (0, 0)])
def test_min_kept_is_three_quarters_rounded_up(total, needed):
    assert gate.min_kept(total) == needed


@pytest.mark.parametrize("changed, passes", [(0, True), (10, True), (11, False), (40, False)])
def test_general_verdict_threshold(changed, passes):
    prompts = [f"def f{i}(x):\n    return" for i in range(40)]
    before = [" x"] * 40
    after = [" y"] * changed + [" x"] * (40 - changed)
    kept, described, reason = gate.general_verdict(prompts, before, after)
    assert kept == 40 - changed and len(described) == changed
    assert (reason is None) == passes
    if not passes:
        assert reason.startswith("general prompts:") and f"{40 - changed}/40 kept, 30 needed" in reason
        assert "'x' -> 'y'" in reason


@pytest.mark.parametrize(
    "before, after, passes",
    [(4, 4, True), (0, 0, True), (4, 3, False), (4, 0, False)],
)
def test_pass_verdict_allows_no_lost_task(before, after, passes):
    reason = gate.pass_verdict(before, after, 40)
    assert (reason is None) == passes
    if not passes:
        assert reason.startswith(f"pass@1: it fails {before - after} of the {before}")
        assert f"{100 * (before - after) / 40:.1f} points" in reason


def test_cache_round_trip_and_key(tmp_path):
    figures = gate.Figures(["a", "b"], {"t1": "x = 1"}, {"t1": True, "t2": False})
    key = gate.cache_key("smollm2-135m", "cpu", ["p"], ["t1", "t2"])
    assert key != gate.cache_key("tiny-qwen2", "cpu", ["p"], ["t1", "t2"])
    assert key != gate.cache_key("smollm2-135m", "cpu", ["p", "q"], ["t1", "t2"])
    assert gate.read_cached(str(tmp_path), key) is None
    gate.write_cached(str(tmp_path / "gate"), key, figures, "smollm2-135m")
    assert gate.read_cached(str(tmp_path / "gate"), key) == figures
    assert figures.pass_count == 1
    (tmp_path / "gate" / f"base-{key}.json").write_text("{torn")
    assert gate.read_cached(str(tmp_path / "gate"), key) is None
    assert gate.read_cached(None, key) is None


def test_evaluation_defaults_keep_old_meta_readable():
    old = Evaluation(True, 3, 4, None, None, [])
    assert (old.failed_checks, old.general_kept, old.pass_after) == ([], None, None)


def test_shipped_tasks_are_fixed_single_line_and_their_canonical_lines_pass_in_the_sandbox():
    tasks = gate.gate_tasks(40)
    assert len(tasks) == 40 and len({t.problem.task_id for t in tasks}) == 40
    assert all(t.kind == "single" and "\n" not in t.middle for t in tasks)
    assert [t.name for t in gate.gate_tasks(40)] == [t.name for t in tasks]
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda t: run_python(t.program(t.middle), 20), tasks))
    assert [t.name for t, o in zip(tasks, outcomes) if not o.passed] == []
    broken = run_python(tasks[0].program("raise RuntimeError('not this')"), 20)
    assert not broken.passed and "not this" in broken.detail


def test_sandbox_refuses_network_and_kills_at_timeout():
    assert not run_python("import socket\nsocket.socket()", 20).passed
    assert run_python("while True:\n    pass", 1).status == "timeout"


def test_a_correction_counts_when_the_habit_is_learnt_not_only_the_exact_line():
    from finch_lsp.learning.training.evaluation import close_to

    wanted = 'log.info("saving user %s", user.id)'
    assert close_to(wanted, wanted, "print(user)")
    assert close_to('log.info("saving user %s", user)', wanted, "print(user)")  # the habit, another detail
    assert not close_to("print(f'saving {user}')", wanted, "print(user)")  # still the old habit
    assert not close_to("", wanted, None)
    # a near-miss the base model already made does not count unless it got closer
    near = 'log.info("saving user %s", user.name)'
    assert not close_to(near, wanted, near)


def test_the_in_file_check_places_general_functions_in_the_newest_files_taught_in():
    from finch_lsp.learning.training.gate import IN_FILE_CONTEXTS, IN_FILE_FUNCTIONS, general_verdict, in_file_prompts

    pairs = in_file_prompts(["import b\n\n", "import a\n\n", "import b\n\n", "import c\n\n"])
    assert len(pairs) == IN_FILE_CONTEXTS * IN_FILE_FUNCTIONS
    prompts = [p for p, _ in pairs]
    assert prompts[0].startswith("import b\n\n\ndef ") and prompts[-1].startswith("import a\n\n\ndef ")
    assert all(p.split("\n\n\n", 1)[1] == bare and bare in GENERAL_PROMPTS for p, bare in pairs)
    assert in_file_prompts([]) == []
    before = ["x * 2"] * len(prompts)
    after = ["x + timedelta(seconds=1)"] * 7 + before[7:]
    kept, changes, reason = general_verdict(prompts, before, after, "your files")
    assert kept == len(prompts) - 7 and reason.startswith("your files: it changes 7 of 24 completions of other functions in the files you taught in")


def test_a_general_completion_that_was_right_and_turned_wrong_fails_the_gate_however_few_changed():
    prompts = ["def area(width, height):\n    return", "def half(value):\n    return", "def gcd(a, b):\n    while b:\n        a, b ="] + GENERAL_PROMPTS[10:20]
    before = [" width * height", " value * 2", " b, a % b"] + [" x"] * 10
    after = [" width / height", " value / 2", " a % b, b"] + [" x"] * 10
    # area: right -> wrong; half: wrong -> right (not a regression); gcd: no check (its first line cannot finish it)
    wrong = gate.turned_wrong(prompts, before, after)
    assert wrong == ["`return` 'width * height' -> 'width / height'"]
    kept, _, reason = gate.general_verdict(prompts, before, after, wrong=wrong)
    assert kept == 10 and reason.startswith("general prompts: it turns 1 right completions unrelated to what you taught into wrong ones")
    assert gate.general_verdict(prompts, before, after)[2] is None  # 10 of 13 kept is within the bound


@pytest.mark.parametrize(
    "before, after, same",
    [
        (" (n * 3) + 1", " n * 3 + 1", True),
        (" a  +  b", " a + b", True),
        (" a + b\n    x", " a + b", True),
        (" a + b", " b + a", False),
        (" x.replace(f\"{{{{", " x.abs()", False),
        (" n % 2 == 0]", " n % 2 == 0 ]", False),  # not an expression on its own: compared as text
    ],
)
def test_first_lines_that_are_the_same_code_count_as_unchanged(before, after, same):
    from finch_lsp.learning.training.general import same_code

    assert same_code(before, after) is same


RIGHT = {
    "area": " width * height", "is_even": " n % 2 == 0", "square": " x * x", "add": " a + b", "subtract": " a - b",
    "absolute": " abs(x)", "half": " value / 2", "is_odd": " number % 2 == 1", "triple": " n * 3",
    "circle_area": " 3.14159 * radius ** 2", "reverse_string": " s[::-1]", "first_char": " word[0]",
    "to_lower": " text.lower()", "word_count": " len(sentence.split())", "starts_with_a": " s.startswith('a')",
    "concat": " a + b", "last_item": " items[-1]", "total": " sum(values)", "smallest": " min(numbers)",
    "length": " len(sequence)", "contains": " x in items", "unique": " list(set(items))", "sort_numbers": " sorted(numbers)",
    "keys_of": " list(mapping.keys())", "factorial": " 1", "is_prime": " False", "clamp": " max(low, min(x, high))",
    "sign": " 1", "swap": " b, a", "Point": " x", "Counter": " 0", "Rectangle": " self.width * self.height",
    "Queue": " len(self.items)", "evens": " n % 2 == 0]", "total +=": " n", "upper_names": " [n.upper() for n in names]",
    "transposed": " list(zip(*matrix))", "hypotenuse": " math.sqrt(a ** 2 + b ** 2)", "most_common": " Counter(items).most_common(1)[0][0]",
}


def right_answer(prompt: str) -> str:
    for key in ("total +=", "upper_names", "transposed", "evens", "Rectangle", "Queue", "Point", "hypotenuse", "most_common"):
        if key in prompt:
            return RIGHT[key]
    if prompt.startswith("class Counter"):
        return RIGHT["Counter"]
    return RIGHT[prompt.split("(", 1)[0].removeprefix("def ")]


def test_every_general_check_passes_a_right_completion_and_fails_a_wrong_one():
    from finch_lsp.learning.training.general import GENERAL_CHECKS, check_program
    from finch_lsp.tools.sandbox import run_python

    assert set(GENERAL_CHECKS) <= set(GENERAL_PROMPTS) and len(GENERAL_CHECKS) >= len(GENERAL_PROMPTS) - 1
    for prompt in GENERAL_CHECKS:
        assert run_python(check_program(prompt, right_answer(prompt)), 10).passed, prompt
        assert not run_python(check_program(prompt, " None"), 10).passed, prompt


def test_a_tie_of_the_base_model_turning_wrong_is_not_counted_a_held_completion_is():
    prompts = ["def area(width, height):\n    return", "def total(values):\n    return"]
    before, after = [" width * height", " sum(values)"], [" width / height", " len(values)"]
    assert len(gate.turned_wrong(prompts, before, after)) == 2  # no margins: every right one counts
    wrong = gate.turned_wrong(prompts, before, after, [0.5, gate.TIE_MARGIN / 2])
    assert wrong == ["`return` 'width * height' -> 'width / height'"]


def test_margins_say_how_firmly_the_model_holds_a_completion():
    from finch_lsp.models import load_model

    loaded = load_model("tiny-qwen2", "cpu")
    prompt = "def add(a, b):\n    return"
    (completion,) = gate.general_completions(loaded, [prompt])
    (held,) = gate.general_margins(loaded, [prompt], [completion])
    assert held >= 0  # greedy: its own tokens lead
    (other,) = gate.general_margins(loaded, [prompt], [completion + " zq"])
    assert other < held or other < 0
