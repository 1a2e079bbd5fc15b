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
    anchor_weight: float = 4.0
    """Weight of the KL term that holds next-token distributions to the base model (0: off)."""
    anchor_batch: int = 4
    """Anchor sequences per step (cycled through the anchor set)."""
    anchor_prompts: int = 16
    """How many of ANCHOR_PROMPTS to complete with the base model and hold."""
    anchor_new_tokens: int = 16
    """Length bound of the base model's anchor completions."""
    held_context_tokens: int = 64
    """Last context positions of each example held to the base model (0: none)."""
    unlikelihood_weight: float = 0.0
    """Weight of the unlikelihood term on rejected suggestions (0 turns it off)."""
    max_tokens: int = 512
    """Longest sequence trained on; longer prompts lose their start."""

class TrainJob(msgspec.Struct):
    """Everything the trainer process needs, written by the server as JSON."""

    base_model: str
    device: str
    examples: list[TrainExample]
    output_dir: str
    config: TrainConfig = msgspec.field(default_factory=TrainConfig)
    held_out: list[TrainExample] = msgspec.field(default_factory=list)
    """Kept suggestions not trained on: their loss must not rise much (the forgetting check)."""


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


class TrainResult(msgspec.Struct):
    """What training produced, reported back to the server."""

    steps: int
    losses: list[float]
    final_loss: float
    seconds: float
    evaluation: Evaluation
