"""Generation: one completion from a loaded model, with token healing and cancellation.

Token healing: a prompt that ends inside a token (``return `` with the cursor after the
space) would make the model continue from an unusual token boundary. The prompt is backed
off to the last token boundary and the first generated tokens are constrained to start
with (or spell out) the removed text, which is then stripped from the result.
Cancellation is checked at every decoding step.

On CUDA, generation uses a static KV cache (transformers then compiles the decoding step and
replays it as a CUDA graph). The cache is allocated once per model at a bucketed length and
reused by every request, so prompts of any length under the bucket share one compiled graph:
nothing is recompiled or re-recorded per request.
"""

from __future__ import annotations

import bisect
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Hashable

from finch_lsp.completion import selective
from finch_lsp.completion.kvcache import PrefixCache
from finch_lsp.completion.postprocess import first_line_complete
from finch_lsp.completion.prompt import FimMarkers
from finch_lsp.models.loaded import FimTokens

if TYPE_CHECKING:
    from finch_lsp.models import LoadedModel

HEAL_WINDOW = 256  # characters of prefix re-tokenized to find the last token boundary
STATIC_CACHE_MIN = 2048  # tokens: the default prompt budget (1536) plus new tokens fits in it


class TokenIndex:
    """The text of every ordinary token, sorted, to find tokens by prefix quickly."""

    def __init__(self, tokenizer) -> None:
        special = set(tokenizer.all_special_ids)
        size = len(tokenizer)
        texts = tokenizer.batch_decode([[i] for i in range(size)])
        pairs = sorted((t, i) for i, t in enumerate(texts) if t and i not in special and "\ufffd" not in t)
        self.texts = [t for t, _ in pairs]
        self.ids = [i for _, i in pairs]
        self.by_text: dict[str, list[int]] = {}
        for text, token_id in pairs:
            self.by_text.setdefault(text, []).append(token_id)
        self.text_of = dict(zip(range(size), texts))

    def compatible(self, remaining: str) -> list[int]:
        """Ids of tokens that start with ``remaining`` or are a proper start of it."""
        lo = bisect.bisect_left(self.texts, remaining)
        hi = bisect.bisect_left(self.texts, remaining + "\U0010ffff")
        found = self.ids[lo:hi]
        for k in range(1, len(remaining)):
            found += self.by_text.get(remaining[:k], [])
        return found


_indexes: dict[int, TokenIndex] = {}
_index_lock = threading.Lock()


def token_index(tokenizer) -> TokenIndex:
    """The (cached) token index of ``tokenizer``."""
    with _index_lock:
        if id(tokenizer) not in _indexes:
            _indexes[id(tokenizer)] = TokenIndex(tokenizer)
        return _indexes[id(tokenizer)]


def heal_split(tokenizer, prefix: str) -> tuple[str, str]:
    """Split ``prefix`` at its last token boundary: (kept, removed).

    Only a last token that is whitespace or ends in whitespace is healed: that is the case
    where the raw prompt misleads the model (``return `` then a pause); a prefix ending in
    a word is left alone.
    """
    if not prefix or not prefix[-1].isspace() or prefix.endswith("\n"):
        return prefix, ""
    window_start = max(0, len(prefix) - HEAL_WINDOW)
    newline = prefix.rfind("\n", window_start)
    start = newline + 1 if newline >= 0 else window_start
    tail = prefix[start:]
    offsets = tokenizer(tail, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if not offsets:
        return prefix, ""
    cut = start + offsets[-1][0]
    return prefix[:cut], prefix[cut:]


def heal_prompt(tokenizer, text: str, fim: FimMarkers | None = None) -> tuple[str, str]:
    """(model input, removed text): a rendered prompt with its code prefix backed off to a token boundary.

    The one healing rule for inference, training and evaluation. A FIM prompt (ending in the
    middle marker) is healed inside: its prefix part is cut and the prompt re-rendered around
    it; a plain prompt is healed at its end.
    """
    fim = fim or FimTokens()
    if not (text.endswith(fim.middle) and fim.prefix in text and fim.suffix in text):
        return heal_split(tokenizer, text)
    header, body = text.rsplit(fim.prefix, 1)
    prefix, rest = body.split(fim.suffix, 1)
    kept, removed = heal_split(tokenizer, prefix)
    return f"{header}{fim.prefix}{kept}{fim.suffix}{rest}", removed


@dataclass
class Generated:
    """Raw model output after the healed text is removed."""

    text: str
    tokens: int
    cancelled: bool = False
    prompt_tokens: int = 0
    prefilled: int = 0  # prompt tokens run through the model (the rest came from the KV cache)
    first_token_seconds: float = 0.0  # prefill and the first decoding step


def _healing_processor(index: TokenIndex, removed: str):
    """A logits processor forcing the first tokens to spell ``removed``."""
    import torch
    from transformers import LogitsProcessor

    class HealingProcessor(LogitsProcessor):
        def __init__(self) -> None:
            self.remaining, self.start = removed, None

        def __call__(self, input_ids, scores):
            if self.start is None:
                self.start = input_ids.shape[1]
            elif self.remaining:
                last = index.text_of.get(int(input_ids[0, -1]), "")
                self.remaining = self.remaining[len(last):] if self.remaining.startswith(last) else ""
            if not self.remaining:
                return scores
            allowed = [i for i in index.compatible(self.remaining) if i < scores.shape[-1]]
            if not allowed:
                self.remaining = ""
                return scores
            mask = torch.full_like(scores, float("-inf"))
            mask[:, allowed] = 0
            return scores + mask

    return HealingProcessor()


def _stopping(cancel: threading.Event, stop_at_newline: Callable[[list[int]], bool] | None, prompt_len: int):
    import torch
    from transformers import StoppingCriteria

    class CancelOrNewline(StoppingCriteria):
        first_token_at: float | None = None

        def __call__(self, input_ids, scores, **kwargs):
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            done = cancel.is_set()
            if not done and stop_at_newline is not None and input_ids.shape[1] > prompt_len:
                done = stop_at_newline(input_ids[0, prompt_len:].tolist())
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return CancelOrNewline()


def static_cache_length(total_tokens: int) -> int:
    """The static-cache length for a prompt plus new tokens: 2048, or the next power of two.

    Every length is a compiled graph of its own, so lengths are few: one covers every request
    under the default prompt budget, and a larger budget adds one more per doubling.
    """
    length = STATIC_CACHE_MIN
    while length < total_tokens:
        length *= 2
    return length


_static_caches: "weakref.WeakKeyDictionary[Any, dict[int, tuple[int, Any]]]" = weakref.WeakKeyDictionary()  # model -> batch -> (length, cache)


def _static_cache(model, total_tokens: int, batch: int = 1):
    """The model's reusable static cache, emptied, with room for ``total_tokens``.

    Reusing one cache keeps its tensors at fixed addresses, so the CUDA graph recorded for the
    decoding step is replayed on the next request instead of recorded again. A longer request
    replaces it with the next bucket (one compilation, then reused in turn). A cache holds
    one batch size (a selectively decoded prompt is a batch of two), so each has its own.
    """
    from transformers import StaticCache

    by_batch = _static_caches.setdefault(model, {})
    length, cache = by_batch.get(batch, (0, None))
    if cache is None or length < total_tokens:
        length = static_cache_length(total_tokens)
        cache = StaticCache(config=model.config, max_cache_len=length)
        by_batch[batch] = (length, cache)
    else:
        cache.reset()
    return cache


def generation_kwargs(loaded: "LoadedModel", prompt_len: int, max_new_tokens: int, min_new_tokens: int = 0, batch: int = 1) -> dict:
    """The ``model.generate`` arguments of every completion: greedy, token counts, stop ids, cache.

    With ``min_new_tokens >= max_new_tokens`` stop tokens are ignored and exactly
    ``max_new_tokens`` tokens are generated (benchmarks). On CUDA the reusable static cache is
    passed in (call inside ``torch.inference_mode``, where it is reset).
    """
    kwargs: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "min_new_tokens": min_new_tokens,
        "do_sample": False,
        "eos_token_id": None if min_new_tokens >= max_new_tokens else loaded.stop_token_ids,
        "pad_token_id": loaded.stop_token_ids[0] if loaded.stop_token_ids else None,
    }
    if str(loaded.device).startswith("cuda"):
        kwargs["past_key_values"] = _static_cache(loaded.model, prompt_len + max_new_tokens, batch)
    return kwargs


def healing_processors(loaded: "LoadedModel", removed: str):
    """The logits processors for a prompt whose last ``removed`` characters were cut (healing)."""
    from transformers import LogitsProcessorList

    return LogitsProcessorList([_healing_processor(token_index(loaded.tokenizer), removed)] if removed else [])


def generate(
    loaded: "LoadedModel",
    prompt_text: str,
    removed: str,
    max_new_tokens: int,
    cancel: threading.Event | None = None,
    single_line: bool = False,
    min_new_tokens: int = 0,
    stop_when: Callable[[str], bool] | None = None,
    reuse: PrefixCache | None = None,
    reuse_key: str | None = None,
    weights: Hashable = None,
) -> Generated:
    """Greedy-generate after ``prompt_text``; the first tokens spell ``removed`` (healing).

    ``stop_when(text so far)`` ends generation early once the caller has what it needs
    (a code action's closing fence). With ``reuse`` and ``reuse_key`` the KV cache of the
    key's previous generation is reused for the longest common token prefix and kept for the
    next one (not on CUDA, where the static cache is used); ``weights`` identifies the weights
    (adapter) that computed it. With an adapter judged for selective decoding the prompt runs
    as a pair of rows, base and adapted (``selective``); both hold the same tokens.
    """
    import torch
    from transformers import StoppingCriteriaList

    started = time.perf_counter()
    cancel = cancel or threading.Event()
    tok = loaded.tokenizer
    ids = tok(prompt_text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(loaded.device)
    prompt_len = ids.shape[1]
    kv = None
    reused = 0
    if reuse is not None and reuse_key is not None and not str(loaded.device).startswith("cuda"):
        from transformers import DynamicCache

        kv, reused = reuse.take(reuse_key, ids[0].tolist(), weights)
        kv = kv if kv is not None else DynamicCache(config=loaded.model.config)

    newline = single_line and min_new_tokens < max_new_tokens

    def done(new_ids: list[int]) -> bool:
        text = tok.decode(new_ids, skip_special_tokens=True)[len(removed):]
        if newline and text.strip() and first_line_complete(text):
            return True
        return stop_when is not None and stop_when(text)

    check = done if newline or stop_when is not None else None
    stopper = _stopping(cancel, check, prompt_len)
    ids, mask, paired, selecting = selective.pair(loaded, ids, torch.ones_like(ids))
    kwargs = generation_kwargs(loaded, prompt_len, max_new_tokens, min_new_tokens, batch=ids.shape[0])
    if kv is not None:
        kwargs["past_key_values"] = kv
    processors = healing_processors(loaded, removed)
    processors.extend(selecting)  # after healing: it picks among the tokens healing allows
    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids=ids,
            attention_mask=mask,
            logits_processor=processors,
            stopping_criteria=StoppingCriteriaList([stopper]),
            **kwargs,
            **paired,
        )
    if kv is not None:
        reuse.put(reuse_key, out[0, : kv.get_seq_length()].tolist(), kv, weights)
    first = (stopper.first_token_at or time.perf_counter()) - started
    new = out[0, prompt_len:].tolist()
    new = [t for t in new if t not in loaded.stop_token_ids] if min_new_tokens < max_new_tokens else new
    text = tok.decode(new, skip_special_tokens=True)
    text = text[len(removed):] if removed and text.startswith(removed) else text
    return Generated(text, len(new), cancel.is_set(), prompt_len, prompt_len - reused, first)


def warm_up(loaded: "LoadedModel") -> None:
    """One short generation so the first completion does not pay for lazy set-up.

    On CUDA it allocates the static cache at the smallest bucket (the one every prompt under
    the default budget uses), compiles the decoding step for it and records its CUDA graph.
    """
    generate(loaded, "def main():\n    ", "", 8, min_new_tokens=8)
