"""The training objective: target loss, the KL anchor to the base model, unlikelihood, one step.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from finch_lsp.learning.jobs import TrainConfig
from finch_lsp.learning.training.data import IGNORE, EncodedSequence, pad_batch

if TYPE_CHECKING:
    import torch

BASE_RECORD_BYTES = 512 * 2**20
"""Most memory spent on recorded base distributions; past it they are recomputed every step."""


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


TOP_K = 128
"""Base log-probabilities kept per held position: the top ``TOP_K`` tokens and the rest as one bucket."""


def top_k_logprobs(logprobs: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
    """(values, indices) of the ``TOP_K`` most likely tokens per row, values in float16."""
    values, indices = logprobs.topk(min(TOP_K, logprobs.shape[-1]), dim=-1)
    return values.half(), indices


def sparse_kl(adapted_logprobs: "torch.Tensor", base_values: "torch.Tensor", base_indices: "torch.Tensor") -> "torch.Tensor":
    """KL(base || adapted) per row over the base model's top tokens plus one bucket for the rest.

    This is the KL of the two distributions coarsened to TOP_K + 1 outcomes, a lower bound of the
    full KL that is tight where the base model is confident (where a change shows in a completion).
    """
    import torch

    p_log = base_values.float()
    q_log = adapted_logprobs.gather(-1, base_indices)
    p_rest = (1 - p_log.exp().sum(-1)).clamp(min=1e-6)
    q_rest = (1 - q_log.exp().sum(-1)).clamp(min=1e-6)
    return (p_log.exp() * (p_log - q_log)).sum(-1) + p_rest * (torch.log(p_rest) - torch.log(q_rest))


def held_kl(logits: "torch.Tensor", rows: list[EncodedSequence], base_logits: "torch.Tensor | None") -> "torch.Tensor":
    """Mean KL(base || adapted) over the held positions of ``rows`` (batch rows, in order).

    Base log-probabilities come from each row's recording (whole, or top tokens: ``sparse_kl``),
    else from ``base_logits``.
    """
    import torch
    import torch.nn.functional as F

    terms = []
    for row, seq in enumerate(rows):
        if not seq.held:
            continue
        adapted = F.log_softmax(logits[row, seq.held].float(), dim=-1)
        if isinstance(seq.base_logprobs, tuple):
            terms.append(sparse_kl(adapted, *seq.base_logprobs))
        elif seq.base_logprobs is not None:
            base = seq.base_logprobs.float()
            terms.append((base.exp() * (base - adapted)).sum(-1))
        else:
            base = F.log_softmax(base_logits[row, seq.held].float(), dim=-1)
            terms.append((base.exp() * (base - adapted)).sum(-1))
    if not terms:
        return logits.sum() * 0
    return torch.cat(terms).mean()


def unlikelihood(logits: "torch.Tensor", rejected: list[tuple[int, int, int]]) -> "torch.Tensor":
    """Mean of -log(1 - p(token)) at (row, position, token) triples: pushes rejected tokens down."""
    import torch

    terms = []
    for row, position, token in rejected:
        p = torch.softmax(logits[row, position].float(), dim=-1)[token]
        terms.append(-torch.log1p(-p.clamp(max=1 - 1e-6)))
    return torch.stack(terms).mean()


def record_base_distributions(model, sequences: list[EncodedSequence], pad_id: int, device) -> bool:
    """Store the base model's log-probabilities at every sequence's held positions.

    Done once, before the adapter is attached: whole distributions (float16) when they fit in
    BASE_RECORD_BYTES, else each position's top TOP_K tokens (``sparse_kl``), else nothing
    (returns False; the steps then recompute them with the adapter disabled).
    """
    import torch
    import torch.nn.functional as F

    vocab = model.get_output_embeddings().weight.shape[0]
    positions = sum(len(s.held) for s in sequences)
    whole = positions * vocab * 2 <= BASE_RECORD_BYTES
    if not whole and positions * min(TOP_K, vocab) * 10 > BASE_RECORD_BYTES:
        return False
    with torch.no_grad():
        for start in range(0, len(sequences), 8):
            chunk = sequences[start : start + 8]
            batch = pad_batch(chunk, pad_id, device)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            for row, seq in enumerate(chunk):
                if not seq.held:
                    seq.base_logprobs = None
                    continue
                logprobs = F.log_softmax(logits[row, seq.held].float(), dim=-1)
                seq.base_logprobs = logprobs.half() if whole else top_k_logprobs(logprobs)
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
