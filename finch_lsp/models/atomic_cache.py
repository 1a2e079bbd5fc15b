"""Publishing derived files (converted weights, tokenizer json) into the cache dir atomically.

A file or directory is built under a temporary name next to its final place, flushed to disk,
then renamed into place: a killed first load never leaves half a cache, and a reader sees
either nothing or the whole thing. Builders also hold a lock file so that two processes do not
both spend seconds building the same thing; the rename alone would keep them correct.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from finch_lsp.models.loaded import ModelLoadError

LOCK_TIMEOUT_S = 600.0
TEMP_MARK = ".tmp-"


@contextmanager
def build_lock(target: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock that guards building ``target`` (released if the process dies)."""
    from filelock import FileLock, Timeout

    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(target.parent / f".{target.name}.lock"))
    try:
        lock.acquire(timeout=timeout_s)
    except Timeout:
        raise ModelLoadError(
            f"gave up after {timeout_s:.0f} s waiting for another finch process that is building "
            f"{target}; let it finish, or stop it and try again"
        ) from None
    try:
        yield
    finally:
        lock.release()


def publish_file(target: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp_path)``, flush the file to disk, then rename it onto ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}{TEMP_MARK}")
    os.close(handle)
    temp = Path(temp_name)
    try:
        write(temp)
        _fsync_path(temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_path(target.parent)


def publish_directory(target: Path, build: Callable[[Path], None], replace: bool = False) -> bool:
    """Call ``build(temp_dir)``, flush it, and rename it to ``target``.

    Returns False, discarding the new build, when ``target`` already exists (another process
    published first) and ``replace`` is false; with ``replace`` the old directory is swapped
    out and deleted.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{TEMP_MARK}"))
    try:
        build(temp)
        _fsync_tree(temp)
        published = _rename_into_place(temp, target, replace)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if not published:
        shutil.rmtree(temp, ignore_errors=True)
    _fsync_path(target.parent)
    return published


def remove_stale_temporaries(target: Path) -> None:
    """Delete temporaries left next to ``target`` by killed builders; call with the lock held."""
    if not target.parent.is_dir():
        return
    for leftover in target.parent.glob(f".{target.name}{TEMP_MARK}*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _rename_into_place(temp: Path, target: Path, replace: bool) -> bool:
    if target.exists():
        if not replace:
            return False
        retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{TEMP_MARK}old-"))
        os.replace(target, retired / target.name)
        os.replace(temp, target)
        shutil.rmtree(retired, ignore_errors=True)
        return True
    try:
        os.rename(temp, target)
    except OSError:
        if target.exists():  # lost a race to a process that does not take the lock
            return False
        raise
    return True


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        _fsync_path(path)
    _fsync_path(root)


def _fsync_path(path: Path) -> None:
    """Flush a file or a directory entry to disk (directories cannot be opened on Windows)."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
