"""Downloading a model into the Hugging Face cache: one progress count, resumable, verified.

huggingface_hub does the network and the cache layout: the file list with sizes and hashes
(``HfApi.model_info(files_metadata=True)``), each file's etag and location
(``get_hf_file_metadata``), the transfer itself (``http_get``: Range requests, retries, size
check), and the snapshot links and ``refs/`` (``hf_hub_download``, which finds the blob in
place and only links it). What finch adds around them:

- One plan up front, so progress is one count of bytes for the whole model and the free disk
  space is checked before the first byte.
- Resuming across processes: huggingface_hub 2.x downloads to a temporary name unique to the
  process and deletes it on failure, so a killed download would start over. finch keeps
  ``blobs/<etag>.incomplete`` and resumes it with a Range request, under the same lock file
  hf_hub_download takes for that blob.
- Verifying every file against the hash the hub publishes (sha256 for LFS files, the git blob
  id for the others) before it is renamed into ``blobs/``; huggingface_hub checks sizes only.
- Blobs first, links after, ``config.json`` last: ``is_in_local_hf_cache`` needs config.json,
  so a model interrupted anywhere never counts as present and never loads half-written.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from finch_lsp.models.catalog import format_size
from finch_lsp.models.download_errors import DownloadError, explain, is_offline, offline_error
from finch_lsp.models.local_cache import INCOMPLETE_SUFFIX, hub_cache_dir, repo_storage
from finch_lsp.models.transfer import ProgressSnapshot, TransferProgress

# Weight formats finch never loads: skipped when a repository also ships them.
IGNORED_PATTERNS = ["*.bin", "*.pt", "*.pth", "*.h5", "*.msgpack", "*.onnx", "*.ot", "*.gguf", "*.tflite", "*.mlmodel"]
LINKED_LAST = "config.json"
HASH_CHUNK = 8 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of the repository as the hub describes it."""

    path: str
    size: int
    sha256: str | None
    """Of the content, for LFS files."""
    blob_id: str | None
    """The git blob id; of the content for files outside LFS."""


@dataclass(frozen=True)
class Plan:
    repo_id: str
    commit: str
    files: tuple[RemoteFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class PullResult:
    repo_id: str
    commit: str
    snapshot: Path
    total_bytes: int
    transferred_bytes: int
    """Bytes that came over the network in this pull."""
    resumed_bytes: int
    """Bytes of earlier interrupted downloads that this pull continued from."""
    seconds: float

    def summary(self) -> str:
        if not self.transferred_bytes and not self.resumed_bytes:
            return f"{self.repo_id} is already downloaded ({format_size(self.total_bytes)})"
        text = f"{format_size(self.total_bytes)} in {self.seconds:.0f} s"
        if self.resumed_bytes:
            text += f", resumed after {format_size(self.resumed_bytes)} from an earlier download"
        return text


def fetch_plan(repo_id: str, revision: str = "main", endpoint: str | None = None) -> Plan:
    """The commit and files (sizes and hashes) the hub publishes for ``repo_id``."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import filter_repo_objects

    if is_offline():
        raise offline_error(repo_id)
    try:
        info = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, files_metadata=True)
    except Exception as error:  # noqa: BLE001 - every hub failure gets a message that says why
        raise explain(error, repo_id, endpoint) from error
    siblings = {s.rfilename: s for s in info.siblings or []}
    wanted = set(siblings)
    if any(name.endswith(".safetensors") for name in siblings):
        wanted = set(filter_repo_objects(list(siblings), ignore_patterns=IGNORED_PATTERNS))
    files = []
    for name in sorted(wanted):
        sibling = siblings[name]
        lfs = sibling.lfs
        size = lfs.size if lfs is not None else sibling.size
        if size is None or info.sha is None:
            raise DownloadError("hub_error", f"the hub at {_endpoint(endpoint)} gave no size for {repo_id}/{name}; it may not be a Hugging Face hub (check HF_ENDPOINT)")
        files.append(RemoteFile(name, size, lfs.sha256 if lfs is not None else None, sibling.blob_id))
    return Plan(repo_id, info.sha, tuple(files))


def pull(
    repo_id: str,
    *,
    revision: str = "main",
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    on_progress: Callable[[ProgressSnapshot], None] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> PullResult:
    """Download every file of ``repo_id`` into the cache; DownloadError says why it failed."""
    started = time.monotonic()
    status = on_status or (lambda message: None)
    plan = fetch_plan(repo_id, revision, endpoint)
    root = hub_cache_dir(cache_dir)
    storage = repo_storage(repo_id, root)
    snapshot = storage / "snapshots" / plan.commit
    missing = [f for f in plan.files if not (snapshot / f.path).exists()]
    locations = {f.path: _locate(repo_id, plan.commit, f, endpoint) for f in missing}
    blobs = storage / "blobs"
    partial = {f.path: _partial_size(blobs, locations[f.path][0], f.size) for f in missing}
    # Bytes of each missing file already on disk: a whole blob not linked yet, or a partial one.
    counted = {f.path: f.size if (blobs / locations[f.path][0]).exists() else partial[f.path] for f in missing}
    done_before = plan.total_bytes - sum(f.size for f in missing) + sum(counted.values())
    progress = TransferProgress(plan.total_bytes, done_before, listener=on_progress)
    _check_disk_space(repo_id, blobs, plan.total_bytes - done_before)
    for f in missing:
        etag, url = locations[f.path]
        _fetch_blob(repo_id, f, etag, url, storage, counted[f.path], progress, endpoint, status)
    _link(repo_id, plan, revision, root, endpoint)
    return PullResult(
        repo_id, plan.commit, snapshot, plan.total_bytes, transferred_bytes=progress.received,
        resumed_bytes=sum(partial.values()), seconds=time.monotonic() - started,
    )  # fmt: skip


def _locate(repo_id: str, commit: str, f: RemoteFile, endpoint: str | None) -> tuple[str, str]:
    """(etag, download url) of one file: the etag names its blob in the cache."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo_id, f.path, revision=commit, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url, endpoint=endpoint)
    except Exception as error:  # noqa: BLE001
        raise explain(error, repo_id, endpoint, f.path) from error
    if not metadata.etag:
        raise DownloadError("hub_error", f"{_endpoint(endpoint)} sent no ETag for {repo_id}/{f.path}; it does not look like a Hugging Face hub (check HF_ENDPOINT)")
    if metadata.size is not None and metadata.size != f.size:
        raise DownloadError(
            "hub_error",
            f"the hub lists {repo_id}/{f.path} at {f.size} bytes but serves {metadata.size}; "
            "it may be changing right now: pull again in a minute",
        )
    return metadata.etag, metadata.location


def _partial_size(blobs: Path, etag: str, size: int) -> int:
    incomplete = blobs / f"{etag}{INCOMPLETE_SUFFIX}"
    try:
        found = incomplete.stat().st_size
    except OSError:
        return 0
    if found > size:  # cannot be a prefix of this file
        incomplete.unlink(missing_ok=True)
        return 0
    return found


def _check_disk_space(repo_id: str, blobs: Path, needed: int) -> None:
    existing = blobs
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = free_bytes(existing)
    if free is not None and free < needed:
        raise DownloadError(
            "disk_full",
            f"not enough disk space for {repo_id}: it needs {format_size(needed)} more and {existing} "
            f"has {format_size(free)} free; free some space (or point HF_HUB_CACHE at a larger disk) "
            "and pull again",
        )


def free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _fetch_blob(
    repo_id: str,
    f: RemoteFile,
    etag: str,
    url: str,
    storage: Path,
    counted: int,
    progress: TransferProgress,
    endpoint: str | None,
    status: Callable[[str], None],
) -> None:
    """Download one file to ``blobs/<etag>.incomplete`` (resuming it), verify it, rename it."""
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import WeakFileLock

    blob = storage / "blobs" / etag
    incomplete = blob.with_name(f"{etag}{INCOMPLETE_SUFFIX}")
    lock = storage.parent / ".locks" / storage.name / f"{etag}.lock"
    blob.parent.mkdir(parents=True, exist_ok=True)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with WeakFileLock(lock):
        if blob.exists():  # another process finished it meanwhile
            progress.advance(f.size - counted)
            return
        resume = _partial_size(blob.parent, etag, f.size)
        progress.advance(resume - counted)
        if resume:
            status(f"resuming {f.path} at {format_size(resume)} of {format_size(f.size)}")
        try:
            with incomplete.open("ab") as out:
                http_get(
                    url, out, resume_size=resume, headers=_headers(url, endpoint), expected_size=f.size,
                    displayed_filename=f.path, tqdm_class=progress.tqdm_class(counted=resume),
                )  # fmt: skip
        except Exception as error:  # noqa: BLE001
            raise _transfer_error(error, repo_id, f, incomplete, endpoint) from error
        status(f"verifying {f.path}")
        _verify(repo_id, f, incomplete, progress)
        os.replace(incomplete, blob)


def _headers(url: str, endpoint: str | None) -> dict[str, str]:
    """The hub's headers; no token for a download location on another host (a CDN)."""
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers()
    headers["Accept-Encoding"] = "identity"  # byte offsets of a resumed file are of the raw file
    if urlsplit(url).netloc != urlsplit(_endpoint(endpoint)).netloc:
        headers.pop("authorization", None)
    return headers


def _transfer_error(error: Exception, repo_id: str, f: RemoteFile, incomplete: Path, endpoint: str | None) -> DownloadError:
    kept = incomplete.stat().st_size if incomplete.exists() else 0
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return DownloadError(
            "disk_full",
            f"the disk filled up while writing {repo_id}/{f.path} into {incomplete.parent}; "
            f"{format_size(kept)} of it is kept: free some space and pull again to resume",
        )
    if isinstance(error, OSError) and "Consistency check failed" in str(error) and kept > f.size:
        incomplete.unlink(missing_ok=True)
        return DownloadError(
            "checksum",
            f"{repo_id}/{f.path} arrived longer than the {f.size} bytes the hub publishes; the bad "
            "download was deleted: pull again (if it repeats, a proxy or mirror is altering files)",
        )
    explained = explain(error, repo_id, endpoint, f.path)
    if explained.kind in ("unreachable", "interrupted") or "Consistency check failed" in str(error):
        return DownloadError(
            "interrupted",
            f"the download of {repo_id}/{f.path} was interrupted ({explained.detail}); "
            f"{format_size(kept)} of {format_size(f.size)} is kept: pull again to resume",
        )
    return explained


def _verify(repo_id: str, f: RemoteFile, path: Path, progress: TransferProgress) -> None:
    """Compare the file with the hash the hub publishes; delete it and raise on a mismatch."""
    size = path.stat().st_size
    expected, actual, kind = None, None, ""
    if size == f.size and f.sha256:
        expected, actual, kind = f.sha256, file_sha256(path), "sha256"
    elif size == f.size and f.blob_id:
        expected, actual, kind = f.blob_id, git_blob_id(path), "git blob id"
    if size == f.size and (expected is None or expected.lower() == actual):
        return
    path.unlink(missing_ok=True)
    progress.advance(-size)
    found = f"{size} bytes" if size != f.size else f"{kind} {actual}"
    raise DownloadError(
        "checksum",
        f"{repo_id}/{f.path} does not match what the hub publishes (expected {kind or 'size'} "
        f"{expected or f.size}, got {found}); the bad download was deleted and nothing was "
        "linked into the model: pull again (if it repeats, a proxy or mirror is altering files)",
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_id(path: Path) -> str:
    """The git object id of a file's content (what the hub reports as blobId outside LFS)."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as data:
        while chunk := data.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _link(repo_id: str, plan: Plan, revision: str, cache_dir: Path, endpoint: str | None) -> None:
    """Let hf_hub_download link every verified blob into the snapshot, config.json last.

    The last file goes through ``revision`` (usually ``main``), which also points
    ``refs/<revision>`` at the commit: until then the model is not present.
    """
    from huggingface_hub import hf_hub_download

    ordered = sorted(plan.files, key=lambda f: f.path == LINKED_LAST)
    for index, f in enumerate(ordered):
        last = index == len(ordered) - 1
        try:
            path = hf_hub_download(
                repo_id, f.path, revision=revision if last else plan.commit,
                cache_dir=str(cache_dir), endpoint=endpoint,
            )  # fmt: skip
        except Exception as error:  # noqa: BLE001
            raise explain(error, repo_id, endpoint, f.path) from error
        if last and plan.commit not in Path(path).parts:
            raise DownloadError(
                "hub_error",
                f"{repo_id} changed on the hub during the download ({revision} moved away from "
                f"{plan.commit[:12]}); pull again to get the new version",
            )


def _endpoint(endpoint: str | None) -> str:
    from huggingface_hub import constants

    return endpoint or constants.ENDPOINT
