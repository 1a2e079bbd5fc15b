"""Models loaded with transformers from a local directory or a Hugging Face model id.

The local Hugging Face cache is always tried first. Only when neither ``HF_HUB_OFFLINE`` nor
``TRANSFORMERS_OFFLINE`` is set does a missing model get downloaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from finch_lsp.models.loaded import LoadedParts, ModelLoadError

if TYPE_CHECKING:
    import torch

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
FALLBACK_MODEL = "smollm2-135m"


def load_hf_model(
    name_or_path: str, device: str, dtype: torch.dtype, report: Callable[[str], None]
) -> LoadedParts:
    """Load a causal LM and its tokenizer from a directory, the local cache, or the hub."""
    directory = local_model_directory(name_or_path)
    if directory is not None:
        report(f"loading {directory}")
        return _load_pretrained(str(directory), dtype, True, str(directory))
    repo_id = checked_repo_id(name_or_path)
    try:
        report(f"loading {repo_id} from the local Hugging Face cache")
        return _load_pretrained(repo_id, dtype, True, f"{repo_id} (local Hugging Face cache)")
    except OSError as not_cached:
        if hub_is_offline():
            reason = "the hub cannot be reached (offline)"
            raise ModelLoadError(_not_cached_message(repo_id, reason)) from not_cached
    report(f"downloading {repo_id} from the Hugging Face hub")
    try:
        return _load_pretrained(repo_id, dtype, False, f"{repo_id} (downloaded from the hub)")
    except OSError as failed:
        reason = f"downloading it failed: {_first_line(failed)}"
        raise ModelLoadError(_not_cached_message(repo_id, reason)) from failed


def local_model_directory(name_or_path: str) -> Path | None:
    """The directory ``name_or_path`` names, None for a hub id; an error for a missing path."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} holds no config.json, so it is not a transformers model directory; "
                "point model at the directory that save_pretrained wrote"
            )
        return path.resolve()
    if _looks_like_path(name_or_path):
        raise ModelLoadError(
            f"model directory {name_or_path} does not exist; set model to a directory that holds "
            "config.json and the weights, to a Hugging Face id such as Qwen/Qwen2.5-Coder-0.5B, "
            f"or to {FALLBACK_MODEL}"
        )
    return None


def checked_repo_id(name: str) -> str:
    """``name`` if it is a well-formed Hugging Face model id, else a ModelLoadError."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError as error:
        raise ModelLoadError(
            f"model {name!r} is neither a built-in name, a directory, nor a Hugging Face id "
            f"({error}); set model to {FALLBACK_MODEL}, to a directory, or to an id such as "
            "Qwen/Qwen2.5-Coder-0.5B"
        ) from None
    return name


def is_in_local_hf_cache(repo_id: str, cache_dir: str | Path | None = None) -> bool:
    """Whether the local Hugging Face cache holds the config and all weights of ``repo_id``.

    Reads the cache only; never opens a network connection. ``finch-lsp models pull`` links
    config.json into the snapshot last, so an interrupted pull never counts as present.
    """
    from huggingface_hub import try_to_load_from_cache

    def cached(filename: str) -> str | None:
        try:
            found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
        except ValueError:  # not a valid repo id
            return None
        return found if isinstance(found, str) else None

    if cached("config.json") is None:
        return False
    if cached("model.safetensors") is not None:
        return True
    index = cached("model.safetensors.index.json")
    if index is None:
        return False
    shards = set(json.loads(Path(index).read_text())["weight_map"].values())
    return all(cached(shard) is not None for shard in shards)


def hub_is_offline() -> bool:
    """Whether the user told Hugging Face libraries not to use the network."""
    return any(
        os.environ.get(variable, "").strip().lower() in {"1", "true", "yes", "on"}
        for variable in OFFLINE_VARIABLES
    )


def _load_pretrained(
    name_or_dir: str, dtype: torch.dtype, local_only: bool, source: str
) -> LoadedParts:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_dir, local_files_only=local_only)
    model = AutoModelForCausalLM.from_pretrained(
        name_or_dir, dtype=dtype, local_files_only=local_only
    )
    return LoadedParts(model, tokenizer, source)


def _not_cached_message(repo_id: str, reason: str) -> str:
    return (
        f"{repo_id} is not in the local Hugging Face cache and {reason}. Download it once with "
        f"`hf download {repo_id}` (on a machine with internet, then copy ~/.cache/huggingface), "
        f"or set model to {FALLBACK_MODEL}."
    )


def _looks_like_path(name: str) -> bool:
    return (
        Path(name).expanduser().is_absolute()
        or name.startswith((".", "~"))
        or name.count("/") > 1
        or "\\" in name
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
