"""The gate's forgetting checks, in the trainer child: general prompts and pass@1.

Before an adapter is activated it must

- keep the base model's greedy first line on at least ``GENERAL_MIN_KEPT`` of the general
  prompts (``training.general``), and
- still pass the shipped HumanEval tasks (``gate_data/``, single-line fill-in-the-middle,
  completed and post-processed as the server does, tested in the sandbox) that the base
  model passes, all but ``PASS_MAX_DROP`` of them.

The base model's side (completions and test outcomes on every task) is computed once per
base model and prompt set and cached as JSON in the data dir (``gate/``), so a training pays
only for the adapter's side: the tasks the base model passes, and of those only the ones whose
completion changed are tested again (the tests are deterministic). Tasks the base model fails
are not run with the adapter, so the adapter's pass count is a lower bound: the check can
only be stricter than pass@1 itself. docs/learning.md justifies the thresholds.

The checks themselves (``general_verdict``, ``pass_verdict``) are pure.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from finch_lsp.learning.training import pacing
from finch_lsp.learning.training.general import GENERAL_PROMPTS, changed_prompts, check_program, describe_change, prompt_set_hash

if TYPE_CHECKING:
    from finch_lsp.models import LoadedModel
    from finch_lsp.tools.quality import Task

log = logging.getLogger(__name__)

GENERAL_MIN_KEPT = 0.75
"""Share of general prompts whose first line must stay the base model's (30 of 40); none that
the base model completes right may turn wrong. docs/learning.md says why."""

PASS_MAX_DROP = 0
"""Gate tasks passed by the base model that the adapted model may fail."""

GENERAL_NEW_TOKENS = 24
"""Length bound of a general prompt's completion (its first line is compared)."""

TEST_TIMEOUT_S = 10.0
"""Per gate task; the canonical solutions take well under a second."""

GATE_DATA = Path(__file__).with_name("gate_data") / "humaneval_gate.jsonl.gz"
"""The HumanEval problems the gate uses: rows of HumanEval.jsonl, verbatim (MIT, notice beside)."""

CACHE_VERSION = 2
"""Bumped when what the cache holds, or how it is computed, changes."""

Progress = Callable[[str], None]


@dataclass
class Figures:
    """One model's side of the gate: general completions, and per task its completion and outcome."""

    general: list[str] = field(default_factory=list)
    completions: dict[str, str] = field(default_factory=dict)
    passed: dict[str, bool] = field(default_factory=dict)
    margins: list[float] = field(default_factory=list)
    """Per general completion, how firmly the model holds it (``general_margins``); base side only."""

    @property
    def pass_count(self) -> int:
        return sum(self.passed.values())


# -- the checks (pure) --------------------------------------------------------------------------
def min_kept(total: int) -> int:
    """Fewest general prompts that must keep their completion, of ``total``."""
    import math

    return math.ceil(GENERAL_MIN_KEPT * total - 1e-9)


def general_verdict(prompts: list[str], before: list[str], after: list[str], where: str = "general prompts", wrong: list[str] = ()) -> tuple[int, list[str], str | None]:
    """(kept, changes described, reason or None) for general completions before/after.

    It fails when fewer than ``min_kept`` first lines stayed the same, or when any completion
    the base model got right (its check passes) turned wrong (``wrong``: those changes,
    described; ``turned_wrong`` finds them). ``where`` names the check in the reason:
    ``general prompts``, or ``your files`` for the general functions placed in the files the
    user taught in (``in_file_prompts``).
    """
    changed = changed_prompts(prompts, before, after)
    kept, total = len(prompts) - len(changed), len(prompts)
    described = [describe_change(*c) for c in changed]
    what = "completions unrelated to what you taught" if where == "general prompts" else "completions of other functions in the files you taught in"
    if wrong:
        shown = "; ".join(wrong[:3]) + ("; ..." if len(wrong) > 3 else "")
        return kept, described, f"{where}: it turns {len(wrong)} right {what} into wrong ones, e.g. {shown}"
    if kept >= min_kept(total):
        return kept, described, None
    shown = "; ".join(described[:3]) + ("; ..." if len(described) > 3 else "")
    return kept, described, (
        f"{where}: it changes {len(changed)} of {total} {what} "
        f"({kept}/{total} kept, {min_kept(total)} needed), e.g. {shown}"
    )


TIE_MARGIN = 0.1
"""A base completion held by less than this (nats: its two best next tokens within about 10% in
probability somewhere on the line) is a tie: no adapter can be held to keep it."""


def turned_wrong(bare: list[str], before: list[str], after: list[str], margins: list[float] | None = None) -> list[str]:
    """The changes (described) from a completion that passes its general check to one that fails it.

    ``bare``: each prompt's general prompt (without a file around it), whose check
    (``general.GENERAL_CHECKS``) is run in the sandbox on the first line before and after;
    only changed completions are run. With ``margins`` (the base model's, ``general_margins``)
    a base completion the base model itself holds by less than ``TIE_MARGIN`` is not counted:
    smollm2-135m's `sum(value for value in values if isinstance(value, (int, float)))` for
    ``total`` is such a tie (0.06 nats from `list`), and adapters at any strength flip it.
    """
    from finch_lsp.tools.sandbox import turned_wrong as regressed

    found = []
    for prompt, b, a, margin in zip(bare, before, after, margins if margins is not None else [TIE_MARGIN] * len(bare)):
        if margin < TIE_MARGIN or not changed_prompts([prompt], [b], [a]):
            continue
        right, now = check_program(prompt, b), check_program(prompt, a)
        if right is not None and regressed(right, now, TEST_TIMEOUT_S):
            found.append(describe_change(prompt, b, a))
    return found


IN_FILE_FUNCTIONS = 12
"""General function prompts placed after each file context of the examples (``in_file_prompts``)."""

IN_FILE_CONTEXTS = 2
"""File contexts (the newest distinct ones) the in-file check places them in."""


def in_file_prompts(contexts: list[str]) -> list[tuple[str, str]]:
    """(prompt, general prompt): the general ``def`` prompts placed after each of the newest
    ``IN_FILE_CONTEXTS`` file contexts.

    A habit taught in a file spreads most easily to the file's other functions (a user who
    teaches UTC timestamps in one module still wants ``x * 2`` in its ``double``), and the
    general prompts alone, with no file around them, do not see that. A completion's check
    runs on the general prompt alone: the user's file is never executed.
    """
    functions = [p for p in GENERAL_PROMPTS if p.startswith("def ")][:IN_FILE_FUNCTIONS]
    return [(context + "\n" + f, f) for context in list(dict.fromkeys(contexts))[:IN_FILE_CONTEXTS] for f in functions]


def pass_verdict(before: int, after: int, total: int) -> str | None:
    """Reason the pass@1 check fails (None when it passes).

    ``before``: gate tasks the base model passes, of ``total``; ``after``: how many of those
    the adapted model still passes.
    """
    if after >= before - PASS_MAX_DROP:
        return None
    lost = before - after
    return (
        f"pass@1: it fails {lost} of the {before} HumanEval gate tasks the base model passes "
        f"({100 * lost / total:.1f} points of pass@1 on the {total} tasks; {PASS_MAX_DROP} allowed)"
    )


# -- the cache ----------------------------------------------------------------------------------
def cache_key(model_name: str, device: str, prompts: list[str], task_names: list[str]) -> str:
    """The cache key of a base model's figures: model, device, prompt and task sets, version."""
    return prompt_set_hash([f"v{CACHE_VERSION}", model_name, device, *prompts, "--", *task_names])


def read_cached(cache_dir: str | None, key: str) -> Figures | None:
    if cache_dir is None:
        return None
    path = Path(cache_dir) / f"base-{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Figures(list(data["general"]), dict(data["completions"]), {k: bool(v) for k, v in data["passed"].items()}, [float(m) for m in data["margins"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_cached(cache_dir: str | None, key: str, figures: Figures, model_name: str) -> None:
    if cache_dir is None:
        return
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    path = Path(cache_dir) / f"base-{key}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"model": model_name, "general": figures.general, "completions": figures.completions, "passed": figures.passed, "margins": figures.margins}), encoding="utf-8")
    os.replace(tmp, path)


# -- computing figures -------------------------------------------------------------------------
def gate_tasks(count: int) -> list["Task"]:
    """The first ``count`` single-line tasks of the shipped problems (the same on every call)."""
    from finch_lsp.tools.quality import load_problems, single_line_task

    tasks = [single_line_task(p) for p in load_problems(GATE_DATA)]
    return [t for t in tasks if t is not None][:count]


def general_completions(loaded: "LoadedModel", prompts: list[str]) -> list[str]:
    """Greedy first lines of ``prompts`` under ``loaded.model`` as it is now (one batch)."""
    from finch_lsp.learning.training.greedy import anchor_prompt_text, base_completions

    if not prompts:
        return []
    return base_completions(loaded, [anchor_prompt_text(loaded, p) for p in prompts], GENERAL_NEW_TOKENS)


def general_margins(loaded: "LoadedModel", prompts: list[str], completions: list[str]) -> list[float]:
    """For each completion, the smallest log-probability lead of its token over the model's best
    other token along its first line: how firmly ``loaded.model`` (as it is now) holds it."""
    import torch

    from finch_lsp.learning.training.greedy import anchor_prompt_text

    tokenizer, margins = loaded.tokenizer, []
    with torch.no_grad():
        for prompt, completion in zip(prompts, completions):
            pacing.pace()
            prompt_ids = tokenizer(anchor_prompt_text(loaded, prompt), add_special_tokens=False)["input_ids"]
            line = completion.lstrip("\n").split("\n", 1)[0]
            line_ids = tokenizer(line, add_special_tokens=False)["input_ids"]
            if not line_ids:
                margins.append(0.0)
                continue
            ids = torch.tensor([prompt_ids + line_ids], device=loaded.device)
            logprobs = torch.log_softmax(loaded.model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float(), dim=-1)
            chosen = logprobs.gather(1, torch.tensor(line_ids, device=loaded.device)[:, None])[:, 0]
            others = logprobs.scatter(1, torch.tensor(line_ids, device=loaded.device)[:, None], float("-inf")).max(dim=1).values
            margins.append(float((chosen - others).min()))
    return margins


def figures(loaded: "LoadedModel", prompts: list[str], tasks: list["Task"], progress: Progress) -> Figures:
    """The base model's side of the gate: its general completions and margins, and every task's
    completion and outcome (the adapter's side is ``evaluation``'s checks)."""
    progress(f"general prompts ({len(prompts)})")
    result = Figures(general=general_completions(loaded, prompts))
    result.margins = general_margins(loaded, prompts, result.general)
    result.completions, result.passed = task_outcomes(loaded, tasks, progress)
    return result


def task_outcomes(loaded: "LoadedModel", tasks: list["Task"], progress: Progress, base: Figures | None = None) -> tuple[dict[str, str], dict[str, bool]]:
    """(completion, passed) per task under ``loaded.model``; with ``base`` (the adapter's side)
    only the tasks the base model passes, and only those completed differently tested again."""
    from finch_lsp.tools.quality import complete_task
    from finch_lsp.tools.sandbox import run_python

    if base is not None:
        tasks = [t for t in tasks if base.passed.get(t.name)]
    completions, passed, pending = {}, {}, {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for i, task in enumerate(tasks):
            pacing.pace()
            if i % 5 == 0:
                progress(f"HumanEval task {i + 1}/{len(tasks)}")
            completion = complete_task(loaded, task)
            completions[task.name] = completion
            if base is not None and base.completions.get(task.name) == completion and task.name in base.passed:
                passed[task.name] = base.passed[task.name]
            else:
                pending[task.name] = pool.submit(run_python, task.program(completion), TEST_TIMEOUT_S)
        for name, future in pending.items():
            passed[name] = future.result().passed
    return completions, passed


def base_side(loaded: "LoadedModel", model_name: str, cache_dir: str | None, prompts: list[str], tasks: list["Task"], progress: Progress) -> Figures:
    """The base model's figures from the cache, else computed now (``loaded.model`` must be the base) and cached."""
    key = cache_key(model_name, str(loaded.device), prompts, [t.name for t in tasks])
    cached = read_cached(cache_dir, key)
    if cached is not None:
        return cached
    started = time.perf_counter()
    computed = figures(loaded, prompts, tasks, lambda m: progress(f"base model, once per model: {m}"))
    write_cached(cache_dir, key, computed, model_name)
    log.info("gate: base figures for %s computed in %.1f s (%d/%d tasks pass)", model_name, time.perf_counter() - started, computed.pass_count, len(tasks))
    return computed
