"""LoRA training on weighted feedback: the job description, the data encoding, the losses, the loop.

One step draws ``batch_size`` examples with probability proportional to their weight and
minimises, in one forward pass:

- the target loss: cross-entropy on the tokens the model should produce (the correction, or
  the kept suggestion) and on nothing else;
- the anchor loss: KL divergence from the base model (the same weights with the adapter
  disabled) on generic code prompts and the base model's own greedy completions of them,
  generated at the start of training; this is what keeps unrelated completions unchanged;
- the rejection loss: unlikelihood of the first token of a rejected suggestion where it
  departs from the correction.

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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import msgspec

from finch_lsp.learning.evaluation import Evaluation, evaluate, split_for_healing

if TYPE_CHECKING:
    import torch

    from finch_lsp.models import LoadedModel

IGNORE = -100
"""Label of a position that carries no target loss."""

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

    epochs: int = 8
    """Passes over the examples; one pass is ceil(len(examples) / batch_size) steps."""
    batch_size: int = 4
    """Examples per step, drawn with probability proportional to weight."""
    learning_rate: float = 1e-3
    """AdamW learning rate (constant)."""
    rank: int = 16
    """LoRA rank."""
    alpha: int = 32
    """LoRA alpha (scaling alpha / rank)."""
    max_steps: int | None = 24
    """Upper bound on steps whatever the buffer size (None: epochs decide alone)."""
    seed: int = 0
    """Seeds adapter initialisation and sampling: the same job gives the same adapter."""
    target_modules: list[str] = msgspec.field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    """Linear layers that get LoRA matrices (the attention projections)."""
    anchor_weight: float = 1.0
    """Weight of the KL term toward the base model on anchor prompts (0 turns it off)."""
    anchor_batch: int = 4
    """Anchor sequences per step (cycled through the anchor set)."""
    anchor_prompts: int = 16
    """How many of ANCHOR_PROMPTS to complete with the base model and anchor on."""
    anchor_new_tokens: int = 16
    """Length bound of the base model's anchor completions."""
    anchor_on_prompt: bool = True
    """Also anchor the prompt positions of the anchor sequences, not just their completions."""
    replay_weight: float = 0.0
    """Weight of plain cross-entropy on the base model's anchor completions (0 turns it off)."""
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


def anchor_kl(logits: "torch.Tensor", base_logits: "torch.Tensor", positions: "torch.Tensor") -> "torch.Tensor":
    """Mean KL(base || adapted) over the next-token distributions at ``positions`` (a bool mask)."""
    import torch.nn.functional as F

    adapted = F.log_softmax(logits[positions].float(), dim=-1)
    base = F.log_softmax(base_logits[positions].float(), dim=-1)
    return F.kl_div(adapted, base, log_target=True, reduction="batchmean")


def unlikelihood(logits: "torch.Tensor", rejected: list[tuple[int, int, int]]) -> "torch.Tensor":
    """Mean of -log(1 - p(token)) at (row, position, token) triples: pushes rejected tokens down."""
    import torch

    terms = []
    for row, position, token in rejected:
        p = torch.softmax(logits[row, position].float(), dim=-1)[token]
        terms.append(-torch.log1p(-p.clamp(max=1 - 1e-6)))
    return torch.stack(terms).mean()


def anchor_prompt_text(loaded: "LoadedModel", prefix: str) -> str:
    """``prefix`` as the server would prompt this model with it (FIM with an empty suffix, or plain)."""
    if loaded.fim is None:
        return prefix
    return f"{loaded.fim.prefix}{prefix}{loaded.fim.suffix}{loaded.fim.middle}"


def base_completions(loaded: "LoadedModel", prompts: list[str], max_new_tokens: int) -> list[str]:
    """The base model's greedy first line for each prompt, generated in one left-padded batch."""
    import torch

    tokenizer = loaded.tokenizer
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    pad_id = loaded.stop_token_ids[0] if loaded.stop_token_ids else 0
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=loaded.device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=loaded.device)
    with torch.no_grad():
        out = loaded.model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
            eos_token_id=loaded.stop_token_ids or None, pad_token_id=pad_id,
        )
    texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return [_first_line_of_completion(t) for t in texts]


def _first_line_of_completion(text: str) -> str:
    """The completion up to the end of its first non-empty line (leading newlines kept)."""
    body = text.lstrip("\n")
    return text[: len(text) - len(body)] + body.split("\n", 1)[0]


def anchor_sequences(loaded: "LoadedModel", config: TrainConfig) -> list[EncodedSequence]:
    """Generic prompts with the base model's own greedy completions (labels on the completion)."""
    prompts = [anchor_prompt_text(loaded, p) for p in ANCHOR_PROMPTS[: config.anchor_prompts]]
    completions = base_completions(loaded, prompts, config.anchor_new_tokens)
    return [
        encode_example(loaded.tokenizer, prompt, completion, config.max_tokens)
        for prompt, completion in zip(prompts, completions)
        if completion.strip()
    ]


def _anchor_positions(batch: dict, rows: slice, on_prompt: bool) -> "torch.Tensor":
    """Positions of the anchor rows whose next-token distributions are held to the base model."""
    import torch

    positions = torch.zeros_like(batch["attention_mask"], dtype=torch.bool)
    mask = batch["attention_mask"][rows].bool()
    predicts_label = torch.zeros_like(mask)
    predicts_label[:, :-1] = batch["labels"][rows][:, 1:] != IGNORE
    positions[rows] = mask if on_prompt else predicts_label
    return positions


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

    batch = pad_batch(examples + anchors, pad_id, device)
    n = len(examples)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss_target = target_loss(logits[:n], batch["labels"][:n])
    loss = loss_target
    loss_anchor = torch.zeros(())
    if anchors and config.anchor_weight > 0:
        with torch.no_grad(), model.disable_adapter():
            base_logits = model(input_ids=batch["input_ids"][n:], attention_mask=batch["attention_mask"][n:]).logits
        positions = _anchor_positions(batch, slice(n, None), config.anchor_on_prompt)
        loss_anchor = anchor_kl(logits[n:], base_logits, positions[n:])
        loss = loss + config.anchor_weight * loss_anchor
    if anchors and config.replay_weight > 0:
        loss = loss + config.replay_weight * target_loss(logits[n:], batch["labels"][n:])
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
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=0.0,
        target_modules=list(config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


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
    tokenizer = loaded.tokenizer
    encoded = [encode_example(tokenizer, e.prompt, e.target, config.max_tokens, e.rejected) for e in job.examples]
    anchors = anchor_sequences(loaded, config) if config.anchor_weight > 0 or config.replay_weight > 0 else []
    model = attach_lora(loaded.model, config)
    steps = count_steps(len(encoded), config)
    per_epoch = max(1, math.ceil(len(encoded) / config.batch_size))
    batches = weighted_batches([e.weight for e in job.examples], config.batch_size, steps, config.seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate, weight_decay=0.0)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.train()
    losses = []
    for step, indices in enumerate(batches):
        anchor_rows = [anchors[(step * config.anchor_batch + k) % len(anchors)] for k in range(config.anchor_batch)] if anchors else []
        parts = training_step(model, optimizer, [encoded[i] for i in indices], anchor_rows, config, pad_id, loaded.device)
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
