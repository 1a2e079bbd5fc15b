"""A real LoRA adapter on tiny-qwen2 with random B matrices, saved by PEFT: what tests activate."""

from __future__ import annotations

from pathlib import Path


def save_random_adapter(path: Path, std: float, seed: int | None = None) -> Path:
    """A rank-4 adapter on a fresh tiny-qwen2 with B drawn from N(0, std), saved into ``path``."""
    import torch

    from finch_lsp.learning.jobs import TrainConfig
    from finch_lsp.learning.training.worker import attach_lora
    from finch_lsp.models import load_model

    model = attach_lora(load_model("tiny-qwen2", "cpu").model, TrainConfig(rank=4, alpha=8))
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=std)
    model.save_pretrained(str(path), safe_serialization=True)
    return path
