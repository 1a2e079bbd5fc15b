"""``--set key=value`` pairs of the bench commands: known keys, values parsed as JSON where they parse."""

from __future__ import annotations

import json


def parse_overrides(pairs: list[str], names: set[str], what: str) -> dict:
    """``key=value`` pairs as a dict; a key outside ``names`` stops the bench, naming ``what`` it must be."""
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in names:
            raise SystemExit(f"--set {pair}: {key!r} is not {what} ({', '.join(sorted(names))})")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
