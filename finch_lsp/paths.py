"""Where finch keeps its files: the only user of platformdirs.

Data (feedback store, adapters) lives in the user data dir, overridable with
``--data-dir`` or ``FINCH_DATA_DIR``; derived files (converted model weights,
tokenizer json) live in the user cache dir, overridable with ``FINCH_CACHE_DIR``.
Directories are created 0700: they hold the user's code.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "finch-lsp"


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    return path


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data dir: ``override``, else ``FINCH_DATA_DIR``, else the platform's user data dir."""
    chosen = override or os.environ.get("FINCH_DATA_DIR") or platformdirs.user_data_dir(APP)
    return _private_dir(Path(chosen).expanduser())


def cache_dir() -> Path:
    """The cache dir: ``FINCH_CACHE_DIR``, else the platform's user cache dir."""
    chosen = os.environ.get("FINCH_CACHE_DIR") or platformdirs.user_cache_dir(APP)
    return _private_dir(Path(chosen).expanduser())
