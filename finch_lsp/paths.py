"""Where finch keeps its files, and the data dir as a boundary: the only user of platformdirs.

Data (feedback store, adapters) lives in the user data dir, overridable with
``--data-dir`` or ``FINCH_DATA_DIR``; derived files (converted model weights,
tokenizer json) live in the user cache dir, overridable with ``FINCH_CACHE_DIR``.
Directories are created 0700 and files 0600: they hold the user's code.

Nothing finch writes, reads or chmods in the data dir follows a symbolic link out of it:
files are opened with O_NOFOLLOW and every path is checked to resolve inside the data dir
(``inside``, ``open_private``, ``read_private``). ``tighten`` makes a looser pre-existing
tree private and says what it could not change.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

APP = "finch-lsp"

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class OutsideDataDir(OSError):
    """A path in the data dir is a symbolic link, or resolves outside the data dir."""


def _private_dir(path: Path) -> Path:
    """Create ``path`` and every missing parent 0700 (mkdir's parents get the umask's mode)."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.is_symlink():
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


# -- the data dir as a boundary ---------------------------------------------------------------
def inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``path``, with every link resolved, is ``root`` itself or lies under it."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def check_inside(root: str | os.PathLike, path: str | os.PathLike) -> None:
    """Raise OutsideDataDir unless ``path`` is a plain (non-link) entry that resolves under ``root``."""
    if os.path.abspath(path) == os.path.abspath(root):
        return  # the data dir itself may be a link the user chose
    if os.path.islink(path):
        raise OutsideDataDir(f"{path} is a symbolic link: finch does not follow links in its data dir; replace it with a regular file or folder")
    if not inside(root, path):
        raise OutsideDataDir(f"{path} resolves outside the data dir {root} (a linked folder): finch does not write or read there")


def private_subdir(root: str | os.PathLike, *parts: str) -> Path:
    """``root/parts...`` created 0700, refusing any component that is a link out of ``root``."""
    path = Path(root)
    for part in parts:
        path = path / part
        if path.is_symlink() or (path.exists() and not inside(root, path)):
            check_inside(root, path)
        if not path.exists():
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                pass
        check_inside(root, path)
        if stat.S_IMODE(os.lstat(path).st_mode) & 0o077:
            os.chmod(path, 0o700)
    return path


def _open_nofollow(root: str | os.PathLike, path: str | os.PathLike, flags: int, mode: int = 0o600) -> int:
    check_inside(root, os.path.dirname(os.path.abspath(path)) or ".")
    try:
        return os.open(path, flags | NOFOLLOW | CLOEXEC, mode)
    except OSError as exc:
        if os.path.islink(path):
            raise OutsideDataDir(f"{path} is a symbolic link: finch does not follow links in its data dir; replace it with a regular file") from exc
        raise


def open_private(root: str | os.PathLike, path: str | os.PathLike, flags: int, mode: int = 0o600) -> int:
    """os.open ``path`` in the data dir ``root`` without following a link; new files get ``mode``.

    A file that exists with looser permissions is tightened through its descriptor.
    """
    fd = _open_nofollow(root, path, flags, mode)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OutsideDataDir(f"{path} is not a regular file")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_private(root: str | os.PathLike, path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a regular file in the data dir (no links followed), refusing more than ``limit``."""
    fd = _open_nofollow(root, path, os.O_RDONLY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OutsideDataDir(f"{path} is not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{os.path.basename(path)} is {info.st_size} bytes, more than the {limit} finch reads")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(limit + 1)[:limit]
    finally:
        os.close(fd)


def tighten(root: str | os.PathLike) -> list[str]:
    """Make every folder under ``root`` 0700 and every file 0600; what could not be changed.

    Links are neither followed nor changed (finch refuses them where it would use them).
    """
    problems = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name, wanted in [(folder, 0o700)] + [(os.path.join(folder, f), 0o600) for f in files]:
            try:
                info = os.lstat(name)
                if stat.S_ISLNK(info.st_mode) or not stat.S_IMODE(info.st_mode) & 0o077:
                    continue
                os.chmod(name, stat.S_IMODE(info.st_mode) & wanted)
            except OSError as exc:
                problems.append(f"{name} is readable by others and could not be made private ({exc.strerror}); run chmod -R go-rwx {root}")
        if len(problems) > 5:
            return problems[:5] + ["and more"]
    return problems


def private_file(path: str | os.PathLike) -> None:
    """Create ``path`` 0600 if it is missing, or make it 0600 (a log file that holds the user's code)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
