"""Qwen2 models with seeded random weights and the real Qwen2.5 tokenizer.

``tiny-qwen2`` runs the whole Qwen code path (architecture, tokenizer, FIM tokens) and loads
in about a second, for tests. The ``-random`` models have the exact shapes of Qwen2.5-Coder-0.5B
and -1.5B, for benchmarks where the real weights cannot be downloaded: their timings are real,
their text is noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from finch_lsp.models.loaded import LoadedParts
from finch_lsp.models.qwen_tokenizer import QWEN_CONTEXT_LENGTH, load_qwen_tokenizer

if TYPE_CHECKING:
    import torch
    from transformers import Qwen2Config

WEIGHT_SEED = 0
QWEN25_VOCAB_SIZE = 151936  # the embedding has room beyond the tokenizer's 151,665 ids
QWEN25_ENDOFTEXT_ID = 151643


@dataclass(frozen=True)
class Qwen2Shape:
    """The dimensions that distinguish one Qwen2 model size from another."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int


QWEN2_SHAPES: dict[str, Qwen2Shape] = {
    "tiny-qwen2": Qwen2Shape(64, 128, 2, 4, 2),
    "qwen2.5-coder-0.5b-random": Qwen2Shape(896, 4864, 24, 14, 2),
    "qwen2.5-coder-1.5b-random": Qwen2Shape(1536, 8960, 28, 12, 2),
}
# Built on the CPU in float32 whatever the device, so its weights are the same everywhere.
CPU_BUILT_SHAPES = frozenset({"tiny-qwen2"})


def load_random_qwen2(
    name: str, device: str, dtype: torch.dtype, report: Callable[[str], None]
) -> LoadedParts:
    """A Qwen2ForCausalLM of the shape registered as ``name``, weights drawn from seed 0."""
    import torch

    shape = QWEN2_SHAPES[name]
    tokenizer = load_qwen_tokenizer(report)
    report(f"initialising {name} with random weights (seed {WEIGHT_SEED})")
    if name in CPU_BUILT_SHAPES:
        model = build_random_qwen2(qwen2_config(shape), "cpu", torch.float32)
    else:
        model = build_random_qwen2(qwen2_config(shape), device, dtype)
    source = (
        f"random weights (seed {WEIGHT_SEED}) in Qwen2 shape hidden {shape.hidden_size}, "
        f"{shape.num_hidden_layers} layers; Qwen2.5 tokenizer from qwen-tokenizer"
    )
    return LoadedParts(model, tokenizer, source)


def qwen2_config(shape: Qwen2Shape) -> Qwen2Config:
    """A Qwen2.5-Coder config with the given dimensions (tied embeddings, rope theta 1e6)."""
    from transformers import Qwen2Config

    return Qwen2Config(
        **asdict(shape),
        vocab_size=QWEN25_VOCAB_SIZE,
        tie_word_embeddings=True,
        max_position_embeddings=QWEN_CONTEXT_LENGTH,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        rms_norm_eps=1e-6,
        hidden_act="silu",
        use_sliding_window=False,
        bos_token_id=QWEN25_ENDOFTEXT_ID,
        eos_token_id=QWEN25_ENDOFTEXT_ID,
        pad_token_id=QWEN25_ENDOFTEXT_ID,
    )


def build_random_qwen2(config: Qwen2Config, device: str, dtype: torch.dtype):
    """Create the model directly on ``device`` in ``dtype`` and initialise it there from the seed.

    On an H100 the 1.5B shape is ready in about 1.3 s; initialising the 0.5B shape on two CPU
    cores takes about 11 s, and would then need a copy to the GPU.
    """
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(WEIGHT_SEED)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)
