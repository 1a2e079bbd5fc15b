"""KV prefix reuse: the attention cache of recent prompts, per document, on the engine worker.

Between two keystrokes all but a few prompt tokens are the same. The cache of the previous
generation for the document (prompt and generated tokens) is kept with the token ids it
holds; the next prompt is compared with those ids (ids, not text: token healing and a
re-tokenized tail change the last tokens), the cache is cropped to the longest common prefix
and only the rest is prefilled.

A cache is valid only for the weights that computed it: every entry carries the model's
identity and a weights epoch (the engine bumps it when a task may have swapped an adapter),
and an entry from other weights is dropped, never reused.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

MIN_REUSE_TOKENS = 8  # a shorter common prefix is not worth keeping the entry for
DEFAULT_CAPACITY = 4  # documents whose cache is kept (a 1.5k-token prompt of smollm2-135m: ~70 MB)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """The length of the longest common prefix of two id sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def reusable_length(cached: Sequence[int], prompt: Sequence[int]) -> int:
    """How many cached tokens a prompt can reuse: the common prefix, leaving one token to feed.

    The model has to be fed at least one token to produce the next token's logits, so a prompt
    equal to (or a prefix of) the cached ids reuses all but its last token.
    """
    return max(0, min(common_prefix(cached, prompt), len(prompt) - 1))


@dataclass
class _Entry:
    ids: list[int]
    cache: Any  # a transformers DynamicCache holding exactly ``ids``
    weights: Hashable


class PrefixCache:
    """A small LRU of per-key KV caches; ``take`` it before a generation, ``put`` it back after."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, prompt: Sequence[int], weights: Hashable) -> tuple[Any, int]:
        """(cache cropped to the reusable prefix, its length), or (None, 0) when nothing is reusable.

        The entry leaves the LRU: the generation grows the cache in place, and ``put`` stores
        it again with the ids it then holds.
        """
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is None or entry.weights != weights:
            return None, 0
        keep = reusable_length(entry.ids, prompt)
        if keep < MIN_REUSE_TOKENS:
            return None, 0
        held = entry.cache.get_seq_length()
        if held != len(entry.ids):  # never guess which tokens a cache holds
            return None, 0
        if held > keep:
            entry.cache.crop(keep - held)  # a negative count removes that many tokens from the end
        return entry.cache, keep

    def put(self, key: str, ids: Sequence[int], cache: Any, weights: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = _Entry(list(ids), cache, weights)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
