"""The finishing steps every loader shares: device, eval mode, FIM tokens, stop ids, padding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finch_lsp.models.loaded import FimTokens, LoadedModel, LoadedParts

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

# FIM spellings in use: Qwen2.5-Coder's, then StarCoder's (also SmolLM's file tokens).
FIM_FAMILIES: tuple[FimTokens, ...] = (
    FimTokens(),
    FimTokens("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<repo_name>", "<file_sep>"),
)
STOP_TOKEN_TEXTS = (
    "<|endoftext|>",
    "<|im_end|>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
    "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
    "<repo_name>", "<reponame>", "<file_sep>", "<filename>",
)  # fmt: skip
DEFAULT_CONTEXT_LENGTH = 2048


def assemble_loaded_model(
    name: str, parts: LoadedParts, device: str, dtype: torch.dtype
) -> LoadedModel:
    """Move the model to ``device`` in eval mode and work out what the prompt code needs."""
    tokenizer = parts.tokenizer
    model = parts.model.to(device=device, dtype=dtype).eval()
    stop_ids = stop_token_ids(tokenizer)
    _configure_padding(model, tokenizer, stop_ids)
    return LoadedModel(
        name=name,
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype,
        fim=detect_fim_tokens(tokenizer),
        stop_token_ids=stop_ids,
        context_length=context_length(model.config, tokenizer),
        source=parts.source,
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
    )


def detect_fim_tokens(tokenizer: PreTrainedTokenizerBase) -> FimTokens | None:
    """The FIM tokens this tokenizer has; None unless it has a prefix, suffix and middle token."""
    vocab = tokenizer.get_vocab()
    for family in FIM_FAMILIES:
        if all(token in vocab for token in (family.prefix, family.suffix, family.middle)):
            return FimTokens(
                prefix=family.prefix,
                suffix=family.suffix,
                middle=family.middle,
                repo_name=family.repo_name if family.repo_name in vocab else "",
                file_sep=family.file_sep if family.file_sep in vocab else "",
            )
    return None


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The eos id, then the id of every end, FIM, file and repo token the vocabulary has."""
    vocab = tokenizer.get_vocab()
    ids: list[int] = []
    eos = tokenizer.eos_token_id
    if isinstance(eos, int):
        ids.append(eos)
    for text in STOP_TOKEN_TEXTS:
        token_id = vocab.get(text)
        if token_id is not None and token_id not in ids:
            ids.append(token_id)
    return ids


def context_length(config, tokenizer: PreTrainedTokenizerBase) -> int:
    """The model's maximum positions, else the tokenizer's limit, else a cautious default."""
    for candidate in (
        getattr(config, "max_position_embeddings", None),
        getattr(config, "n_positions", None),
        getattr(tokenizer, "model_max_length", None),
    ):
        # Tokenizers without a limit report a huge sentinel (about 1e30).
        if isinstance(candidate, int) and 0 < candidate < 10_000_000:
            return candidate
    return DEFAULT_CONTEXT_LENGTH


def _configure_padding(model, tokenizer: PreTrainedTokenizerBase, stop_ids: list[int]) -> None:
    """Give the tokenizer a pad token and tell generate() about padding and every stop id."""
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    pad_id = tokenizer.pad_token_id
    if pad_id is None and stop_ids:
        pad_id = stop_ids[0]
    generation_config = model.generation_config
    generation_config.pad_token_id = pad_id
    if stop_ids:
        generation_config.eos_token_id = list(stop_ids)
