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
from finch_lsp.learning.training import pacing
from finch_lsp.learning.training.data import IGNORE, EncodedSequence, pad_batch

if TYPE_CHECKING:
    import torch

BASE_RECORD_BYTES = 512 * 2**20
"""Most memory spent on recorded base distributions; past it they are recomputed every step."""


def target_loss(logits: "torch.Tensor", labels: "torch.Tensor") -> "torch.Tensor":
    """Cross-entropy on labelled positions of whole-sequence logits (``picked_target_loss``'s rule)."""
    needed = [target_positions(row) for row in labels.tolist()]
    return picked_target_loss(Picked.from_full(logits, needed), labels.tolist(), range(len(needed)))


def target_positions(labels: list[int]) -> list[int]:
    """Positions whose logits predict a labelled token (position t predicts token t + 1)."""
    return [t for t in range(len(labels) - 1) if labels[t + 1] != IGNORE]


class Picked:
    """Logits at the positions a step's losses read, packed ``[N, vocab]``.

    Row ``r``'s positions are ``needed[r]``; ``at(r, positions)`` gives their rows of ``logits``.
    Computing the vocabulary projection only there, instead of at every position of every row,
    is most of a step's memory and a good part of its time: a 49k-token vocabulary costs more
    than a small model's layers at each position.
    """

    def __init__(self, logits: "torch.Tensor", needed: list[list[int]]) -> None:
        self.logits = logits
        self._index = {key: i for i, key in enumerate(zip(*self.flat(needed)))}

    @classmethod
    def from_keys(cls, logits: "torch.Tensor", keys: list[tuple[int, int]]) -> "Picked":
        """Rows of ``logits`` at the (row, position) ``keys``, in that order."""
        picked = cls.__new__(cls)
        picked.logits, picked._index = logits, {key: i for i, key in enumerate(keys)}
        return picked

    @staticmethod
    def flat(needed: list[list[int]]) -> tuple[list[int], list[int]]:
        """(rows, positions) of every distinct needed position, in ``Picked``'s order."""
        seen: dict[tuple[int, int], None] = {}
        for row, positions in enumerate(needed):
            for p in positions:
                seen.setdefault((row, p), None)
        return [r for r, _ in seen], [p for _, p in seen]

    @classmethod
    def from_full(cls, logits: "torch.Tensor", needed: list[list[int]]) -> "Picked":
        rows, positions = cls.flat(needed)
        return cls(logits[rows, positions], needed)

    def at(self, row: int, positions: list[int]) -> "torch.Tensor":
        return self.logits[[self._index[(row, p)] for p in positions]]


def pick_logits(model, batch: dict, needed: list[list[int]]) -> Picked:
    """The model's logits at ``needed`` positions of ``batch``'s rows only.

    The transformer runs on the whole batch; the output projection only on the needed hidden
    states. Models whose logits are more than that projection (scaled or soft-capped) get the
    whole forward pass, then the needed positions.
    """
    states, project = _needed_states(model, batch, needed)
    return Picked(project(states) if project is not None else states, needed)


def _needed_states(model, batch: dict, needed: list[list[int]]):
    """(states at ``needed`` in ``Picked.flat`` order, the projection to logits or None when they are logits)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    body = getattr(base, base.base_model_prefix, None)
    rows, positions = Picked.flat(needed)
    if body is None or getattr(config, "logits_scaling", None) not in (None, 1.0) or getattr(config, "final_logit_softcapping", None):
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits[rows, positions], None
    hidden = body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).last_hidden_state
    return hidden[rows, positions], base.get_output_embeddings()


GROUP_OVERHEAD_TOKENS = 32
"""What one more forward pass costs, in token positions: layer calls and small matrix products."""


def length_groups(lengths: list[int], overhead: int = GROUP_OVERHEAD_TOKENS) -> list[list[int]]:
    """Row indices grouped so that padding each group to its longest row costs least.

    One padded batch computes every row at the longest row's length; sequences of 9 to 98
    tokens made 1.7x the work of their real tokens in a training step. Rows sorted by length
    are cut into runs, each costing its size times its longest length plus ``overhead``; the
    cheapest cut is found exactly (n is a batch: a dozen rows).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cheapest cost of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            cost = best[i] + (j - i) * lengths[order[j - 1]] + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]


def pick_rows(model, rows: list[EncodedSequence], needed: list[list[int]], pad_id: int, device) -> Picked:
    """``pick_logits`` of ``rows`` (unpadded), run as groups of similar length (``length_groups``).

    The same logits as one padded batch (each row attends to itself only), for less work; the
    output projection still runs once, on every group's needed states together.
    """
    import torch

    keys, parts, project = [], [], None
    for group in length_groups([len(r.input_ids) for r in rows]):
        local = [needed[i] for i in group]
        states, project = _needed_states(model, pad_batch([rows[i] for i in group], pad_id, device), local)
        local_rows, positions = Picked.flat(local)
        keys.extend((group[r], p) for r, p in zip(local_rows, positions))
        parts.append(states)
    states = torch.cat(parts) if parts else torch.zeros((0,))
    return Picked.from_keys(project(states) if project is not None else states, keys)


def picked_target_loss(picked: Picked, labels: list[list[int]], rows) -> "torch.Tensor":
    """Cross-entropy on labelled positions, averaged per sequence then over sequences.

    Per-sequence averaging keeps a long correction from outweighing a short one: weighting is
    the sampler's job.
    """
    import torch
    import torch.nn.functional as F

    per_sequence = []
    for row in rows:
        positions = target_positions(labels[row])
        if positions:
            targets = torch.tensor([labels[row][t + 1] for t in positions], device=picked.logits.device)
            per_sequence.append(F.cross_entropy(picked.at(row, positions).float(), targets))
    return torch.stack(per_sequence).mean() if per_sequence else picked.logits.sum() * 0


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


def held_kl(picked: Picked, rows: list[EncodedSequence], base: Picked | None) -> "torch.Tensor":
    """Mean KL(base || adapted) over the held positions of ``rows`` (batch rows, in order).

    Base log-probabilities come from each row's recording (whole, or top tokens: ``sparse_kl``),
    else from ``base`` (the same positions with the adapter disabled).
    """
    import torch
    import torch.nn.functional as F

    terms = []
    for row, seq in enumerate(rows):
        if not seq.held:
            continue
        adapted = F.log_softmax(picked.at(row, seq.held).float(), dim=-1)
        if isinstance(seq.base_logprobs, tuple):
            terms.append(sparse_kl(adapted, *seq.base_logprobs))
        else:
            recorded = seq.base_logprobs.float() if seq.base_logprobs is not None else F.log_softmax(base.at(row, seq.held).float(), dim=-1)
            terms.append((recorded.exp() * (recorded - adapted)).sum(-1))
    if not terms:
        return picked.logits.sum() * 0
    return torch.cat(terms).mean()


def unlikelihood(picked: Picked, rejected: list[tuple[int, int, int]]) -> "torch.Tensor":
    """Mean of -log(1 - p(token)) at (row, position, token) triples: pushes rejected tokens down."""
    import torch

    terms = []
    for row, position, token in rejected:
        p = torch.softmax(picked.at(row, [position])[0].float(), dim=-1)[token]
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
    by_length = sorted(sequences, key=lambda s: len(s.input_ids))  # chunks of similar length: little padding
    with torch.no_grad():
        for start in range(0, len(by_length), 8):
            pacing.pace()
            chunk = by_length[start : start + 8]
            batch = pad_batch(chunk, pad_id, device)
            picked = pick_logits(model, batch, [s.held for s in chunk])
            for row, seq in enumerate(chunk):
                if not seq.held:
                    seq.base_logprobs = None
                    continue
                logprobs = F.log_softmax(picked.at(row, seq.held).float(), dim=-1)
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
    n = len(examples)
    labels = [seq.labels for seq in rows]
    needed = [
        sorted(set(seq.held) | (set(target_positions(seq.labels)) if row < n else set()) | ({seq.rejected_at[0]} if row < n and seq.rejected_at else set()))
        for row, seq in enumerate(rows)
    ]
    picked = pick_rows(model, rows, needed, pad_id, device)
    loss_target = picked_target_loss(picked, labels, range(n))
    loss = loss_target
    loss_anchor = torch.zeros(())
    if config.anchor_weight > 0 and any(seq.held for seq in rows):
        base = None
        if any(seq.held and seq.base_logprobs is None for seq in rows):
            with torch.no_grad(), model.disable_adapter():
                base = pick_rows(model, rows, needed, pad_id, device)
        loss_anchor = held_kl(picked, rows, base)
        loss = loss + config.anchor_weight * loss_anchor
    rejected = [(row, *seq.rejected_at) for row, seq in enumerate(examples) if seq.rejected_at]
    loss_rejection = unlikelihood(picked, rejected) if rejected and config.unlikelihood_weight > 0 else torch.zeros(())
    loss = loss + config.unlikelihood_weight * loss_rejection
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return StepLosses(loss.item(), loss_target.item(), loss_anchor.item(), loss_rejection.item())
