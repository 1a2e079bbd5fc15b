"""Model names and their loaders, and ``load_model``, the one way the rest of finch loads a model.

Importing this module is cheap: torch and transformers are imported only inside the loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from finch_lsp.models.assemble import assemble_loaded_model
from finch_lsp.models.catalog import HUB_MODELS_BY_NAME, format_size
from finch_lsp.models.device import dtype_for_device, resolve_device
from finch_lsp.models.embedded import SMOLLM2_NAME, load_smollm2
from finch_lsp.models.hf import is_in_local_hf_cache, load_hf_model
from finch_lsp.models.loaded import LoadedModel, LoadedParts, ModelLoadError
from finch_lsp.models.tiny import QWEN2_SHAPES, load_random_qwen2

if TYPE_CHECKING:
    import torch

Report = Callable[[str], None]
Loader = Callable[[str, str, "torch.dtype", Report], LoadedParts]

AUTO = "auto"
QWEN_CODER_REPOS = {name: model.repo for name, model in HUB_MODELS_BY_NAME.items()}
AUTO_FALLBACK = SMOLLM2_NAME


def _load_qwen_coder(name: str, device: str, dtype: torch.dtype, report: Report) -> LoadedParts:
    """A released Qwen2.5-Coder base model from the local Hugging Face cache.

    Never downloads: `finch-lsp models pull`, the editor's download command or the
    ``modelDownload`` setting do that, with progress.
    """
    repo_id = QWEN_CODER_REPOS[name]
    if not is_in_local_hf_cache(repo_id):
        size = format_size(HUB_MODELS_BY_NAME[name].download_bytes)
        raise ModelLoadError(
            f"{repo_id} is not in the local Hugging Face cache, and finch downloads only when asked: "
            f"run `finch-lsp models pull {name}` ({size}), use the editor's download command, or "
            f"set finch.modelDownload to true to fetch it in the background; or set model to auto"
        )
    return load_hf_model(repo_id, device, dtype, report)


LOADERS: dict[str, Loader] = {
    SMOLLM2_NAME: load_smollm2,
    **{name: _load_qwen_coder for name in QWEN_CODER_REPOS},
    **{name: load_random_qwen2 for name in QWEN2_SHAPES},
}
MODEL_NAMES: tuple[str, ...] = (AUTO, *LOADERS)


def resolve_auto(device: str = "auto") -> tuple[str, str]:
    """The model ``auto`` stands for on this machine, and why, for the user: (name, reason).

    The largest downloaded Qwen2.5-Coder that fits the memory of ``device`` (the table in
    catalog.py), else the embedded model. Looks in the local Hugging Face cache only; never
    opens a network connection.
    """
    from finch_lsp.models.listing import auto_choice

    choice = auto_choice(device)
    return choice.name, choice.why


def load_model(name: str, device: str = "auto", on_progress: Report | None = None) -> LoadedModel:
    """Load the model called ``name`` (a registry name, an HF id or a directory) on ``device``.

    ``on_progress`` receives short messages for people while loading takes time. Every failure
    is raised as ModelLoadError with a message saying what to do.
    """
    report = on_progress or _ignore
    resolved_device = resolve_device(device)
    dtype = dtype_for_device(resolved_device)
    chosen = name
    try:
        chosen, why = _resolve_name(name, resolved_device)
        loader = LOADERS.get(chosen, _load_any_hf_model)
        with _quiet_progress_bars():
            parts = loader(chosen, resolved_device, dtype, report)
        loaded = assemble_loaded_model(chosen, parts, resolved_device, dtype)
    except ModelLoadError:
        raise
    except Exception as error:
        raise ModelLoadError(
            f"loading model {chosen!r} on {resolved_device} failed: {type(error).__name__}: {error}"
        ) from error
    if why:
        loaded.source = f"{loaded.source}; chosen by auto: {why}"
    report(f"model {chosen} ready on {resolved_device}")
    return loaded


def _resolve_name(name: str, device: str = "auto") -> tuple[str, str | None]:
    """The registry name or HF id to load, and the reason when ``auto`` chose it."""
    stripped = (name or AUTO).strip()
    lowered = stripped.lower()
    if lowered == AUTO:
        return resolve_auto(device)
    if lowered in LOADERS:
        return lowered, None
    return stripped, None


def _load_any_hf_model(name: str, device: str, dtype: torch.dtype, report: Report) -> LoadedParts:
    return load_hf_model(name, device, dtype, report)


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """Silence tqdm bars while loading: stderr is the editor's log, progress goes to ``report``."""
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as transformers_logging

    transformers_was_on = transformers_logging.is_progress_bar_enabled()
    hub_was_off = hub_utils.are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()
    hub_utils.disable_progress_bars()
    try:
        yield
    finally:
        if transformers_was_on:
            transformers_logging.enable_progress_bar()
        if not hub_was_off:
            hub_utils.enable_progress_bars()


def _ignore(message: str) -> None:
    """The default progress callback."""
