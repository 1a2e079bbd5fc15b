"""``finch-lsp bench --adapter DIR``: what an active adapter costs a completion, in one run.

The same prompt (the latency bench's document, ``--prompt-tokens``) is completed through the
server's ``generate`` three ways, interleaved run by run so that the machine's drift falls on
all three alike: the base model; the adapter decoded plainly (``decode_min_shift`` 0); the
adapter decoded selectively (``completion.selective``, the threshold it was judged with, or
the default for adapters saved without one). Each run is cold (no KV prefix reuse) and makes exactly
``--new-tokens`` tokens. Reported: p50 seconds and the ratio of each to the base model's.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

from finch_lsp.tools.latency import WARMUPS, bench_document, document_prefix, machine_info, machine_line
from finch_lsp.tools.report import write_section

HEADING = "## Cost of an active adapter (selective decoding)"


def run_adapter_cost_bench(args: argparse.Namespace) -> int:
    from finch_lsp.completion.generate import generate
    from finch_lsp.learning.adapters import activate, decode_min_shift
    from finch_lsp.learning.jobs import TrainConfig
    from finch_lsp.models import ModelLoadError, load_model

    model = args.model or "smollm2-135m"
    path = Path(args.adapter)
    if not (path / "adapter_model.safetensors").is_file():
        print(f"finch-lsp bench --adapter: {path} holds no adapter_model.safetensors; pass an adapter version directory", file=sys.stderr)
        return 2
    try:
        loaded = load_model(model, args.device or "cpu")
    except ModelLoadError as error:
        print(f"finch-lsp bench: {error}", file=sys.stderr)
        return 1
    count = lambda text: len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    text, line, character = bench_document(count, args.prompt_tokens, False)
    prefix = document_prefix(text, line, character)
    activate(loaded, path, 1)
    selective_shift = decode_min_shift(path) or TrainConfig().decode_min_shift
    ways = {"base model": None, "adapter, plain": 0.0, f"adapter, selective ({selective_shift:g} nats)": selective_shift}
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    tokens = 0
    for run in range(WARMUPS + args.runs):
        for way, shift in ways.items():
            loaded.adapter_min_shift = shift or 0.0
            started = time.perf_counter()
            if shift is None:
                with loaded.model.disable_adapter():
                    out = generate(loaded, prefix, "", args.new_tokens, min_new_tokens=args.new_tokens)
            else:
                out = generate(loaded, prefix, "", args.new_tokens, min_new_tokens=args.new_tokens)
            if run >= WARMUPS:
                seconds[way].append(time.perf_counter() - started)
            tokens = out.prompt_tokens
    base = statistics.median(seconds["base model"])
    rows = [f"| {way} | {statistics.median(s):.3f} | {statistics.median(s) / base:.2f}x |" for way, s in seconds.items()]
    section = "\n".join([
        f"### {model}, {machine_line(machine_info())} ({datetime.date.today().isoformat()})", "",
        f"`finch-lsp bench --adapter {path.name} --prompt-tokens {args.prompt_tokens} --new-tokens {args.new_tokens} --runs {args.runs}`: "
        f"a {tokens}-token prompt, {args.new_tokens} new tokens, cold, p50 of {args.runs} runs each, interleaved.", "",
        "| decoding | p50 s | against the base model |", "|---|---|---|", *rows, "",
    ])
    print(section)
    if args.output:
        write_section(args.output, HEADING, __doc__.split("\n\n", 1)[1], section)
    return 0
