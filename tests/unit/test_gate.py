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


@pytest.mark.parametrize("total, needed", [(40, 36), (10, 9), (20, 18), (1, 1), (0, 0)])
def test_min_kept_is_ninety_percent_rounded_up(total, needed):
    assert gate.min_kept(total) == needed


@pytest.mark.parametrize("changed, passes", [(0, True), (4, True), (5, False), (40, False)])
def test_general_verdict_threshold(changed, passes):
    prompts = [f"def f{i}(x):\n    return" for i in range(40)]
    before = [" x"] * 40
    after = [" y"] * changed + [" x"] * (40 - changed)
    kept, described, reason = gate.general_verdict(prompts, before, after)
    assert kept == 40 - changed and len(described) == changed
    assert (reason is None) == passes
    if not passes:
        assert reason.startswith("general prompts:") and f"{40 - changed}/40 kept, 36 needed" in reason
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
