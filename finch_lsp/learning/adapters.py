"""Adapters: versioned LoRA directories per base model, published atomically, swapped live.

Layout: ``<data>/adapters/<base-model>/v0001/`` (adapter_model.safetensors,
adapter_config.json, meta.json, and the server's verdict.json) and a ``current`` pointer
file replaced with os.replace. A trainer writes into a staging dir; ``publish`` fsyncs it
and renames it to the next version, so a reader never sees half an adapter.

Before the server loads an adapter, ``validate_adapter_dir`` checks its files: safetensors
only, target modules and shapes that fit the base model, finite values.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^v(\d{4,})$")


def write_json_atomic(path: Path, data: Any) -> None:
    """temp file + fsync + os.replace + fsync of the directory."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def model_slug(name: str) -> str:
    """A directory name for a base model name, HF id or path."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip("/"))[-80:] or "model"


@dataclass
class AdapterInfo:
    version: int
    path: Path
    meta: dict
    verdict: dict

    @property
    def good(self) -> bool:
        return bool(self.verdict.get("activatable"))

    def describe(self, active: int | None) -> dict:
        """The ``finch.adapters.list`` row of PROTOCOL.md."""
        evaluation = self.meta.get("evaluation")
        return {
            "version": self.version,
            "createdAt": self.meta.get("createdAt"),
            "examples": self.meta.get("examples"),
            "finalLoss": (self.meta.get("losses") or [None])[-1],
            "active": self.version == active,
            "evaluation": evaluation,
            "verdict": self.verdict.get("reason"),
        }


class AdapterStore:
    """The adapter versions of one base model."""

    def __init__(self, data_dir: Path, base_model: str) -> None:
        self.dir = Path(data_dir) / "adapters" / model_slug(base_model)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.pointer = self.dir / "current"

    def staging_dir(self) -> Path:
        """A fresh private directory for a trainer to write into."""
        path = self.dir / f".staging-{uuid.uuid4().hex[:12]}"
        path.mkdir(mode=0o700)
        return path

    def publish(self, staging: Path) -> int:
        """fsync the staged files and rename the dir to the next version; returns the version."""
        for item in staging.iterdir():
            os.chmod(item, 0o600)
            with open(item, "rb") as f:
                os.fsync(f.fileno())
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
            if match and path.is_dir():
                meta = _read_json(path / "meta.json") or {}
                verdict = _read_json(path / "verdict.json") or {}
                found.append(AdapterInfo(int(match.group(1)), path, meta, verdict))
        return sorted(found, key=lambda a: a.version)

    def get(self, version: int) -> AdapterInfo | None:
        return next((a for a in self.versions() if a.version == version), None)

    def current(self) -> int | None:
        data = _read_json(self.pointer)
        return data.get("version") if isinstance(data, dict) else None

    def set_current(self, version: int | None) -> None:
        write_json_atomic(self.pointer, {"version": version})

    def set_verdict(self, version: int, activatable: bool, reason: str) -> None:
        write_json_atomic(self.dir / f"v{version:04d}" / "verdict.json", {"activatable": activatable, "reason": reason})

    def previous_good(self, before: int | None) -> int | None:
        """The newest activatable version older than ``before`` (None: the base model)."""
        good = [a.version for a in self.versions() if a.good and (before is None or a.version < before)]
        return good[-1] if good else None

    def delete(self, version: int) -> None:
        info = self.get(version)
        if info is None:
            raise KeyError(version)
        shutil.rmtree(info.path)

    def clean_staging(self) -> None:
        """Remove staging dirs left by a killed trainer."""
        for path in self.dir.glob(".staging-*"):
            shutil.rmtree(path, ignore_errors=True)


def activate(loaded, path: Path, version: int) -> None:
    """Swap the live model to the adapter at ``path`` (runs on the inference worker).

    Load the new adapter beside the active one, switch, then delete the old one, so the
    model never has more than two adapters and memory does not grow across swaps.
    """
    from peft import PeftModel

    name = f"v{version:04d}"
    model = loaded.model
    if isinstance(model, PeftModel):
        old = model.active_adapter
        if old == name:
            return
        model.load_adapter(str(path), adapter_name=name, is_trainable=False)
        model.set_adapter(name)
        model.delete_adapter(old)
    else:
        loaded.model = PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
    loaded.model.eval()


def deactivate(loaded) -> None:
    """Back to the base model: the LoRA layers are removed, not merged."""
    from peft import PeftModel

    if isinstance(loaded.model, PeftModel):
        loaded.model = loaded.model.unload()
        loaded.model.eval()


def adapter_count(loaded) -> int:
    """How many adapters the live model holds (0 or 1 between swaps)."""
    return len(getattr(loaded.model, "peft_config", {}) or {})


# -- validation: run by the server before an adapter is loaded ----------------------------
ADAPTER_WEIGHTS = "adapter_model.safetensors"

ADAPTER_CONFIG = "adapter_config.json"

UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".npy", ".npz")

_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$")


def param_shapes(model) -> dict[str, tuple]:
    """Parameter name -> shape of a base model, the input ``validate_adapter_dir`` expects."""
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def validate_adapter_dir(path: str, base_model_param_shapes: dict[str, tuple]) -> list[str]:
    """Problems that make the adapter in ``path`` unsafe or unfit to load (empty: valid)."""
    if not os.path.isdir(path):
        return [f"{path} is not a directory"]
    problems = [f"{name}: only safetensors weights are loaded (pickle-based files can run code)" for name in sorted(os.listdir(path)) if name.lower().endswith(UNSAFE_SUFFIXES)]
    config, config_problems = _read_adapter_config(path)
    problems += config_problems
    if not os.path.isfile(os.path.join(path, ADAPTER_WEIGHTS)):
        return problems + [f"{ADAPTER_WEIGHTS} is missing"]
    modules = {name.rsplit(".", 1)[0]: shape for name, shape in base_model_param_shapes.items() if name.endswith(".weight")}
    if config is not None:
        problems += _check_target_modules(config, modules)
    return problems + _check_weights(os.path.join(path, ADAPTER_WEIGHTS), modules, config)


def _read_adapter_config(path: str) -> tuple[dict | None, list[str]]:
    """The parsed adapter_config.json, or the problem with it."""
    try:
        with open(os.path.join(path, ADAPTER_CONFIG), encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        return None, [f"{ADAPTER_CONFIG} is missing"]
    except (OSError, ValueError) as exc:
        return None, [f"{ADAPTER_CONFIG} cannot be read: {exc}"]
    if not isinstance(config, dict) or not isinstance(config.get("r"), int):
        return None, [f"{ADAPTER_CONFIG} is not a LoRA config (no integer 'r')"]
    return config, []


def _check_target_modules(config: dict, modules: dict[str, tuple]) -> list[str]:
    """Every configured target module names at least one linear layer of the base model."""
    targets = config.get("target_modules") or []
    if isinstance(targets, str):
        found = any(re.fullmatch(targets, name) for name in modules)
        return [] if found else [f"target_modules pattern {targets!r} matches no layer of the base model"]
    missing = [t for t in targets if not any(name == t or name.endswith("." + t) for name in modules)]
    return [f"target module {t!r} does not exist in the base model" for t in missing]


def _check_weights(weights_path: str, modules: dict[str, tuple], config: dict | None) -> list[str]:
    """LoRA tensors fit their base layers (A: rank x in, B: out x rank) and hold finite values."""
    from safetensors import SafetensorError, safe_open

    problems = []
    try:
        with safe_open(weights_path, framework="pt") as f:
            for key in f.keys():
                problems += _check_tensor(key, f.get_tensor(key), modules, config)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        return [f"{ADAPTER_WEIGHTS} cannot be read as safetensors: {exc}"]
    return problems


def _check_tensor(key: str, tensor, modules: dict[str, tuple], config: dict | None) -> list[str]:
    """Problems with one adapter tensor."""
    import torch

    match = _LORA_KEY.match(key)
    if match is None:
        return [f"unexpected tensor {key}: only LoRA A/B matrices are accepted"]
    module, part = match["module"], match["part"]
    base = modules.get(module)
    if base is None or len(base) != 2:
        return [f"{key}: the base model has no linear layer {module}"]
    out_features, in_features = base
    rank = config["r"] if config else tensor.shape[0 if part == "A" else 1]
    expected = (rank, in_features) if part == "A" else (out_features, rank)
    problems = []
    if tuple(tensor.shape) != expected:
        problems.append(f"{key}: shape {tuple(tensor.shape)} does not fit the base layer (expected {expected})")
    if not bool(torch.isfinite(tensor.float()).all()):
        problems.append(f"{key}: holds NaN or infinite values")
    return problems
