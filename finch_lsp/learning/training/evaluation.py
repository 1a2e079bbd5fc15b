"""Judging a trained adapter in the trainer child: does it do what it was taught, and does it
leave the rest alone.

``evaluate`` runs after training: it greedy-generates every corrected prompt (as the server
would, token healing included) and compares first lines (for implicit feedback alone it
compares the loss on lines typed but not trained on instead), it compares the loss on held-out
kept suggestions with the adapter on and off, and it runs the forgetting checks of
``gate`` (general prompts, pass@1 on HumanEval tasks) against the base model's figures.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from finch_lsp.completion.postprocess import first_line
from finch_lsp.learning.jobs import Evaluation, TrainExample, TrainJob
from finch_lsp.learning.training import gate, pacing
from finch_lsp.learning.training.data import encode_example, file_context, pad_batch
from finch_lsp.learning.training.greedy import greedy_completions
from finch_lsp.learning.training.losses import target_loss

if TYPE_CHECKING:
    from finch_lsp.models import LoadedModel

HELD_OUT_RELATIVE_BOUND = 0.25
"""Held-out loss may rise by at most this fraction of its value before training..."""

HELD_OUT_ABSOLUTE_SLACK = 0.05
"""...plus this many nats, so a near-zero loss before training does not make any change fail."""

MAX_EVALUATED_CORRECTIONS = 8
"""Corrections generated during evaluation (the most recent ones): bounds its cost."""


def corrections_of(job: TrainJob) -> list[TrainExample]:
    """The examples that teach something new (they have a rejected suggestion), rated ones before
    implicit ones (the user's own words outrank what typing over a suggestion implies), else all."""
    rated = [e for e in job.examples if e.rejected is not None and not e.implicit]
    corrected = rated or [e for e in job.examples if e.rejected is not None]
    chosen = corrected or list(job.examples)
    unique = {(e.prompt, e.target): e for e in chosen}
    return list(unique.values())[-MAX_EVALUATED_CORRECTIONS:]


LEARNT_CHECKS = {"corrections", "your lines"}
"""The checks that say whether it learnt; the others are forgetting checks, which a weaker
strength can pass where the full one failed (a weaker strength cannot pass these)."""


def learnt(evaluation: Evaluation) -> bool:
    """Whether no check that says it learnt has failed (only forgetting checks, if any)."""
    return not LEARNT_CHECKS & set(evaluation.failed_checks)

CLOSE_RATIO = 0.75
"""A first line this similar to the correction (difflib's ratio) counts as having learnt it..."""


def close_to(got: str, wanted: str, rejected: str | None) -> bool:
    """Whether ``got`` is the correction, or close to it and closer than the rejected suggestion was.

    Ten corrections teach a habit, not ten exact lines: ``log.info("saving user %s", user)``
    for ``log.info("saving user %s", user.id)`` has learnt what the user taught. Being closer
    than the rejected suggestion keeps a near-miss the base model already made from counting.
    """
    import difflib

    if not wanted:
        return False
    if got == wanted:
        return True
    ratio = difflib.SequenceMatcher(None, got, wanted).ratio()
    before = difflib.SequenceMatcher(None, first_line(rejected or ""), wanted).ratio() if rejected is not None else 0.0
    return ratio >= CLOSE_RATIO and ratio > before


def count_reproduced(loaded: "LoadedModel", examples: list[TrainExample]) -> int:
    """How many examples the model now completes with (or close to, ``close_to``) the first line
    of their target: each completed greedily as the server would, all in one batch."""
    budgets = [len(loaded.tokenizer(e.target, add_special_tokens=False)["input_ids"]) + 8 for e in examples]
    completions = greedy_completions(loaded, [e.prompt for e in examples], budgets)
    return sum(close_to(first_line(got), first_line(e.target), e.rejected) for got, e in zip(completions, examples))


def held_out_loss(loaded: "LoadedModel", examples: list[TrainExample], max_tokens: int = 512) -> float | None:
    """Mean per-example target loss of ``examples`` under ``loaded.model`` (None without examples)."""
    import torch

    if not examples:
        return None
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    losses = []
    with torch.no_grad():
        for example in examples:
            pacing.pace()
            encoded = encode_example(loaded.tokenizer, example.prompt, example.target, max_tokens)
            batch = pad_batch([encoded], pad_id, loaded.device)
            logits = loaded.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            losses.append(float(target_loss(logits, batch["labels"])))
    return sum(losses) / len(losses)


def losses_off_and_on(loaded: "LoadedModel", examples: list[TrainExample], max_tokens: int) -> tuple[float | None, float | None]:
    """``held_out_loss`` of ``examples`` with the adapter disabled and enabled (None, None without examples)."""
    if not examples:
        return None, None
    with loaded.model.disable_adapter():
        off = held_out_loss(loaded, examples, max_tokens)
    return off, held_out_loss(loaded, examples, max_tokens)


def lines_verdict(before: float, after: float, count: int) -> str | None:
    """Why an adapter taught by implicit feedback alone has not learnt (None: it has): it must
    predict the ``count`` lines the user typed, and it was not trained on, better than the base
    model does (a lower mean loss, ``before`` with the adapter off, ``after`` with it on)."""
    if after < before:
        return None
    return (
        f"your lines: it predicts {count} lines you typed (not trained on) no better than the base model "
        f"(loss {before:.3f} -> {after:.3f})"
    )


def held_out_bound(before: float) -> float:
    """The highest acceptable held-out loss after training, given the loss before."""
    return before * (1 + HELD_OUT_RELATIVE_BOUND) + HELD_OUT_ABSOLUTE_SLACK


def evaluate(
    loaded_with_adapter: "LoadedModel", job: TrainJob, base: "gate.Figures | None" = None, progress: Callable[[str], None] = lambda m: None,
    first_failure: bool = False, memo: dict | None = None,
) -> Evaluation:
    """Judge the adapter active on ``loaded_with_adapter.model`` (a PEFT model) against ``job``.

    Passed when the model reproduces more than half of the corrections (with validation lines,
    ``TrainJob.validation``: when it predicts those better than the base model), the held-out loss
    stays within ``held_out_bound`` of its value with the adapter disabled, and, with the base
    model's gate figures ``base``, the pass@1, general prompts and your-files checks of ``gate``
    pass. With ``first_failure`` the forgetting checks stop at the first that fails (cheapest
    first): enough to know that a weaker strength must be tried (unless the corrections
    failed: no weaker strength is tried then, and every check runs for the verdict). ``memo`` keeps the base model's
    side of the your-files check between evaluations of one training (it does not change).
    """
    model = loaded_with_adapter.model
    progress("corrections reproduced")
    corrections = corrections_of(job)
    reproduced = count_reproduced(loaded_with_adapter, corrections)
    before, after = losses_off_and_on(loaded_with_adapter, job.held_out, job.config.max_tokens)
    reasons, failed = [], []
    validation_before = validation_after = None
    if job.validation:
        progress(f"your lines ({len(job.validation)})")
        validation_before, validation_after = losses_off_and_on(loaded_with_adapter, job.validation, job.config.max_tokens)
        reason = lines_verdict(validation_before, validation_after, len(job.validation))
        if reason:
            failed.append("your lines")
            reasons.append(reason)
    elif reproduced * 2 <= len(corrections):
        failed.append("corrections")
        reasons.append(f"corrections: it comes close to only {reproduced} of {len(corrections)} corrections it was trained on")
    if before is not None and after is not None and after > held_out_bound(before):
        failed.append("held-out loss")
        reasons.append(
            f"held-out loss: it raises the loss on {len(job.held_out)} kept suggestions from {before:.3f} to {after:.3f} "
            f"(bound {held_out_bound(before):.3f}): it would change completions you were happy with"
        )
    evaluation = Evaluation(False, reproduced, len(corrections), before, after, reasons, failed,
                            validation_loss_before=validation_before, validation_loss_after=validation_after)
    probe = first_failure and learnt(evaluation)  # it did not learn: no weaker try follows, this verdict is final
    if base is not None and not (probe and failed):
        forgetting_checks(loaded_with_adapter, job, base, evaluation, progress, probe, {} if memo is None else memo)
    evaluation.passed = not evaluation.reasons
    return evaluation


def forgetting_checks(
    loaded: "LoadedModel", job: TrainJob, base: "gate.Figures", evaluation: Evaluation, progress: Callable[[str], None],
    first_failure: bool = False, memo: dict | None = None,
) -> None:
    """The gate's pass@1, general-prompt and your-files checks, cheapest first, recorded into
    ``evaluation``; with ``first_failure``, none after the first that fails."""
    started = time.perf_counter()
    memo = {} if memo is None else memo
    for check in (pass_check, general_check, file_check):
        check(loaded, job, base, evaluation, progress, memo)
        if first_failure and evaluation.reasons:
            break
    evaluation.gate_seconds = time.perf_counter() - started


def pass_check(loaded: "LoadedModel", job: TrainJob, base: "gate.Figures", evaluation: Evaluation, progress: Callable[[str], None], memo: dict) -> None:
    """pass@1 on the gate's HumanEval tasks the base model passes."""
    tasks = gate.gate_tasks(job.config.gate_tasks)
    if not tasks:
        return
    _, passed = gate.task_outcomes(loaded, tasks, progress, base)
    evaluation.pass_before, evaluation.pass_after, evaluation.pass_total = base.pass_count, sum(passed.values()), len(tasks)
    reason = gate.pass_verdict(base.pass_count, evaluation.pass_after, len(tasks))
    if reason:
        evaluation.failed_checks.append("pass@1")
        evaluation.reasons.append(reason)


def general_check(loaded: "LoadedModel", job: TrainJob, base: "gate.Figures", evaluation: Evaluation, progress: Callable[[str], None], memo: dict) -> None:
    """The general prompts keep the base model's first lines, and none turns wrong."""
    prompts = gate.GENERAL_PROMPTS[: job.config.gate_general_prompts]
    if not prompts:
        return
    progress(f"general prompts ({len(prompts)})")
    adapted = gate.general_completions(loaded, prompts)
    wrong = gate.turned_wrong(prompts, base.general, adapted, base.margins or None)
    kept, changes, reason = gate.general_verdict(prompts, base.general, adapted, wrong=wrong)
    evaluation.general_kept, evaluation.general_total, evaluation.general_changed = kept, len(prompts), changes[:8]
    if reason:
        evaluation.failed_checks.append("general prompts")
        evaluation.reasons.append(reason)


def file_check(loaded: "LoadedModel", job: TrainJob, base: "gate.Figures", evaluation: Evaluation, progress: Callable[[str], None], memo: dict) -> None:
    """General functions placed in the files the examples come from keep their first lines."""
    in_file = gate.in_file_prompts([c for c in (file_context(loaded, e.prompt) for e in reversed(job.examples)) if c])
    if not in_file or job.config.gate_general_prompts <= 0:
        return
    progress(f"functions in your files ({len(in_file)})")
    placed, bare = [p for p, _ in in_file], [b for _, b in in_file]
    key = ("your files", tuple(placed))
    if key not in memo:
        with loaded.model.disable_adapter():
            before = gate.general_completions(loaded, placed)
            memo[key] = before, gate.general_margins(loaded, placed, before)
    before, margins = memo[key]
    after = gate.general_completions(loaded, placed)
    wrong = gate.turned_wrong(bare, before, after, margins)
    kept, changes, reason = gate.general_verdict(placed, before, after, "your files", wrong)
    evaluation.file_kept, evaluation.file_total, evaluation.file_changed = kept, len(in_file), changes[:8]
    if reason:
        evaluation.failed_checks.append("your files")
        evaluation.reasons.append(reason)
