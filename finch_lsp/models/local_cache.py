"""The local Hugging Face cache: which models are there, how big, and removing one.

The cache is huggingface_hub's (``HF_HUB_CACHE``, read when called so tests can move it):
``models--ORG--NAME/{blobs,snapshots,refs}``. Reads only; never opens a connection.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from finch_lsp.models.hf import is_in_local_hf_cache

INCOMPLETE_SUFFIX = ".incomplete"


def hub_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else huggingface_hub's cache directory."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


def repo_storage(repo_id: str, cache_dir: str | Path | None = None) -> Path:
    """The folder of ``repo_id`` in the cache (it may not exist)."""
    from huggingface_hub.file_download import repo_folder_name

    return hub_cache_dir(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model")


def is_present(repo_id: str, cache_dir: str | Path | None = None) -> bool:
    """Whether the whole model (config and every weight file) is in the cache."""
    return is_in_local_hf_cache(repo_id, None if cache_dir is None else str(cache_dir))


def size_on_disk(repo_id: str, cache_dir: str | Path | None = None) -> int:
    """Bytes the finished files of ``repo_id`` take in the cache (partial downloads excluded)."""
    blobs = repo_storage(repo_id, cache_dir) / "blobs"
    if not blobs.is_dir():
        return 0
    return sum(p.stat().st_size for p in blobs.iterdir() if p.is_file() and not p.name.endswith(INCOMPLETE_SUFFIX))


def partial_bytes(repo_id: str, cache_dir: str | Path | None = None) -> int:
    """Bytes of interrupted downloads of ``repo_id`` waiting to be resumed."""
    blobs = repo_storage(repo_id, cache_dir) / "blobs"
    if not blobs.is_dir():
        return 0
    return sum(p.stat().st_size for p in blobs.glob(f"*{INCOMPLETE_SUFFIX}") if p.is_file())


@dataclass(frozen=True)
class Removal:
    """What ``remove`` deleted."""

    repo_id: str
    freed_bytes: int
    revisions: int
    found: bool


def remove(repo_id: str, cache_dir: str | Path | None = None) -> Removal:
    """Delete every cached revision of ``repo_id``, and any partial download of it.

    Revisions go through huggingface_hub's ``scan_cache_dir().delete_revisions`` (which keeps
    blobs another revision still uses); whatever is left of the repository folder afterwards
    (partial downloads, unreferenced blobs) is deleted with it.
    """
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    root = hub_cache_dir(cache_dir)
    storage = repo_storage(repo_id, cache_dir)
    freed = _bytes_under(storage)
    try:
        info = scan_cache_dir(root)
    except CacheNotFound:
        info = None
    repo = None if info is None else next(
        (r for r in info.repos if r.repo_id == repo_id and r.repo_type == "model"), None
    )
    revisions = len(repo.revisions) if repo is not None else 0
    if repo is not None and repo.revisions:
        info.delete_revisions(*(revision.commit_hash for revision in repo.revisions)).execute()
    found = repo is not None or storage.exists()
    if storage.exists():
        shutil.rmtree(storage)
    return Removal(repo_id, freed, revisions, found)


def _bytes_under(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
