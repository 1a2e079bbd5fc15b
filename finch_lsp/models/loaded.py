"""What a model loader hands back: the loaded model, its FIM tokens, and the one error type.

This module imports neither torch nor transformers, so the server can name these types at
start-up without paying for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast


class ModelLoadError(Exception):
    """A model could not be loaded; the message says what failed, why, and what to do."""


@dataclass(frozen=True)
class FimTokens:
    """The fill-in-the-middle control tokens of a tokenizer (Qwen2.5-Coder spelling by default).

    ``repo_name`` and ``file_sep`` are empty strings when the tokenizer lacks them.
    """

    prefix: str = "<|fim_prefix|>"
    suffix: str = "<|fim_suffix|>"
    middle: str = "<|fim_middle|>"
    repo_name: str = "<|repo_name|>"
    file_sep: str = "<|file_sep|>"


@dataclass
class LoadedModel:
    """A model ready for generation, with everything a prompt builder and decoder need."""

    name: str
    """The registry name that was loaded ("smollm2-135m", "tiny-qwen2", an HF id, a directory)."""
    model: PreTrainedModel
    """In eval mode, on ``device``, in ``dtype``."""
    tokenizer: PreTrainedTokenizerFast
    device: str
    """"cpu", "cuda" (or "cuda:N") or "mps"."""
    dtype: torch.dtype
    fim: FimTokens | None
    """None when the tokenizer has no FIM tokens: prompts are then prefix-only."""
    stop_token_ids: list[int]
    """End-of-text, end-of-turn, and every FIM, file and repo token id the tokenizer has."""
    context_length: int
    """The most positions the model takes (prompt plus generated tokens)."""
    source: str
    """Where the weights came from, for people: a path, a cache, "random weights (seed 0)"."""
    has_chat_template: bool
    """Whether ``tokenizer.apply_chat_template`` works (code actions need it)."""
    adapter_min_shift: float = 0.0
    """With an adapter active: the nats by which it must raise a token's log-probability over
    the base model's for decoding to take it (``completion.selective``); 0 decodes the adapted
    model plainly. Set from the adapter's training config when it is activated."""


class LoadedParts(NamedTuple):
    """What one loader produces before the common finishing steps (device, stop ids, FIM)."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerFast
    source: str
