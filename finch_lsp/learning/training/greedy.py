"""Greedy generation in the trainer child, as the server generates: healed, first line only.

Training completes its anchor prompts with the base model before the adapter exists;
evaluation completes the corrected prompts with the adapter on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finch_lsp.completion import selective
from finch_lsp.completion.generate import generate, heal_prompt
from finch_lsp.completion.postprocess import first_line_of_completion
from finch_lsp.learning.training import pacing

if TYPE_CHECKING:
    from finch_lsp.models import LoadedModel


def greedy_completion(loaded: "LoadedModel", prompt: str, max_new_tokens: int) -> str:
    """The first line the model completes ``prompt`` with: greedy, healed, as the server does."""
    kept, removed = heal_prompt(loaded.tokenizer, prompt)
    return generate(loaded, kept, removed, max_new_tokens, single_line=True).text


def anchor_prompt_text(loaded: "LoadedModel", prefix: str) -> str:
    """``prefix`` as the server would prompt this model with it (FIM with an empty suffix, or plain)."""
    if loaded.fim is None:
        return prefix
    return f"{loaded.fim.prefix}{prefix}{loaded.fim.suffix}{loaded.fim.middle}"


def base_completions(loaded: "LoadedModel", prompts: list[str], max_new_tokens: int) -> list[str]:
    """The greedy first line of ``loaded``'s model as it is now for each prompt, in one left-padded
    batch (the base model's while training prepares anchors; selective with a judged adapter)."""
    import torch
    from transformers import LogitsProcessorList

    tokenizer, pad_id = loaded.tokenizer, pad_token_id(loaded)
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=loaded.device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=loaded.device)
    ids, mask, paired, selecting = selective.pair(loaded, ids, mask)
    with torch.no_grad():
        out = loaded.model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
            eos_token_id=loaded.stop_token_ids or None, pad_token_id=pad_id,
            logits_processor=LogitsProcessorList([pacing.processor(), *selecting]), **paired,
        )
    texts = tokenizer.batch_decode(out[: len(rows), width:], skip_special_tokens=True)
    return [first_line_of_completion(t) for t in texts]


def pad_token_id(loaded: "LoadedModel") -> int:
    """The id padding is filled with (never attended to)."""
    if loaded.tokenizer.pad_token_id is not None:
        return loaded.tokenizer.pad_token_id
    return loaded.stop_token_ids[0] if loaded.stop_token_ids else 0
