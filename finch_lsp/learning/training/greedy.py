"""Greedy generation in the trainer child, as the server generates: healed, first line only.

Training completes its anchor prompts with the base model before the adapter exists;
evaluation completes the corrected prompts with the adapter on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finch_lsp.completion import selective
from finch_lsp.completion.generate import generate, heal_prompt, token_index
from finch_lsp.completion.postprocess import first_line_complete, first_line_of_completion
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
    """The greedy first line of ``loaded``'s model as it is now for each prompt, in one batch
    (the base model's while training prepares anchors; selective with a judged adapter)."""
    if not prompts:
        return []
    texts = first_lines_batch(loaded, prompts, [""] * len(prompts), [max_new_tokens] * len(prompts), first_line_complete)
    return [first_line_of_completion(t) for t in texts]


def greedy_completions(loaded: "LoadedModel", prompts: list[str], budgets: list[int]) -> list[str]:
    """``greedy_completion`` of each prompt (healed, single line, at most ``budgets[i]`` tokens), in one batch."""
    if not prompts:
        return []
    healed = [heal_prompt(loaded.tokenizer, p) for p in prompts]
    return first_lines_batch(loaded, [k for k, _ in healed], [r for _, r in healed], budgets, lambda text: bool(text.strip()) and first_line_complete(text))


def first_lines_batch(loaded: "LoadedModel", prompts: list[str], removed: list[str], budgets: list[int], finished) -> list[str]:
    """Greedy texts after ``prompts`` in one left-padded batch, as ``generate`` makes them one by one:
    the first tokens of row ``i`` spell ``removed[i]`` (token healing; it is cut from the text), and
    the row stops at a stop token, at ``budgets[i]`` tokens, or once ``finished(text)``.

    A row leaves the batch as soon as it stops: first lines are 2-19 tokens of a 24-token bound,
    so the batch runs a third of the row-steps a fixed-length batch would. With a judged adapter
    every prompt is a pair of rows, base and adapted (``selective``); both leave together.
    """
    import torch
    from transformers import DynamicCache, LogitsProcessorList

    tokenizer, pad_id = loaded.tokenizer, pad_token_id(loaded)
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=loaded.device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=loaded.device)
    ids, mask, paired, selecting = selective.pair(loaded, ids, mask)
    processors = LogitsProcessorList([pacing.processor(), *selecting])
    names = paired.get("adapter_names")
    copies = ids.shape[0] // len(rows)  # 2 when paired: the base rows, then the adapted rows
    stops = set(loaded.stop_token_ids or ())
    index = token_index(tokenizer)
    remaining = list(removed)  # what healing still has to spell, per prompt
    active = list(range(len(rows)))  # the prompts still generating, in batch order within each copy
    produced: list[list[int]] = [[] for _ in rows]
    cache = DynamicCache(config=loaded.model.config)
    history = step_ids = ids
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)  # as ``generate`` numbers left-padded rows

    def text_of(prompt: int) -> str:
        text = tokenizer.decode([t for t in produced[prompt] if t not in stops], skip_special_tokens=True)
        cut = removed[prompt]
        return text[len(cut):] if cut and text.startswith(cut) else text

    with torch.no_grad():
        for _ in range(max(budgets)):
            extra = {"adapter_names": names} if names is not None else {}
            logits = loaded.model(input_ids=step_ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=1, **extra).logits
            scores = logits[:, -1, :].float()
            for k, prompt in enumerate(active):  # healing, as ``generate``'s processor does it
                allowed = [i for i in index.compatible(remaining[prompt]) if i < scores.shape[-1]] if remaining[prompt] else []
                if not allowed:
                    remaining[prompt] = ""
                    continue
                rows_of = [k + c * len(active) for c in range(copies)]
                masked = torch.full_like(scores[rows_of], float("-inf"))
                masked[:, allowed] = 0
                scores[rows_of] += masked
            chosen = processors(history, scores).argmax(-1)
            keep = []
            for k, prompt in enumerate(active):
                token = int(chosen[k])
                produced[prompt].append(token)
                last = index.text_of.get(token, "")
                remaining[prompt] = remaining[prompt][len(last):] if remaining[prompt].startswith(last) else ""
                if token not in stops and len(produced[prompt]) < budgets[prompt] and not finished(text_of(prompt)):
                    keep.append(k)
            if not keep:
                break
            if len(keep) < len(active):
                picked = torch.tensor([k + c * len(active) for c in range(copies) for k in keep], device=ids.device)
                cache.batch_select_indices(picked)
                history, mask, chosen, positions = history[picked], mask[picked], chosen[picked], positions[picked]
                names = [names[i] for i in picked.tolist()] if names is not None else None
                active = [active[k] for k in keep]
            step_ids = chosen[:, None]
            history = torch.cat([history, step_ids], dim=1)
            positions = positions[:, -1:] + 1
            mask = torch.cat([mask, torch.ones_like(step_ids)], dim=1)
    return [text_of(p) for p in range(len(rows))]


def pad_token_id(loaded: "LoadedModel") -> int:
    """The id padding is filled with (never attended to)."""
    if loaded.tokenizer.pad_token_id is not None:
        return loaded.tokenizer.pad_token_id
    return loaded.stop_token_ids[0] if loaded.stop_token_ids else 0
