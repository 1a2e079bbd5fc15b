"""The Qwen2.5-Coder models finch can download, what each needs, and what ``auto`` picks.

Everything here is pure: the machine is described by a ``Machine`` (see machine.py) and what
is downloaded by a set of names, so the table and the pick are tested without either.

The table ``auto`` follows (the installed RAM on a CPU or Apple GPU; the free memory of the
GPU on CUDA):

| CPU / Apple GPU: RAM | CUDA GPU: free memory | largest model ``auto`` uses |
|---|---|---|
| under 8 GB           | under 4 GB            | qwen2.5-coder-0.5b |
| 8 to 16 GB           | 4 to 8 GB             | qwen2.5-coder-1.5b |
| 16 GB or more        | 8 GB or more          | qwen2.5-coder-3b   |

The thresholds are binary gigabytes with a margin for what the OS keeps back: a machine
sold with 8 GB reports about 7.7 GiB, so the RAM thresholds are 7.5 and 15 GiB.
``auto`` takes the largest downloaded model at or below the machine's row, else the embedded
smollm2-135m, and says which model to pull for a better one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from finch_lsp.models.sizes import GIB, MIB, format_size  # noqa: F401 - format_size is part of the catalog's surface
from finch_lsp.models.tiny import QWEN25_VOCAB_SIZE, QWEN2_SHAPES, Qwen2Shape

if TYPE_CHECKING:
    from collections.abc import Collection

    from finch_lsp.models.machine import Machine

EMBEDDED = "smollm2-135m"
SMOLLM2_PARAMETERS = 134_515_008

# Memory beyond the weights: the torch runtime, tokenizer, activations and the KV cache of a
# 1.5k-token prompt on the CPU; the CUDA context and workspace on a GPU. Estimates: the
# weights dominate, and these allowances are rounded up.
CPU_RUNTIME_BYTES = 512 * MIB
GPU_RUNTIME_BYTES = 768 * MIB
CPU_BYTES_PER_PARAMETER = 4  # float32: finch runs in float32 on CPU and MPS (see device.py)
GPU_BYTES_PER_PARAMETER = 2  # bfloat16 (or float16) on CUDA

QWEN25_CODER_3B_SHAPE = Qwen2Shape(2048, 11008, 36, 16, 2)


def qwen2_parameters(shape: Qwen2Shape, vocab_size: int = QWEN25_VOCAB_SIZE) -> int:
    """Parameters of a Qwen2 model with tied embeddings (q/k/v biases, SwiGLU MLP, RMS norms)."""
    hidden, layers = shape.hidden_size, shape.num_hidden_layers
    kv_dim = hidden // shape.num_attention_heads * shape.num_key_value_heads
    attention = (hidden * hidden + hidden) + 2 * (hidden * kv_dim + kv_dim) + hidden * hidden
    mlp = 3 * hidden * shape.intermediate_size
    return vocab_size * hidden + layers * (attention + mlp + 2 * hidden) + hidden


def cpu_memory_bytes(parameters: int) -> int:
    """Memory a model of this size needs to run on a CPU (or Apple GPU) in float32."""
    return parameters * CPU_BYTES_PER_PARAMETER + CPU_RUNTIME_BYTES


def gpu_memory_bytes(parameters: int) -> int:
    """GPU memory a model of this size needs in bfloat16."""
    return parameters * GPU_BYTES_PER_PARAMETER + GPU_RUNTIME_BYTES


@dataclass(frozen=True)
class HubModel:
    """A model finch knows how to download from the Hugging Face hub."""

    name: str
    repo: str
    parameters: int
    download_bytes: int
    """What the hub publishes for the repository's files (weights, config, tokenizer)."""

    @property
    def cpu_memory_bytes(self) -> int:
        return cpu_memory_bytes(self.parameters)

    @property
    def gpu_memory_bytes(self) -> int:
        return gpu_memory_bytes(self.parameters)


HUB_MODELS: tuple[HubModel, ...] = (  # smallest first
    HubModel(
        "qwen2.5-coder-0.5b", "Qwen/Qwen2.5-Coder-0.5B",
        qwen2_parameters(QWEN2_SHAPES["qwen2.5-coder-0.5b-random"]), 999_600_000,
    ),
    HubModel(
        "qwen2.5-coder-1.5b", "Qwen/Qwen2.5-Coder-1.5B",
        qwen2_parameters(QWEN2_SHAPES["qwen2.5-coder-1.5b-random"]), 3_099_000_000,
    ),
    HubModel(
        "qwen2.5-coder-3b", "Qwen/Qwen2.5-Coder-3B",
        qwen2_parameters(QWEN25_CODER_3B_SHAPE), 6_183_000_000,
    ),
)  # fmt: skip
HUB_MODELS_BY_NAME = {model.name: model for model in HUB_MODELS}

# (below this many bytes, the largest model) per row of the table in the module docstring.
RAM_TIERS: tuple[tuple[float, str], ...] = (
    (7.5 * GIB, "qwen2.5-coder-0.5b"),
    (15 * GIB, "qwen2.5-coder-1.5b"),
    (float("inf"), "qwen2.5-coder-3b"),
)
VRAM_TIERS: tuple[tuple[float, str], ...] = (
    (4 * GIB, "qwen2.5-coder-0.5b"),
    (8 * GIB, "qwen2.5-coder-1.5b"),
    (float("inf"), "qwen2.5-coder-3b"),
)


def hub_model(name: str) -> HubModel | None:
    """The downloadable model called ``name`` (case and spaces ignored), else None."""
    return HUB_MODELS_BY_NAME.get((name or "").strip().lower())


def largest_fitting(machine: Machine) -> HubModel:
    """The largest Qwen2.5-Coder the table allows on ``machine`` (0.5B when memory is unknown)."""
    memory, tiers = (machine.vram_free_bytes, VRAM_TIERS) if machine.is_cuda else (machine.ram_bytes, RAM_TIERS)
    if memory is None:
        return HUB_MODELS[0]
    name = next(model for limit, model in tiers if memory < limit)
    return HUB_MODELS_BY_NAME[name]


@dataclass(frozen=True)
class AutoChoice:
    """What ``auto`` stands for on this machine, why, and what to pull for a better model."""

    name: str
    why: str
    better: HubModel | None
    """The model that fits this machine better than ``name`` and is not downloaded yet."""


def pick_auto(machine: Machine, present: Collection[str]) -> AutoChoice:
    """The largest downloaded Qwen2.5-Coder that fits ``machine``, else the embedded model."""
    limit = largest_fitting(machine)
    fitting = HUB_MODELS[: HUB_MODELS.index(limit) + 1]
    downloaded = [model for model in fitting if model.name in present]
    where = f"this machine ({machine.describe()}) fits up to {limit.name}"
    if downloaded:
        best = downloaded[-1]
        why = f"{best.name} is the largest downloaded Qwen2.5-Coder that fits; {where}"
        if best is limit:
            return AutoChoice(best.name, why, None)
        return AutoChoice(best.name, f"{why}: run {pull_hint(limit)} for it", limit)
    why = (
        f"no Qwen2.5-Coder that fits is downloaded; {where}: run {pull_hint(limit)} for it, "
        "or set finch.modelDownload to true to fetch it in the background"
    )
    return AutoChoice(EMBEDDED, why, limit)


def why_not(model: HubModel, machine: Machine, present: Collection[str]) -> str:
    """Why ``auto`` does not use ``model`` on ``machine`` (for model lists)."""
    limit = largest_fitting(machine)
    if HUB_MODELS.index(model) > HUB_MODELS.index(limit):
        if machine.is_cuda:
            return (
                f"needs about {format_size(model.gpu_memory_bytes)} of GPU memory; "
                f"{machine.describe()}: auto stops at {limit.name}"
            )
        return f"needs about {format_size(model.cpu_memory_bytes)} of RAM; {machine.describe()}: auto stops at {limit.name}"
    if model.name not in present:
        return f"not downloaded: {pull_hint(model)}"
    return "a larger downloaded model fits this machine"


def pull_hint(model: HubModel) -> str:
    """The command that downloads ``model``, with its size."""
    return f"`finch-lsp models pull {model.name}` ({format_size(model.download_bytes)})"
