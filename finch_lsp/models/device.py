"""Choosing the torch device and the dtype that goes with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finch_lsp.models.loaded import ModelLoadError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(requested: str = "auto") -> str:
    """The device to load on: ``auto`` picks cuda, then mps, then cpu.

    An explicit name ("cpu", "cuda", "cuda:N", "mps") is checked against what this PyTorch
    build can use; an unknown or unavailable device raises ModelLoadError saying what to set.
    """
    import torch

    name = (requested or "auto").strip().lower()
    if name == "auto":
        return _best_available_device(torch)
    kind, _, index = name.partition(":")
    if kind not in DEVICE_CHOICES or (index and kind != "cuda"):
        raise ModelLoadError(
            f"unknown device {requested!r}: set device to one of auto, cpu, cuda, cuda:N or mps"
        )
    if kind == "cuda":
        _check_cuda(torch, name, index)
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(
            "device 'mps' was asked for but Apple's Metal backend is not available here; "
            "set device to auto or cpu"
        )
    return name


def _best_available_device(torch) -> str:
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _check_cuda(torch, name: str, index: str) -> None:
    if not torch.cuda.is_available():
        cuda = torch.version.cuda
        build = "a CPU-only build" if cuda is None else f"built for CUDA {cuda}"
        raise ModelLoadError(
            f"device {name!r} was asked for but PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}, {build}); set device to auto or cpu, "
            "or install a CUDA build of PyTorch"
        )
    if index:
        count = torch.cuda.device_count()
        if not index.isdigit() or int(index) >= count:
            raise ModelLoadError(
                f"device {name!r} does not exist: this machine has {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}"
            )


def dtype_for_device(device: str) -> torch.dtype:
    """bfloat16 on CUDA (float16 where the GPU lacks bf16), float32 on CPU and MPS.

    MPS stays in float32: Qwen2 activations overflow float16, and bfloat16 on MPS depends on
    the macOS version.
    """
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
