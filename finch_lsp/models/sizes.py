"""Byte sizes for people."""

from __future__ import annotations

GIB = 1 << 30
MIB = 1 << 20


def format_size(size: float) -> str:
    """Bytes for people, in binary units: ``931.3 MiB``, ``2.9 GiB``."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} B"
