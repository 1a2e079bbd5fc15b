"""Selective adapter decoding: the adapter's token only where the adapter moved it.

A LoRA adapter trained on one habit moves the model's next-token distribution a lot where the
habit applies (``Item(`` -> ``Item(name=``: several nats) and a little everywhere else. On a
small model many greedy choices are near-ties (``width * height`` leads ``width / height`` by
0.16 nats), so the little moves flip some of them: unrelated completions change, some into
wrong answers. Decoding with both the base model and the adapted model, and taking the adapted
model's greedy token only where the adapter raised its log-probability over the base model's
by at least ``min_shift`` nats, keeps the habit and leaves the near-ties to the base model.

Both run in one batch: each prompt twice, the first copy with the adapter off (peft's mixed
batches, ``adapter_names=["__base__", ...]``), and the logits processor writes the chosen
token into both rows, so the two copies never diverge and their KV caches stay in step.
``min_shift`` is 0 (plain adapted decoding) unless the active adapter was judged with it:
the gate judges exactly what the server will show (``LoadedModel.adapter_min_shift``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finch_lsp.models import LoadedModel

BASE = "__base__"
"""peft's name for "no adapter" in a mixed batch."""


def active_adapter(loaded: "LoadedModel") -> str | None:
    """The adapter selective decoding pairs with the base model, or None (decode as usual)."""
    if getattr(loaded, "adapter_min_shift", 0.0) <= 0 or getattr(loaded.model, "_adapters_disabled", False):
        return None  # off, or inside peft's disable_adapter(): the base model alone
    name = getattr(loaded.model, "active_adapter", None)
    if not isinstance(name, str) or name not in (getattr(loaded.model, "peft_config", None) or {}):
        return None
    return name


def choose(base_logprobs, adapted_logprobs, min_shift: float):
    """Per row, the token to take: the adapted model's greedy token where it is the base model's
    too or the adapter raised its log-probability by at least ``min_shift``; else the base one."""
    import torch

    base_best, adapted_best = base_logprobs.argmax(-1), adapted_logprobs.argmax(-1)
    at = adapted_best[:, None]
    shift = adapted_logprobs.gather(1, at)[:, 0] - base_logprobs.gather(1, at)[:, 0]
    return torch.where((adapted_best == base_best) | (shift >= min_shift), adapted_best, base_best)


def processor(min_shift: float):
    """A logits processor for a paired batch (rows ``[0, n)`` base, ``[n, 2n)`` adapted): both
    rows of a pair get the one token ``choose`` picks, every other token ``-inf``."""
    import torch
    from transformers import LogitsProcessor

    class SelectiveAdapter(LogitsProcessor):
        def __call__(self, input_ids, scores):
            n = scores.shape[0] // 2
            logprobs = torch.log_softmax(scores.float(), dim=-1)
            picked = choose(logprobs[:n], logprobs[n:], min_shift).repeat(2)
            out = torch.full_like(scores, float("-inf"))
            return out.scatter_(1, picked[:, None], 0.0)

    return SelectiveAdapter()


def pair(loaded: "LoadedModel", ids, mask):
    """(ids, mask, extra ``generate`` arguments, processors) for decoding ``ids`` selectively:
    unchanged and empty when selective decoding is off."""
    name = active_adapter(loaded)
    if name is None:
        return ids, mask, {}, []
    n = ids.shape[0]
    return ids.repeat(2, 1), mask.repeat(2, 1), {"adapter_names": [BASE] * n + [name] * n}, [processor(loaded.adapter_min_shift)]
