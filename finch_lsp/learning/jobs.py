"""The training job as the server and the trainer child both see it: plain data, no torch.

The server writes a ``TrainJob`` as JSON for the child (``finch_lsp.learning.training.worker``)
and reads back a ``TrainResult``; both sides decode them with msgspec.
"""

from __future__ import annotations

import msgspec


class TrainExample(msgspec.Struct):
    """One piece of feedback as training data."""

    prompt: str
    """Model input up to the cursor, as the server renders it (prefix-only text or a FIM prompt)."""
    target: str
    """What the model should produce there: the correction, or the kept suggestion."""
    weight: float
    """Sampling weight: critical 10, medium 3, good 1."""
    rejected: str | None = None
    """The suggestion the user rejected (critical, medium): pushed down as a negative."""
    implicit: bool = False
    """Implicit feedback (a suggestion kept, edited or typed over), not a rating."""

class TrainConfig(msgspec.Struct):
    """Training settings. The defaults make the pathlib scenario pass on smollm2-135m, CPU."""

    epochs: int = 6
    """Passes over the examples; one pass is ceil(len(examples) / batch_size) steps."""
    batch_size: int = 4
    """Examples per step, drawn with probability proportional to weight."""
    learning_rate: float = 1e-3
    """AdamW learning rate (constant)."""
    rank: int = 16
    """LoRA rank."""
    alpha: int = 32
    """LoRA alpha (scaling alpha / rank)."""
    max_steps: int | None = 12
    """Upper bound on steps whatever the buffer size (None: epochs decide alone)."""
    seed: int = 0
    """Seeds adapter initialisation and sampling: the same job gives the same adapter."""
    target_modules: list[str] = msgspec.field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    """Linear layers that get LoRA matrices (the attention projections)."""
    anchor_weight: float = 12.0
    """Weight of the KL term that holds next-token distributions to the base model (0: off)."""
    anchor_batch: int = 8
    """Anchor sequences per step (cycled through the anchor set)."""
    anchor_prompts: int = 16
    """How many of ANCHOR_PROMPTS to complete with the base model and hold."""
    context_anchors: int = 0
    """Generic function prompts placed after the examples' own file context and held to the base
    model too, so a habit taught in a file does not spread to the file's other functions (0: off)."""
    code_anchors: int = 32
    """Openings of real functions from Python's standard library held to the base model at every
    position (``training.code_anchors``); they cover where a habit spreads (0: off)."""
    context_code_anchors: int = 64
    """Openings of real functions placed after the examples' file contexts and held there (0: off)."""
    anchor_new_tokens: int = 16
    """Length bound of the base model's anchor completions."""
    held_context_tokens: int = 64
    """Last context positions of each example held to the base model (0: none)."""
    unlikelihood_weight: float = 0.0
    """Weight of the unlikelihood term on rejected suggestions (0 turns it off)."""
    max_tokens: int = 512
    """Longest sequence trained on; longer prompts lose their start."""
    gate_general_prompts: int = 40
    """How many of the gate's general prompts (``training.general``) must keep their completion (0: check off)."""
    gate_tasks: int = 40
    """How many of the gate's shipped HumanEval tasks the base model is measured on (0: check off);
    the adapter is then run on those the base model passes."""
    gate_scales: list[float] = msgspec.field(default_factory=lambda: [0.7, 0.5])
    """Weaker strengths the gate tries, in order, when only its forgetting checks fail ([]: none)."""
    decode_min_shift: float = 0.5
    """Selective decoding (``completion.selective``): nats by which the adapter must raise a
    token's log-probability over the base model's for a completion to take it (0: plain
    adapted decoding). The gate judges the adapter decoded this way, and the server decodes
    it so once it is active."""
    implicit_max_steps: int | None = 36
    """``max_steps`` for a buffer of implicit feedback alone (no rating): each typed line is a
    different fact about the user's code, not one habit repeated, so a larger buffer is seen
    further; the gate's your-lines check judges it (``for_buffer``)."""
    implicit_decode_min_shift: float = 0.3
    """``decode_min_shift`` for a buffer of implicit feedback alone, at most ``decode_min_shift``:
    the user's code moves the whole distribution by a little (typed lines' loss down by a few
    tenths of a nat a token), a rated habit moves its tokens by several nats (``for_buffer``)."""


class TrainJob(msgspec.Struct):
    """Everything the trainer process needs, written by the server as JSON."""

    base_model: str
    device: str
    examples: list[TrainExample]
    output_dir: str
    config: TrainConfig = msgspec.field(default_factory=TrainConfig)
    held_out: list[TrainExample] = msgspec.field(default_factory=list)
    """Kept suggestions not trained on: their loss must not rise much (the forgetting check)."""
    validation: list[TrainExample] = msgspec.field(default_factory=list)
    """Lines the user typed over a suggestion, not trained on, when no rated correction is in the
    buffer: an adapter taught by implicit feedback alone must predict them better than the base
    model does (the gate's ``your lines`` check, in place of ``corrections``)."""
    gate_cache_dir: str | None = None
    """Where the base model's gate figures are cached (the data dir's ``gate``); None: computed every time."""


def for_buffer(job: TrainJob) -> TrainJob:
    """The job as it trains: a buffer of implicit feedback alone (no rating) takes the implicit
    step cap and selective-decoding threshold of its config; any rating keeps the rated ones."""
    config = job.config
    if not job.examples or not all(e.implicit for e in job.examples):
        return job
    shift = min(config.decode_min_shift, config.implicit_decode_min_shift)
    return msgspec.structs.replace(job, config=msgspec.structs.replace(config, max_steps=config.implicit_max_steps, decode_min_shift=shift))


class Evaluation(msgspec.Struct):
    """The verdict on an adapter, shown to the user when it is not activated."""

    passed: bool
    reproduced: int
    """Corrections whose first line the adapted model now produces."""
    total: int
    held_out_loss_before: float | None
    held_out_loss_after: float | None
    reasons: list[str]
    """Why it failed (empty when it passed)."""
    failed_checks: list[str] = msgspec.field(default_factory=list)
    """Names of the checks that failed: ``corrections`` (or ``your lines``), ``held-out loss``, ``general prompts``, ``your files``, ``pass@1``."""
    validation_loss_before: float | None = None
    """Mean loss on ``TrainJob.validation`` with the adapter off..."""
    validation_loss_after: float | None = None
    """...and on (None without validation lines)."""
    general_kept: int | None = None
    """General prompts whose first line the adapter left as the base model completes it."""
    general_total: int = 0
    general_changed: list[str] = msgspec.field(default_factory=list)
    """The general prompts that changed, as ``prompt -> before -> after`` lines (a few)."""
    file_kept: int | None = None
    """General functions placed in the files the examples come from that kept their first line..."""
    file_total: int = 0
    file_changed: list[str] = msgspec.field(default_factory=list)
    pass_before: int | None = None
    """Gate HumanEval tasks the base model passes (greedy)..."""
    pass_after: int | None = None
    """...and how many of those the adapted model still passes (a lower bound of its own count)."""
    pass_total: int = 0
    scale: float = 1.0
    """Strength the adapter is saved at: 1.0, or the weaker one of ``TrainConfig.gate_scales`` that passed."""
    reasons_at_full: list[str] = msgspec.field(default_factory=list)
    """Why it failed at full strength, when a weaker strength passed."""
    gate_seconds: float = 0.0
    """Time the gate took (the adapter side; base figures come from the cache when present)."""


class TrainResult(msgspec.Struct):
    """What training produced, reported back to the server."""

    steps: int
    losses: list[float]
    final_loss: float
    seconds: float
    evaluation: Evaluation
    cpu_seconds: float = 0.0
    """CPU time the trainer spent on ``train_adapter`` (all its threads): what an idle machine would wait."""
