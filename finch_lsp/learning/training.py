"""LoRA training on weighted feedback: the job description, the data encoding, the losses, the loop.

One step draws ``batch_size`` examples with probability proportional to their weight and
minimises, in one forward pass:

- the target loss: cross-entropy on the tokens the model should produce (the correction, or
  the kept suggestion) and on nothing else;
- the anchor loss: KL divergence from the base model's next-token distributions, held at
  every position of generic code prompts completed by the base model itself (generated at
  the start of training) and at the last positions of each example's own context; this is
  what keeps unrelated completions unchanged. The base distributions are recorded once,
  before the adapter exists (or, past a memory bound, recomputed with the adapter disabled);
- the rejection loss: unlikelihood of the first token of a rejected suggestion where it
  departs from the correction (weight 0 by default: it did not help the held-out measure).

The defaults and the measurements behind them are in docs/learning.md.

Sequences are encoded the way the server generates: the prompt is split by the same token
healing (``finch_lsp.completion.generate.heal_split``), the kept part is the model input and
the removed text plus the target is what the model produces, so training sees exactly the
token boundaries inference sees.

This module imports torch only inside the functions that train, so the server can build jobs
without loading it.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

import msgspec

from finch_lsp.learning.evaluation import Evaluation, anchor_prompt_text, base_completions, evaluate, split_for_healing

if TYPE_CHECKING:
    import torch

    from finch_lsp.models import LoadedModel

IGNORE = -100
"""Label of a position that carries no target loss."""
BASE_RECORD_BYTES = 512 * 2**20
"""Most memory spent on recorded base distributions; past it they are recomputed every step."""

ANCHOR_PROMPTS: list[str] = [
    "def multiply(a, b):\n    return",
    "def perimeter(length, width):\n    return",
    "def say_goodbye(person):\n    return",
    "def is_positive(value):\n    return",
    "def cube(n):\n    return",
    "def count_words(text):\n    return",
    "def maximum(values):\n    return",
    "def is_empty(items):\n    return",
    "def to_upper(s):\n    return",
    "def celsius_to_fahrenheit(c):\n    return",
    "import os\nfrom pathlib import Path\n\ndef join_paths(base, name):\n    return",
    "import os\n\ndef list_files(directory):\n    return",
    "class Stack:\n    def __init__(self):\n        self.items =",
    "for i in range(",
    "numbers = [1, 2, 3, 4]\nsquares =",
    "def fibonacci(n):\n    if n <= 1:\n        return",
]
"""Generic code prompts; their completions are the base model's own, generated at train time."""


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


class TrainResult(msgspec.Struct):
    """What training produced, reported back to the server."""

    steps: int
    losses: list[float]
    final_loss: float
    seconds: float
    evaluation: Evaluation


@dataclass
class EncodedSequence:
    """Token ids and their labels; ``rejected_at`` names where a rejected token is pushed down."""

    input_ids: list[int]
    labels: list[int]
    rejected_at: tuple[int, int] | None = None
    """(position whose logits predict the next token, rejected token id)."""
    held: list[int] = field(default_factory=list)
    """Positions whose next-token distribution the anchor loss holds to the base model."""
    base_logprobs: Any = None
    """The base model's log-probabilities at ``held`` (float16, [len(held), vocab]) once recorded."""


def encode_example(tokenizer, prompt: str, target: str, max_tokens: int = 512, rejected: str | None = None) -> EncodedSequence:
    """Token ids of ``prompt + target`` as the server generates them; labels only on the produced part.

    The prompt is split by token healing into (kept, removed); kept is the input the model is
    given, ``removed + target`` is what it generates. Every token of the generated part
    carries a label (the removed whitespace included: inference constrains those tokens but
    still picks among them); prompt tokens carry IGNORE.
    """
    kept, removed = split_for_healing(tokenizer, prompt)
    prompt_ids = tokenizer(kept, add_special_tokens=False)["input_ids"]
    produced_ids = tokenizer(removed + target, add_special_tokens=False)["input_ids"]
    room = max(1, max_tokens - len(produced_ids))
    prompt_ids = prompt_ids[-room:] if len(prompt_ids) > room else prompt_ids
    produced_ids = produced_ids[: max_tokens - len(prompt_ids)]
    encoded = EncodedSequence(prompt_ids + produced_ids, [IGNORE] * len(prompt_ids) + produced_ids)
    if rejected:
        encoded.rejected_at = _first_rejected_token(tokenizer, removed, rejected, produced_ids, len(prompt_ids))
    return encoded


def _first_rejected_token(tokenizer, removed: str, rejected: str, produced_ids: list[int], start: int):
    """(position, token) where the rejected suggestion first departs from the target, if it does."""
    rejected_ids = tokenizer(removed + rejected, add_special_tokens=False)["input_ids"]
    for k, token in enumerate(rejected_ids):
        if k >= len(produced_ids) or produced_ids[k] != token:
            return (start + k - 1, token) if start + k > 0 and k < len(produced_ids) else None
    return None


def weighted_batches(weights: list[float], batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """``steps`` batches of example indices drawn with replacement, P(i) proportional to weights[i]."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    probabilities = torch.tensor([max(w, 0.0) for w in weights], dtype=torch.float64)
    if probabilities.sum() <= 0:
        probabilities = torch.ones(len(weights), dtype=torch.float64)
    draws = torch.multinomial(probabilities, steps * batch_size, replacement=True, generator=generator)
    return draws.view(steps, batch_size).tolist()


def count_steps(examples: int, config: TrainConfig) -> int:
    """Steps for ``examples`` examples: epochs x batches per epoch, at most ``max_steps``."""
    steps = config.epochs * max(1, math.ceil(examples / config.batch_size))
    return min(steps, config.max_steps) if config.max_steps else steps


def pad_batch(sequences: list[EncodedSequence], pad_id: int, device) -> dict:
    """Right-padded tensors: input_ids, attention_mask, labels."""
    import torch

    width = max(len(s.input_ids) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    labels = torch.full((len(sequences), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        n = len(seq.input_ids)
        ids[row, :n] = torch.tensor(seq.input_ids)
        labels[row, :n] = torch.tensor(seq.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def target_loss(logits: "torch.Tensor", labels: "torch.Tensor") -> "torch.Tensor":
    """Cross-entropy on labelled positions, averaged per sequence then over sequences.

    Per-sequence averaging keeps a long correction from outweighing a short one: weighting is
    the sampler's job.
    """
    import torch.nn.functional as F

    shifted_logits, shifted_labels = logits[:, :-1].float(), labels[:, 1:]
    per_token = F.cross_entropy(shifted_logits.transpose(1, 2), shifted_labels, ignore_index=IGNORE, reduction="none")
    counted = (shifted_labels != IGNORE).float()
    per_sequence = (per_token * counted).sum(1) / counted.sum(1).clamp(min=1)
    return per_sequence[counted.sum(1) > 0].mean() if bool((counted.sum(1) > 0).any()) else per_token.sum() * 0


def held_kl(logits: "torch.Tensor", rows: list[EncodedSequence], base_logits: "torch.Tensor | None") -> "torch.Tensor":
    """Mean KL(base || adapted) over the held positions of ``rows`` (batch rows, in order).

    Base log-probabilities come from each row's recording, else from ``base_logits``.
    """
    import torch
    import torch.nn.functional as F

    adapted, base = [], []
    for row, seq in enumerate(rows):
        if not seq.held:
            continue
        adapted.append(logits[row, seq.held])
        recorded = seq.base_logprobs
        base.append(recorded.float() if recorded is not None else F.log_softmax(base_logits[row, seq.held].float(), dim=-1))
    if not adapted:
        return logits.sum() * 0
    adapted_logprobs = F.log_softmax(torch.cat(adapted).float(), dim=-1)
    return F.kl_div(adapted_logprobs, torch.cat(base), log_target=True, reduction="batchmean")


def unlikelihood(logits: "torch.Tensor", rejected: list[tuple[int, int, int]]) -> "torch.Tensor":
    """Mean of -log(1 - p(token)) at (row, position, token) triples: pushes rejected tokens down."""
    import torch

    terms = []
    for row, position, token in rejected:
        p = torch.softmax(logits[row, position].float(), dim=-1)[token]
        terms.append(-torch.log1p(-p.clamp(max=1 - 1e-6)))
    return torch.stack(terms).mean()


def anchor_sequences(loaded: "LoadedModel", config: TrainConfig) -> list[EncodedSequence]:
    """Generic prompts with the base model's own greedy completions (labels on the completion)."""
    prompts = [anchor_prompt_text(loaded, p) for p in ANCHOR_PROMPTS[: config.anchor_prompts]]
    if not prompts:
        return []
    completions = base_completions(loaded, prompts, config.anchor_new_tokens)
    sequences = [
        encode_example(loaded.tokenizer, prompt, completion, config.max_tokens)
        for prompt, completion in zip(prompts, completions)
        if completion.strip()
    ]
    for seq in sequences:
        seq.held = list(range(len(seq.input_ids)))
    return sequences


def hold_context(seq: EncodedSequence, tokens: int) -> None:
    """Hold the last ``tokens`` positions that predict context (not target) tokens of ``seq``."""
    context = [p for p in range(len(seq.input_ids) - 1) if seq.labels[p + 1] == IGNORE]
    seq.held = context[-tokens:] if tokens > 0 else []


def record_base_distributions(model, sequences: list[EncodedSequence], pad_id: int, device) -> bool:
    """Store the base model's log-probabilities at every sequence's held positions.

    Done once, before the adapter is attached. Returns False (nothing stored) when they would
    take more than BASE_RECORD_BYTES; the steps then recompute them with the adapter disabled.
    """
    import torch
    import torch.nn.functional as F

    vocab = model.get_output_embeddings().weight.shape[0]
    if sum(len(s.held) for s in sequences) * vocab * 2 > BASE_RECORD_BYTES:
        return False
    with torch.no_grad():
        for start in range(0, len(sequences), 8):
            chunk = sequences[start : start + 8]
            batch = pad_batch(chunk, pad_id, device)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            for row, seq in enumerate(chunk):
                seq.base_logprobs = F.log_softmax(logits[row, seq.held].float(), dim=-1).half() if seq.held else None
    return True


@dataclass
class StepLosses:
    """The parts of one step's loss, for the log."""

    total: float
    target: float
    anchor: float
    rejection: float


def training_step(model, optimizer, examples: list[EncodedSequence], anchors: list[EncodedSequence], config: TrainConfig, pad_id: int, device) -> StepLosses:
    """One optimiser step on a batch of examples plus a batch of anchor sequences."""
    import torch

    rows = examples + anchors
    batch = pad_batch(rows, pad_id, device)
    n = len(examples)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss_target = target_loss(logits[:n], batch["labels"][:n]) if n else logits.sum() * 0
    loss = loss_target
    loss_anchor = torch.zeros(())
    if config.anchor_weight > 0 and any(seq.held for seq in rows):
        base_logits = None
        if any(seq.held and seq.base_logprobs is None for seq in rows):
            with torch.no_grad(), model.disable_adapter():
                base_logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss_anchor = held_kl(logits, rows, base_logits)
        loss = loss + config.anchor_weight * loss_anchor
    rejected = [(row, *seq.rejected_at) for row, seq in enumerate(examples) if seq.rejected_at]
    loss_rejection = unlikelihood(logits, rejected) if rejected and config.unlikelihood_weight > 0 else torch.zeros(())
    loss = loss + config.unlikelihood_weight * loss_rejection
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return StepLosses(loss.item(), loss_target.item(), loss_anchor.item(), loss_rejection.item())


def attach_lora(model, config: TrainConfig):
    """The model wrapped with a fresh, seeded LoRA adapter on ``config.target_modules``."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0, target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def prepare_sequences(job: TrainJob, loaded: "LoadedModel") -> tuple[list[EncodedSequence], list[EncodedSequence]]:
    """Encoded examples and anchors, their held positions marked and base distributions recorded."""
    config = job.config
    tokenizer = loaded.tokenizer
    examples = [encode_example(tokenizer, e.prompt, e.target, config.max_tokens, e.rejected) for e in job.examples]
    if config.anchor_weight <= 0:
        return examples, []
    anchors = anchor_sequences(loaded, config)
    for seq in examples:
        hold_context(seq, config.held_context_tokens)
    record_base_distributions(loaded.model, examples + anchors, pad_token_id(loaded), loaded.device)
    return examples, anchors


def pad_token_id(loaded: "LoadedModel") -> int:
    """The id padding is filled with (never attended to)."""
    if loaded.tokenizer.pad_token_id is not None:
        return loaded.tokenizer.pad_token_id
    return loaded.stop_token_ids[0] if loaded.stop_token_ids else 0


def train_adapter(job: TrainJob, loaded: "LoadedModel", on_progress: Callable[[dict], None]) -> TrainResult:
    """Train a LoRA adapter on ``job.examples``, evaluate it, and save it into ``job.output_dir``.

    ``on_progress`` gets ``{"epoch", "epochs", "step", "steps", "loss"}`` after every step.
    ``loaded.model`` is wrapped in place (PEFT): the trainer process owns it.
    """
    import torch

    if not job.examples:
        raise ValueError("no training examples: rate a suggestion with a correction first")
    started = time.perf_counter()
    config = job.config
    torch.manual_seed(config.seed)
    examples, anchors = prepare_sequences(job, loaded)
    model = attach_lora(loaded.model, config)
    steps = count_steps(len(examples), config)
    per_epoch = max(1, math.ceil(len(examples) / config.batch_size))
    batches = weighted_batches([e.weight for e in job.examples], config.batch_size, steps, config.seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate, weight_decay=0.0)
    model.train()
    losses = []
    for step, indices in enumerate(batches):
        anchor_rows = [anchors[(step * config.anchor_batch + k) % len(anchors)] for k in range(config.anchor_batch)] if anchors else []
        parts = training_step(model, optimizer, [examples[i] for i in indices], anchor_rows, config, pad_token_id(loaded), loaded.device)
        losses.append(parts.target)
        on_progress({"epoch": min(step // per_epoch + 1, config.epochs), "epochs": config.epochs, "step": step + 1, "steps": steps, "loss": parts.target, "anchor": parts.anchor, "rejection": parts.rejection})
    model.eval()
    evaluation = evaluate(replace(loaded, model=model), job)
    result = TrainResult(steps, losses, losses[-1], time.perf_counter() - started, evaluation)
    save_adapter(model, job, result)
    return result


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
        "config": msgspec.to_builtins(job.config),
        "evaluation": msgspec.to_builtins(result.evaluation),
    }
    with open(os.path.join(job.output_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
