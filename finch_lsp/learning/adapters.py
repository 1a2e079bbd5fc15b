"""Adapters: versioned LoRA directories per base model, published atomically, swapped live.

Layout: ``<data>/adapters/<base-model>/v0001/`` (adapter_model.safetensors,
adapter_config.json, meta.json, and the server's verdict.json) and a ``current`` pointer
file replaced with os.replace. A trainer writes into a staging dir; ``publish`` fsyncs it
and renames it to the next version, so a reader never sees half an adapter.

Nothing here follows a link out of the data dir. ``meta.json`` and ``verdict.json`` are
decoded leniently field by field: a version with odd files is still listed, with the
problems (``AdapterInfo.problems``), and is never used. Before the server loads an
adapter, ``validate_adapter_dir`` (adapter_check.py) checks it as a whole.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from finch_lsp.learning.adapter_check import param_shapes, validate_adapter_dir  # noqa: F401 - used with the store
from finch_lsp.paths import NOFOLLOW, OutsideDataDir, check_inside, inside, open_private, private_subdir, read_private

log = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^v(\d{4,})$")
MAX_JSON_BYTES = 1024 * 1024


def write_json_atomic(root: Path, path: Path, data: Any) -> None:
    """temp file + fsync + os.replace + fsync of the directory; ``path`` must lie in ``root``."""
    check_inside(root, path.parent)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # replaces a link itself, never its target
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(root: Path, path: Path) -> tuple[Any, str | None]:
    """(the parsed file or None when absent, the problem reading it)."""
    try:
        return json.loads(read_private(root, path, MAX_JSON_BYTES)), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"{path.name} cannot be read: {str(exc)[:200]}"


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as null, so a response never carries a non-JSON token."""
    return msgspec.json.decode(msgspec.json.encode(value))


def model_slug(name: str) -> str:
    """A directory name for a base model name, HF id or path."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip("/"))[-80:] or "model"


class AdapterMeta(msgspec.Struct, rename="camel"):
    """meta.json, as the trainer writes it (other fields are kept on disk, not read)."""

    examples: int | None = None
    losses: list[float] | None = None
    created_at: str | float | None = None
    started_at: float | None = None
    evaluation: dict[str, Any] | None = None

    @property
    def final_loss(self) -> float | None:
        last = self.losses[-1] if self.losses else None
        return last if last is not None and math.isfinite(last) else None


class Verdict(msgspec.Struct):
    """verdict.json: why the server activated or kept a version."""

    activatable: bool = False
    reason: str | None = None


def lenient(cls: type, raw: Any, name: str) -> tuple[Any, list[str]]:
    """``raw`` decoded into ``cls`` field by field: a bad field keeps its default and is reported."""
    if raw is None:
        return cls(), []
    if not isinstance(raw, dict):
        return cls(), [f"{name} is a {type(raw).__name__}, not an object"]
    values, problems = {}, []
    for f in msgspec.structs.fields(cls):
        if f.encode_name in raw:
            try:
                values[f.name] = msgspec.convert(raw[f.encode_name], f.type, strict=False)
            except msgspec.ValidationError as exc:
                problems.append(f"{name} {f.encode_name}: {exc}")
    return cls(**values), problems


@dataclass
class AdapterInfo:
    version: int
    path: Path
    meta: AdapterMeta = field(default_factory=AdapterMeta)
    verdict: Verdict = field(default_factory=Verdict)
    problems: list[str] = field(default_factory=list)  # odd files: listed, never used

    @property
    def good(self) -> bool:
        return self.verdict.activatable and not self.problems

    @property
    def name(self) -> str:
        return f"v{self.version:04d}"

    def describe(self, active: int | None) -> dict:
        """The ``finch.adapters.list`` row of PROTOCOL.md."""
        verdict = f"unreadable: {'; '.join(self.problems)}" if self.problems else self.verdict.reason
        return json_safe({
            "version": self.version,
            "createdAt": self.meta.created_at,
            "examples": self.meta.examples,
            "finalLoss": self.meta.final_loss,
            "active": self.version == active,
            "evaluation": self.meta.evaluation,
            "verdict": verdict,
        })


class AdapterStore:
    """The adapter versions of one base model."""

    def __init__(self, data_dir: Path, base_model: str) -> None:
        self.root = Path(data_dir)
        self.dir = private_subdir(self.root, "adapters", model_slug(base_model))
        self.pointer = self.dir / "current"

    def staging_dir(self) -> Path:
        """A fresh private directory for a trainer to write into."""
        path = self.dir / f".staging-{uuid.uuid4().hex[:12]}"
        path.mkdir(mode=0o700)
        return path

    def publish(self, staging: Path) -> int:
        """fsync the staged files and rename the dir to the next version; returns the version."""
        check_inside(self.root, staging)
        for item in staging.iterdir():
            fd = open_private(self.root, item, os.O_RDONLY)  # refuses a link; tightens to 0600
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(staging)
        while True:
            version = max((a.version for a in self.versions()), default=0) + 1
            target = self.dir / f"v{version:04d}"
            try:
                os.rename(staging, target)  # fails if another instance took the number
                break
            except OSError:
                if not target.exists():
                    raise
        _fsync_dir(self.dir)
        return version

    def versions(self) -> list[AdapterInfo]:
        found = []
        for path in self.dir.iterdir() if self.dir.exists() else []:
            match = VERSION_RE.match(path.name)
            if match and (path.is_dir() or path.is_symlink()):
                found.append(self._info(int(match.group(1)), path))
        return sorted(found, key=lambda a: a.version)

    def _info(self, version: int, path: Path) -> AdapterInfo:
        try:
            check_inside(self.root, path)
        except OutsideDataDir as exc:
            return AdapterInfo(version, path, problems=[str(exc)])
        raw_meta, meta_problem = _read_json(self.root, path / "meta.json")
        raw_verdict, verdict_problem = _read_json(self.root, path / "verdict.json")
        meta, problems = lenient(AdapterMeta, raw_meta, "meta.json")
        verdict, more = lenient(Verdict, raw_verdict, "verdict.json")
        problems = [p for p in (meta_problem, verdict_problem) if p] + problems + more
        return AdapterInfo(version, path, meta, verdict, problems)

    def get(self, version: int) -> AdapterInfo | None:
        return next((a for a in self.versions() if a.version == version), None)

    def read_current(self) -> tuple[int | None, str | None]:
        """(the version the ``current`` pointer names, or None; the problem with the pointer)."""
        data, problem = _read_json(self.root, self.pointer)
        if problem is not None:
            return None, f"the current pointer {self.pointer} is unreadable ({problem})"
        if data is None:
            return None, None
        version = data.get("version") if isinstance(data, dict) else data
        if version is None:
            return None, None
        if isinstance(data, dict) and isinstance(version, int) and not isinstance(version, bool) and 1 <= version <= 999_999:
            return version, None
        return None, f"the current pointer {self.pointer} holds {json.dumps(data)[:80]}, not a version number"

    def current(self) -> int | None:
        return self.read_current()[0]

    def set_current(self, version: int | None) -> None:
        write_json_atomic(self.root, self.pointer, {"version": version})

    def set_verdict(self, version: int, activatable: bool, reason: str) -> None:
        write_json_atomic(self.root, self.dir / f"v{version:04d}" / "verdict.json", {"activatable": activatable, "reason": reason})

    def previous_good(self, before: int | None) -> int | None:
        """The newest activatable version older than ``before`` (None: the base model)."""
        good = [a.version for a in self.versions() if a.good and (before is None or a.version < before)]
        return good[-1] if good else None

    def delete(self, version: int) -> None:
        info = self.get(version)
        if info is None:
            raise KeyError(version)
        if info.path.is_symlink():
            info.path.unlink()  # the link only, never what it points to
        else:
            shutil.rmtree(info.path)

    def clean_staging(self) -> None:
        """Remove staging dirs left by a killed trainer (call only while no trainer runs)."""
        clean_staging(self.root)


def clean_staging(data_dir: Path) -> list[Path]:
    """Remove every model's ``.staging-*`` dirs under ``data_dir/adapters``; the ones removed.

    A link is unlinked, never followed. Call only while no trainer uses the data dir.
    """
    removed = []
    adapters = Path(data_dir) / "adapters"
    if adapters.is_symlink() or not adapters.is_dir():
        return removed
    for model_dir in adapters.iterdir():
        if model_dir.is_symlink() or not model_dir.is_dir():
            continue
        for path in model_dir.glob(".staging-*"):
            if path.is_symlink() or not inside(data_dir, path):
                path.unlink(missing_ok=True)
            else:
                shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def activate(loaded, path: Path, version: int) -> None:
    """Swap the live model to the adapter at ``path`` (runs on the inference worker).

    Load the new adapter beside the active one, switch, then delete the old one, so the
    model never has more than two adapters and memory does not grow across swaps. When
    loading fails, the model is put back as it was (the old adapter, or no LoRA layer at
    all) and the error is raised: a failed swap never leaves an adapter behind.
    """
    from peft import PeftModel

    name = f"v{version:04d}"
    model = loaded.model
    if isinstance(model, PeftModel):
        old = model.active_adapter
        if old == name:
            return
        try:
            model.load_adapter(str(path), adapter_name=name, is_trainable=False)
            model.set_adapter(name)
        except BaseException:
            _forget(model, name, old)
            raise
        model.delete_adapter(old)
    else:
        try:
            loaded.model = PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
        except BaseException:
            strip_lora(model)
            raise
    loaded.model.eval()
    loaded.adapter_min_shift = decode_min_shift(path)


def decode_min_shift(path: Path) -> float:
    """The selective-decoding threshold the adapter at ``path`` was judged with (its meta.json
    training config); 0 (plain adapted decoding) for adapters saved without one."""
    try:
        with os.fdopen(os.open(Path(path) / "meta.json", os.O_RDONLY | NOFOLLOW), "rb") as f:
            raw = f.read(MAX_JSON_BYTES + 1)
        config = json.loads(raw[:MAX_JSON_BYTES]).get("config") or {}
        return max(0.0, float(config.get("decode_min_shift", 0.0)))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0


def _forget(model, name: str, old: str) -> None:
    """After a failed load beside ``old``: ``old`` active again, ``name`` gone."""
    try:
        model.set_adapter(old)
        if name in model.peft_config:
            model.delete_adapter(name)
    except Exception:  # noqa: BLE001 - the load's error is the one to report
        log.exception("could not remove the half-loaded adapter %s", name)


def strip_lora(model) -> None:
    """Put back the base layers wherever peft injected LoRA layers into ``model``."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    for attr in ("peft_config", "_hf_peft_config_loaded"):
        if attr in vars(model):
            delattr(model, attr)


def deactivate(loaded) -> None:
    """Back to the base model: the LoRA layers are removed, not merged."""
    from peft import PeftModel

    if isinstance(loaded.model, PeftModel):
        loaded.model = loaded.model.unload()
        loaded.model.eval()
    loaded.adapter_min_shift = 0.0


def adapter_count(loaded) -> int:
    """How many adapters the live model holds (0 or 1 between swaps)."""
    return len(getattr(loaded.model, "peft_config", {}) or {})
