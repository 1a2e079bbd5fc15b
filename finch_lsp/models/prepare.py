"""``python -m finch_lsp.models.prepare``: build the derived model files ahead of first use.

Converts the embedded SmolLM2 GGUF to safetensors and builds the Qwen2.5 tokenizer json in
the cache dir, so that the first completion does not wait for them. Safe to run repeatedly
and concurrently with a running server.
"""

from __future__ import annotations

import sys
import time

from finch_lsp.models.embedded import ensure_converted
from finch_lsp.models.loaded import ModelLoadError
from finch_lsp.models.qwen_tokenizer import cached_tokenizer_json


def prepare_model_cache() -> None:
    """Build every derived file that is missing, printing what it does."""
    started = time.monotonic()
    print(f"finch: SmolLM2 ready in {ensure_converted(_say)}", flush=True)
    print(f"finch: Qwen2.5 tokenizer ready in {cached_tokenizer_json(_say)}", flush=True)
    print(f"finch: model cache prepared in {time.monotonic() - started:.1f} s", flush=True)


def main() -> int:
    """Entry point; exit status 1 with the reason when a file cannot be built."""
    try:
        prepare_model_cache()
    except ModelLoadError as error:
        print(f"finch: {error}", file=sys.stderr)
        return 1
    return 0


def _say(message: str) -> None:
    print(f"finch: {message}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
