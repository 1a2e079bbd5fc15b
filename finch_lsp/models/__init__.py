"""Loading the completion model: a name in, a ready ``LoadedModel`` out.

Cheap to import: torch and transformers are imported only when a model is loaded.
"""

from finch_lsp.models.device import resolve_device
from finch_lsp.models.loaded import FimTokens, LoadedModel, ModelLoadError
from finch_lsp.models.registry import MODEL_NAMES, load_model, resolve_auto

__all__ = [
    "MODEL_NAMES",
    "FimTokens",
    "LoadedModel",
    "ModelLoadError",
    "load_model",
    "resolve_auto",
    "resolve_device",
]
