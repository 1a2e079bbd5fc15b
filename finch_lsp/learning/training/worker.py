"""The trainer process: ``python -m finch_lsp.learning.training.worker JOB_JSON_PATH``.

The server spawns it (never forks it) so that training cannot crash the server, gives its
memory back when it ends, and runs at lower priority; while anything else on the machine uses
the CPU (the server's completions, a build) it trains on one thread fewer than the machine
has, leaving that a core, and on every core otherwise (``pacing``).

It reads a ``TrainJob`` (JSON), loads the base model, trains, evaluates and saves the adapter
into ``job.output_dir``. Started as ``worker --wait MODEL DEVICE`` (``TrainerProcess.prepare``,
one rating before the threshold) it imports torch and loads the model first, then reads the
job's path as one line on stdin; at the end of stdin without one it exits 0 and says nothing.
Its stdout carries one JSON object per line and nothing else:

    {"event": "progress", "epoch": 2, "epochs": 6, "step": 3, "steps": 12, "loss": 0.91, "threads": 1, ...}
    {"event": "done", "result": {TrainResult}}
    {"event": "error", "message": "..."}          (then exit code 1)

Logging and library chatter go to stderr.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import sys
import time
from typing import TYPE_CHECKING, Callable, TextIO

import msgspec

from finch_lsp.cpu import Pacer
from finch_lsp.learning.child import WAIT_ARG, WORKER_MODULE, die_with_parent, idle_train_threads, train_threads
from finch_lsp.learning.jobs import TrainConfig, TrainJob, TrainResult, for_buffer
from finch_lsp.learning.training.data import EncodedSequence, anchor_sequences, count_steps, encode_example, hold_context, weighted_batches
from finch_lsp.learning.training import gate, pacing
from finch_lsp.learning.training.evaluation import evaluate, learnt
from finch_lsp.learning.training.greedy import pad_token_id
from finch_lsp.learning.training.losses import record_base_distributions, training_step

if TYPE_CHECKING:
    from finch_lsp.models import LoadedModel

log = logging.getLogger("finch_lsp.train_worker")

NICENESS = 10


def lower_priority() -> None:
    """Make the process nicer than the server, so completions win the CPU."""
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError) as exc:
        log.info("could not lower the trainer's priority: %s", exc)


class EventWriter:
    """Writes one JSON object per line to the server and flushes each."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.encoder = msgspec.json.Encoder()

    def send(self, event: str, **fields) -> None:
        line = self.encoder.encode({"event": event, **fields}).decode("utf-8")
        self.stream.write(line + "\n")
        self.stream.flush()


def read_job(path: str):
    """The TrainJob in the JSON file at ``path``."""
    with open(path, "rb") as f:
        return msgspec.json.decode(f.read(), type=TrainJob)


def run(job_path: str, events: EventWriter, ready: tuple[str, str, "LoadedModel"] | None = None) -> None:
    """Load, train, evaluate, save; report through ``events``. ``ready``: the model (its name
    and device) a prepared trainer loaded before its job came, used when the job names it."""
    job = read_job(job_path)
    log.info("training on %d examples with %d thread(s), %d while nothing else uses the CPU; adapter into %s",
             len(job.examples), train_threads(), idle_train_threads(), job.output_dir)
    if ready is not None and ready[:2] == (job.base_model, str(job.device)):
        loaded = ready[2]
    else:
        loaded = load(job.base_model, job.device)

    def on_progress(progress: dict) -> None:
        events.send("progress", **progress)

    result = train_adapter(job, loaded, on_progress)
    events.send("done", result=msgspec.to_builtins(result))


def load(base_model: str, device: str) -> "LoadedModel":
    from finch_lsp.models import load_model

    return load_model(base_model, device, on_progress=lambda message: log.info("%s", message))


def prepared(base_model: str, device: str) -> tuple[str | None, tuple[str, str, "LoadedModel"] | None]:
    """``--wait``: torch imported and ``base_model`` loaded, then the job's path read from stdin
    (None when the server closed it without one). A model that fails to load here is loaded
    again, with its error reported, when the job comes."""
    try:
        ready = (base_model, device, load(base_model, device))
    except Exception:  # noqa: BLE001 - run() loads it again and reports the error as an event
        log.exception("could not load %s before the job came", base_model)
        ready = None
    log.info("ready, waiting for the job")
    line = sys.stdin.readline().strip()
    return (line or None), ready


def attach_lora(model, config: TrainConfig):
    """The model wrapped with a fresh, seeded LoRA adapter on ``config.target_modules``."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0, target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def prepare_sequences(job: TrainJob, loaded: "LoadedModel", steps: int) -> tuple[list[EncodedSequence], list[EncodedSequence]]:
    """Encoded examples and the anchors ``steps`` steps will use (``anchor_batch`` a step, in
    order), their held positions marked and base distributions recorded."""
    config = job.config
    tokenizer = loaded.tokenizer
    examples = [encode_example(tokenizer, e.prompt, e.target, config.max_tokens, e.rejected) for e in job.examples]
    if config.anchor_weight <= 0:
        return examples, []
    anchors = anchor_sequences(loaded, config, [e.prompt for e in job.examples])[: steps * config.anchor_batch]
    for seq in examples:
        hold_context(seq, config.held_context_tokens)
    record_base_distributions(loaded.model, examples + anchors, pad_token_id(loaded), loaded.device)
    return examples, anchors


def train_adapter(job: TrainJob, loaded: "LoadedModel", on_progress: Callable[[dict], None]) -> TrainResult:
    """Train a LoRA adapter on ``job.examples``, evaluate it, and save it into ``job.output_dir``.

    ``on_progress`` gets ``{"epoch", "epochs", "step", "steps", "loss"}`` after every step,
    and ``{"phase": "gate", "message"}`` while the gate's base figures are computed (once per
    model) and while the adapter is judged. ``loaded.model`` becomes the adapted model (PEFT), left
    as saved and decoded selectively as the server will (``adapter_min_shift``): the trainer
    process owns it.
    """
    import torch

    if not job.examples:
        raise ValueError("no training examples: rate a suggestion with a correction first")
    started, cpu_started = time.perf_counter(), time.process_time()
    job = for_buffer(job)
    config = job.config
    torch.manual_seed(config.seed)
    def gate_progress(message: str) -> None:
        on_progress({"phase": "gate", "message": message})

    base = base_gate_figures(job, loaded, gate_progress)
    steps = count_steps(len(job.examples), config)
    examples, anchors = prepare_sequences(job, loaded, steps)
    model = attach_lora(loaded.model, config)
    per_epoch = max(1, math.ceil(len(examples) / config.batch_size))
    batches = weighted_batches([e.weight for e in job.examples], config.batch_size, steps, config.seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate, weight_decay=0.0)
    model.train()
    losses = []
    for step, indices in enumerate(batches):
        pacing.pace()
        anchor_rows = [anchors[(step * config.anchor_batch + k) % len(anchors)] for k in range(config.anchor_batch)] if anchors else []
        parts = training_step(model, optimizer, [examples[i] for i in indices], anchor_rows, config, pad_token_id(loaded), loaded.device)
        losses.append(parts.target)
        on_progress({"epoch": min(step // per_epoch + 1, config.epochs), "epochs": config.epochs, "step": step + 1, "steps": steps, "loss": parts.target, "anchor": parts.anchor, "rejection": parts.rejection,
                     "threads": pacing.threads()})
    model.eval()
    loaded.model, loaded.adapter_min_shift = model, config.decode_min_shift  # as the server will decode it
    evaluation = judge(loaded, job, base, gate_progress)
    result = TrainResult(steps, losses, losses[-1], time.perf_counter() - started, evaluation, time.process_time() - cpu_started)
    save_adapter(model, job, result)
    return result


def scale_adapter(model, factor: float) -> None:
    """Multiply the adapter's update by ``factor`` (its LoRA B matrices; B A is the update)."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(factor)


def judge(loaded: "LoadedModel", job: TrainJob, base, progress: Callable[[str], None]):
    """The gate's evaluation of the adapter on ``loaded.model``, at full strength and, when only
    forgetting checks fail, at the weaker strengths of ``job.config.gate_scales``.

    A weaker adapter (its update scaled down, the base and the trained weights interpolated)
    keeps less of the habit and disturbs less of the rest. The first strength that passes
    every check is kept and saved (``Evaluation.scale``); when none does, the full-strength
    adapter is saved with its verdict.

    While a weaker strength remains to be tried, an evaluation stops at the first forgetting
    check that fails (``evaluate``'s ``first_failure``); when none passes, the full-strength
    adapter is judged again on every check, so its verdict names all that fail.
    """
    memo: dict = {}
    scales = list(job.config.gate_scales)
    evaluation = evaluate(loaded, job, base, lambda m: progress(f"judging the adapter: {m}"), first_failure=bool(scales), memo=memo)
    current = 1.0
    for k, scale in enumerate(scales):
        if evaluation.passed or not learnt(evaluation):  # a weaker adapter cannot learn more
            break
        scale_adapter(loaded.model, scale / current)
        current = scale
        candidate = evaluate(loaded, job, base, lambda m: progress(f"judging the adapter at {scale:.0%} strength: {m}"), first_failure=k + 1 < len(scales), memo=memo)
        candidate.scale = scale
        if candidate.passed:
            candidate.reasons_at_full = evaluation.reasons
            return candidate
    if current != 1.0:  # none passed: the full-strength adapter is kept, judged on every check
        scale_adapter(loaded.model, 1.0 / current)
        evaluation = evaluate(loaded, job, base, lambda m: progress(f"judging the adapter: {m}"), memo=memo)
    return evaluation


def base_gate_figures(job: TrainJob, loaded: "LoadedModel", progress: Callable[[str], None]) -> "gate.Figures | None":
    """The base model's side of the gate (cached per model), or None when both checks are off."""
    config = job.config
    if config.gate_general_prompts <= 0 and config.gate_tasks <= 0:
        return None
    prompts = gate.GENERAL_PROMPTS[: config.gate_general_prompts]
    return gate.base_side(loaded, job.base_model, job.gate_cache_dir, prompts, gate.gate_tasks(config.gate_tasks), progress)


def save_adapter(model, job: TrainJob, result: TrainResult) -> None:
    """adapter_model.safetensors, adapter_config.json and meta.json into ``job.output_dir``."""
    os.makedirs(job.output_dir, exist_ok=True)
    model.save_pretrained(job.output_dir, safe_serialization=True)
    model_card = os.path.join(job.output_dir, "README.md")  # PEFT's generated card: not part of an adapter
    if os.path.exists(model_card):
        os.remove(model_card)
    meta = {
        "examples": len(job.examples),
        "weights": [e.weight for e in job.examples],
        "losses": result.losses,
        "baseModel": job.base_model,
        "createdAt": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 2),
        "cpuSeconds": round(result.cpu_seconds, 2),
        "config": msgspec.to_builtins(job.config),
        "evaluation": msgspec.to_builtins(result.evaluation),
    }
    with open(os.path.join(job.output_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 done, 1 error, 2 bad usage)."""
    argv = sys.argv[1:] if argv is None else argv
    die_with_parent()
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("FINCH_TRAIN_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    events = EventWriter(sys.stdout)
    sys.stdout = sys.stderr  # anything printed by libraries must not reach the event stream
    if not (len(argv) == 1 or (len(argv) == 3 and argv[0] == WAIT_ARG)):
        events.send("error", message=f"usage: python -m {WORKER_MODULE} JOB_JSON_PATH | {WAIT_ARG} MODEL DEVICE (the job's path then on stdin)")
        return 2
    lower_priority()
    pacing.install(Pacer(train_threads(), idle_train_threads()))
    try:
        job_path, ready = prepared(argv[1], argv[2]) if argv[0] == WAIT_ARG else (argv[0], None)
        if job_path is None:
            return 0  # no job came: the server dropped the prepared trainer
        run(job_path, events, ready)
    except Exception as exc:  # noqa: BLE001 - every failure is reported as one error event
        log.exception("training failed")
        events.send("error", message=f"training failed: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
