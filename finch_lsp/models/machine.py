"""What this machine offers a model: the device ``auto`` would use and its memory.

Cheap and without torch: RAM comes from the OS (capped by a container's cgroup limit), a CUDA
GPU's free memory from ``nvidia-smi`` (or from torch when the process has already started
CUDA). The probe assumes the GPU nvidia-smi reports is the one PyTorch uses; set the device
setting to ``cpu`` to have ``auto`` pick by RAM instead.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from finch_lsp.models.sizes import format_size

NVIDIA_SMI_TIMEOUT_S = 10.0
CGROUP_LIMIT_FILES = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


@dataclass(frozen=True)
class Machine:
    """The device a model would run on and the memory it has."""

    device: str
    """"cpu", "mps" or "cuda" (or "cuda:N")."""
    ram_bytes: int | None
    vram_free_bytes: int | None = None
    gpu_name: str | None = None

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def describe(self) -> str:
        """``GPU NVIDIA H200 with 139.0 GiB free`` or ``CPU with 15.5 GiB RAM``."""
        if self.is_cuda:
            free = "unknown memory" if self.vram_free_bytes is None else f"{format_size(self.vram_free_bytes)} free"
            return f"GPU {self.gpu_name or self.device} with {free}"
        kind = "Apple GPU (MPS)" if self.device == "mps" else "CPU"
        ram = "unknown RAM" if self.ram_bytes is None else f"{format_size(self.ram_bytes)} RAM"
        return f"{kind} with {ram}"


def probe_machine(device: str = "auto") -> Machine:
    """The machine as ``device`` (a device setting: auto, cpu, cuda, cuda:N, mps) sees it."""
    requested = (device or "auto").strip().lower()
    ram = ram_bytes()
    if requested == "auto" or requested.startswith("cuda"):
        index = int(requested.partition(":")[2] or 0) if requested.partition(":")[2].isdigit() else 0
        gpu = cuda_free_memory(index)
        if gpu is not None:
            name, free = gpu
            return Machine(requested if requested != "auto" else "cuda", ram, free, name)
    if requested == "mps" or (requested == "auto" and _is_apple_silicon()):
        return Machine("mps", ram)
    return Machine("cpu", ram)


def ram_bytes() -> int | None:
    """Installed RAM as the OS reports it, or a smaller container limit; None if unknown."""
    total = _physical_ram()
    limit = _cgroup_limit()
    if total is None:
        return limit
    return min(total, limit) if limit else total


def cuda_free_memory(index: int = 0) -> tuple[str, int] | None:
    """(name, free bytes) of CUDA device ``index`` as this process numbers it; None without one."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        if index >= torch.cuda.device_count():
            return None
        free, _total = torch.cuda.mem_get_info(index)
        return torch.cuda.get_device_name(index), int(free)
    physical = _physical_gpu_index(index)
    if physical is None or shutil.which("nvidia-smi") is None:
        return None
    try:
        output = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvidia_smi(output, physical)


def parse_nvidia_smi(output: str, physical_index: int) -> tuple[str, int] | None:
    """(name, free bytes) of one GPU from ``nvidia-smi --query-gpu=index,name,memory.free`` csv."""
    for line in output.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) == 3 and fields[0] == str(physical_index) and fields[2].isdigit():
            return fields[1], int(fields[2]) << 20  # nvidia-smi reports MiB
    return None


def _physical_gpu_index(index: int) -> int | None:
    """The nvidia-smi index of the process's CUDA device ``index`` (CUDA_VISIBLE_DEVICES)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return index
    ids = [item.strip() for item in visible.split(",") if item.strip()]
    if not ids or ids[0] == "-1" or index >= len(ids):
        return None
    return int(ids[index]) if ids[index].isdigit() else index


def _physical_ram() -> int | None:
    if sys.platform == "win32":
        return _windows_ram()
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_limit() -> int | None:
    for path in CGROUP_LIMIT_FILES:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # "max" or a huge number: no limit
            return int(text)
    return None


def _windows_ram() -> int | None:
    import ctypes

    class MemoryStatus(ctypes.Structure):
        _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong)] + [
            (name, ctypes.c_ulonglong)
            for name in ("total", "available", "page_total", "page_free", "virtual_total", "virtual_free", "extended")
        ]

    status = MemoryStatus(length=ctypes.sizeof(MemoryStatus))
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return None
    return int(status.total)


def _is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"
