"""The HumanEval quality benchmark: tasks from the real data, the sandbox, pass@1, the report."""

import io
import select
import socket
import subprocess
import sys
import time

import pytest

from finch_lsp.tools import quality
from finch_lsp.tools.quality import Score, build_tasks, evaluate, gate_subset, load_problems, score
from finch_lsp.tools.quality_bench import SECTION_HEADING, ProgressBar, QualityReport, render_markdown, update_section
from finch_lsp.tools.sandbox import run_python

TIMEOUT = 30.0  # a busy machine: a canonical solution takes well under a second


@pytest.fixture(scope="module")
def problems():
    return load_problems()


@pytest.fixture(scope="module")
def tasks(problems):
    return build_tasks(problems)


# -- tasks -------------------------------------------------------------------------------------
def test_all_164_problems_give_a_single_line_task_and_127_a_multi_line_one(problems, tasks):
    assert len(problems) == 164
    assert sum(t.kind == "single" for t in tasks) == 164
    one_line = sum(len([l for l in p.canonical_solution.split("\n") if l.strip()]) == 1 for p in problems)
    assert sum(t.kind == "multi" for t in tasks) == 164 - one_line == 127


def test_every_mask_reassembles_to_the_canonical_program(tasks):
    for task in tasks:
        assert task.prefix + task.middle + task.suffix == task.problem.prompt + task.problem.canonical_solution, task.name


def test_masks_hide_one_line_or_a_block_after_the_indentation(tasks):
    for task in tasks:
        lines = [l for l in task.middle.split("\n") if l.strip()]
        assert task.middle.strip() and not task.middle[0].isspace() and task.suffix.startswith("\n"), task.name
        assert not task.prefix.rsplit("\n", 1)[-1].strip(), task.name  # the cursor is after the indentation
        if task.kind == "single":
            assert len(lines) == 1 and not lines[0].lstrip().startswith("#"), task.name
        else:
            assert 2 <= len(lines) <= 4, task.name
            first = task.prefix.rsplit("\n", 1)[-1]
            assert all(len(l) - len(l.lstrip()) >= len(first) for l in task.middle.split("\n")[1:] if l.strip()), task.name


def test_a_compound_statement_body_is_preferred():
    solution = "    total = 0\n    for x in xs:\n        y = x * 2\n        total += y\n    return total\n"
    assert quality.block_candidates(solution) == [(2, 3)]
    flat = "    a = 1\n    b = 2\n    return a + b\n"
    assert quality.block_candidates(flat) == [(0, 1), (0, 2), (1, 2)]


def test_tasks_are_the_same_on_every_build_and_depend_on_the_seed(problems, tasks):
    again = build_tasks(problems)
    assert [(t.name, t.prefix, t.middle) for t in again] == [(t.name, t.prefix, t.middle) for t in tasks]
    other = build_tasks(problems, seed=7)
    assert sum(a.middle != b.middle for a, b in zip(other, tasks)) > 50


def test_kind_selects_tasks_and_rejects_unknown_kinds(problems):
    assert {t.kind for t in build_tasks(problems[:10], "single")} == {"single"}
    assert {t.kind for t in build_tasks(problems[:10], "multi")} == {"multi"}
    with pytest.raises(ValueError, match="single, multi or both"):
        build_tasks(problems, "all")


def test_the_gate_subset_is_fixed_and_mixes_both_kinds(problems):
    subset = gate_subset(24, problems)
    assert len(subset) == 24 and len({t.name for t in subset}) == 24
    assert {t.kind for t in subset} == {"single", "multi"}
    assert [t.name for t in gate_subset(24)] == [t.name for t in subset]
    assert [t.name for t in gate_subset(30, problems)][:24] == [t.name for t in subset]


def test_the_canonical_middle_passes_and_a_wrong_one_fails(tasks):
    task = tasks[0]
    assert run_python(task.program(task.middle), TIMEOUT).passed
    assert not run_python(task.program("pass"), TIMEOUT).passed


# -- pass@1 ------------------------------------------------------------------------------------
def test_pass_at_1_is_passed_tasks_over_all_tasks(tasks):
    chosen = tasks[:4] + [t for t in tasks if t.kind == "multi"][:4]
    right = {chosen[0].name, chosen[2].name, chosen[5].name}
    seen = []
    results = evaluate(
        chosen, lambda t: t.middle if t.name in right else "return None", TIMEOUT,
        on_result=lambda done: seen.append(len(done)),
    )
    assert seen == list(range(1, 9))
    assert [r.outcome.passed for r in results] == [t.name in right for t in chosen]
    assert score(results).pass_at_1 == 3 / 8
    assert (score(results, "single").passed, score(results, "single").total) == (2, 4)
    assert score(results, "multi").pass_at_1 == 1 / 4


def test_score_of_no_tasks_is_zero():
    assert Score(0, 0, 0.0).pass_at_1 == 0.0 and score([]).total == 0


def test_importing_the_benchmark_does_not_import_torch():
    code = "import sys, finch_lsp.tools.quality, finch_lsp.tools.quality_bench; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_a_task_is_completed_through_the_server_prompt_and_post_processing(tasks, monkeypatch):
    from finch_lsp.completion import generate as generation
    from finch_lsp.models import load_model

    loaded = load_model("tiny-qwen2", "cpu")
    prompts = []
    real = generation.generate

    def spy(loaded_model, prompt_text, removed, max_new_tokens, **kwargs):
        prompts.append((prompt_text, kwargs))
        return generation.Generated("x = 1\n    y = 2", 5)

    monkeypatch.setattr(generation, "generate", spy)
    task = tasks[0]
    assert quality.complete_task(loaded, task) == "x = 1"  # single-line: one line, as with multiline never
    text, kwargs = prompts[0]
    assert text.startswith("<|fim_prefix|>") and "<|fim_suffix|>" in text and text.endswith("<|fim_middle|>")
    assert task.suffix.strip().split("\n")[0] in text and kwargs["single_line"] is True
    monkeypatch.setattr(generation, "generate", real)
    assert isinstance(quality.complete_task(loaded, tasks[-1]), str)


# -- the sandbox -------------------------------------------------------------------------------
def test_a_passing_program_passes_and_a_failing_one_fails():
    assert run_python("import math\nassert math.gcd(4, 6) == 2\n", TIMEOUT).passed
    failed = run_python("assert 1 == 2, 'one is not two'\n", TIMEOUT)
    assert failed.status == "failed" and "one is not two" in failed.detail


def test_an_infinite_loop_is_killed_at_the_timeout():
    started = time.perf_counter()
    outcome = run_python("while True:\n    pass\n", 2.0)
    assert outcome.status == "timeout" and "killed" in outcome.detail
    assert 2.0 <= time.perf_counter() - started < 2.0 + TIMEOUT


def test_a_socket_connect_is_refused_and_nothing_connects():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
        outcome = run_python(code, TIMEOUT)
        assert outcome.status == "failed" and "refused" in outcome.detail
        assert select.select([server], [], [], 0)[0] == []  # no connection is waiting


def test_writes_outside_the_scratch_directory_and_processes_are_refused(tmp_path):
    target = tmp_path / "outside.txt"
    outcome = run_python(f"open({str(target)!r}, 'w').write('x')\n", TIMEOUT)
    assert outcome.status == "failed" and "refused" in outcome.detail and not target.exists()
    assert run_python("open('inside.txt', 'w').write('x')\n", TIMEOUT).passed
    spawn = run_python("import subprocess\nsubprocess.run(['true'])\n", TIMEOUT)
    assert spawn.status == "failed" and "subprocess.Popen is refused" in spawn.detail


def test_exiting_early_with_status_0_is_not_a_pass():
    assert run_python("import sys\nsys.exit(0)\nassert False\n", TIMEOUT).status == "failed"
    assert run_python("import os\nos._exit(0)\nassert False\n", TIMEOUT).status == "failed"


# -- the report --------------------------------------------------------------------------------
def _report(date="2026-01-02"):
    rows = [("base", "single", Score(20, 164, 300.0)), ("base", "multi", Score(5, 127, 500.0))]
    return QualityReport("m", "cpu", "CPU X, 2 cores", "torch 1", "finch-lsp bench --quality", rows, date=date)


def test_the_section_is_created_replaced_and_appended_without_touching_other_parts():
    doc = "# Benchmarks\n\n## Completion latency\n\nfast\n\n## Learning\n\nslow\n"
    first = update_section(doc, render_markdown(_report()))
    assert first.startswith(doc.rstrip("\n")) and first.count(SECTION_HEADING) == 1
    assert "| base | single | 164 | 20 | 12.2% |" in first
    assert update_section(first, render_markdown(_report())) == first
    second = update_section(first, render_markdown(_report("2026-01-03")))
    assert second.count("### m on cpu") == 2 and second.index("(2026-01-02)") < second.index("(2026-01-03)")
    moved = "# Benchmarks\n\n" + SECTION_HEADING + "\n\nintro\n\n## Learning\n\nslow\n"
    placed = update_section(moved, render_markdown(_report()))
    assert placed.index("### m on cpu") < placed.index("## Learning") and placed.endswith("slow\n")


def test_the_progress_bar_prints_plain_lines_when_not_on_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(20, "base", stream)
    for done in range(1, 21):
        bar.update(done, done // 2)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("base: 20/20  passed 10") and "\r" not in stream.getvalue()
