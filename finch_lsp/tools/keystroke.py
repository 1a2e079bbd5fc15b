"""``finch-lsp bench --keystroke``: what a keystroke costs with KV prefix reuse, against a cold request.

In a file of ``--prompt-tokens`` tokens (1,500 by default) the cursor sits mid-file; one cold
completion prefills the whole prompt, then characters are typed one at a time and each
keystroke's completion runs on the engine as the server runs it (prompt building, token
healing, the document's cached KV prefix). Reported: tokens prefilled and time to the first
token per keystroke, as a share of the cold request's. Run in-process on one engine worker,
so nothing else competes for the cores but the machine's own load.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from finch_lsp.completion.engine import CompletionRequest, InferenceEngine
from finch_lsp.tools.latency import bench_document, document_prefix, machine_info, machine_line, percentile

TYPED = "value.total"  # typed after the cursor, one character per keystroke
SECTION_HEADING = "## KV prefix reuse at a keystroke"
DEFAULT_PROMPT_TOKENS = 1500


@dataclass
class Keystrokes:
    model: str
    prompt_tokens: int
    cold_prefilled: int
    cold_first_token: list[float]
    prefilled: list[int]
    first_token: list[float]

    @property
    def token_share(self) -> float:
        return percentile([float(p) for p in self.prefilled], 50) / self.cold_prefilled

    @property
    def time_share(self) -> float:
        return percentile(self.first_token, 50) / percentile(self.cold_first_token, 50)


def measure(model: str, prompt_tokens: int, rounds: int) -> Keystrokes:
    """Cold requests and keystrokes, interleaved ``rounds`` times on one engine."""
    from finch_lsp.models import load_model

    engine = InferenceEngine()
    try:
        engine.load(lambda: load_model(model, "cpu")).result()
        if engine.error:
            raise RuntimeError(engine.error)
        loaded = engine.loaded
        count = lambda text: len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
        text, line, character = bench_document(count, prompt_tokens, loaded.fim is not None)
        at = len(document_prefix(text, line, character))
        prefix, suffix = text[:at] + " ", text[at:]
        budget = prompt_tokens + 512

        def run(p: str):
            request = CompletionRequest(key="doc", prefix=p, suffix=suffix, max_new_tokens=1, min_new_tokens=1, prompt_tokens=budget)
            return engine.complete(request).result()

        run(prefix)  # a warm-up: lazy set-up is not what is measured
        result = Keystrokes(model, 0, 0, [], [], [])
        for _ in range(rounds):
            engine.prefixes.clear()
            cold = run(prefix)
            result.prompt_tokens, result.cold_prefilled = cold.prompt_tokens, cold.prefilled
            result.cold_first_token.append(cold.first_token_seconds)
            for k in range(1, len(TYPED) + 1):
                out = run(prefix + TYPED[:k])
                result.prefilled.append(out.prefilled)
                result.first_token.append(out.first_token_seconds)
        return result
    finally:
        engine.close(wait_s=30)


def render_markdown(r: Keystrokes, machine: dict[str, str], command: str) -> str:
    ok = "meets" if r.token_share <= 0.10 and r.time_share <= 0.10 else "misses"
    return (
        f"{SECTION_HEADING} ({r.model})\n\n"
        f"`{command}` on {machine_line(machine)}.\n\n"
        "| | cold request | keystroke (median) | share |\n|---|---|---|---|\n"
        f"| prompt tokens prefilled | {r.cold_prefilled} of {r.prompt_tokens} | {percentile([float(p) for p in r.prefilled], 50):.0f} | {r.token_share:.1%} |\n"
        f"| time to first token | {percentile(r.cold_first_token, 50) * 1000:.1f} ms | {percentile(r.first_token, 50) * 1000:.1f} ms | {r.time_share:.1%} |\n\n"
        f"{len(r.prefilled)} keystrokes over {len(r.cold_first_token)} cold requests; "
        f"this {ok} the target (at most 10% of a cold prefill, in tokens and in time).\n"
    )


def run_keystroke_bench(args: argparse.Namespace) -> int:
    model = args.model or "smollm2-135m"
    try:
        result = measure(model, args.prompt_tokens or DEFAULT_PROMPT_TOKENS, max(1, args.runs // 10))
    except Exception as error:  # noqa: BLE001 - a benchmark reports why it could not run
        print(f"finch-lsp bench --keystroke: {error}", file=sys.stderr)
        return 1
    section = render_markdown(result, machine_info(), " ".join(["finch-lsp", *sys.argv[1:]]))
    print(section)
    if args.output:
        replace_section(Path(args.output), section)
    return 0


def replace_section(path: Path, section: str) -> None:
    """Write ``section`` into ``path`` in place of the section with the same heading, else at the end."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    heading = section.split("\n", 1)[0]
    lines = text.split("\n")
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = section.rstrip("\n").split("\n") + [""]
        path.write_text("\n".join(lines))
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + section)
