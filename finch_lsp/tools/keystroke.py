"""``finch-lsp bench --keystroke``: what a keystroke costs with KV prefix reuse, against a cold request.

In a file of ``--prompt-tokens`` tokens (1,500 by default) the cursor sits mid-file; one cold
completion prefills the whole prompt, then characters are typed one at a time and each
keystroke's completion runs on the engine as the server runs it (prompt building, token
healing, the document's cached KV prefix). Reported: tokens prefilled and time to the first
token per keystroke, as a share of the cold request's. Run in-process on one engine worker,
so nothing else competes for the cores but the machine's own load.

``--long-file``: the file is twice the prompt budget, so the prompt is a window of it, and two
lines are typed at the cursor (``TYPED_LINES``), a character per keystroke. The report adds
how often the window's start moved over those keystrokes, and how often it would have moved
with the cut on the nearest line (``prompt.keep_tail``) instead of the window's grid
(``prompt.window_tail``): each move is a cold prefill of the whole window.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from finch_lsp.completion.engine import CompletionRequest, InferenceEngine
from finch_lsp.completion.prompt import PREFIX_SHARE, keep_head, keep_tail, window_tail
from finch_lsp.tools.latency import bench_document, document_prefix, machine_info, machine_line, percentile

TYPED = "value.total"  # typed after the cursor, one character per keystroke
TYPED_LINES = " value.total\n        total = widget.count * 2\n        return"  # --long-file
SECTION_HEADING = "## KV prefix reuse at a keystroke"
LONG_HEADING = "## KV prefix reuse at a keystroke, in a file twice the prompt budget"
DEFAULT_PROMPT_TOKENS = 1500


@dataclass
class Keystrokes:
    model: str
    prompt_tokens: int
    cold_prefilled: int
    cold_first_token: list[float]
    prefilled: list[int]
    first_token: list[float]
    window_moves: int | None = None  # --long-file: the window's start moved (windowed cut)
    line_cut_moves: int | None = None  # ... and with the cut on the nearest line instead

    @property
    def token_share(self) -> float:
        return percentile([float(p) for p in self.prefilled], 50) / self.cold_prefilled

    @property
    def time_share(self) -> float:
        return percentile(self.first_token, 50) / percentile(self.cold_first_token, 50)


def start_moves(prefixes: list[str], budget: int, count, windowed: bool) -> int:
    """How often the prompt window's start moves over ``prefixes`` with ``budget`` tokens for the prefix."""
    cut = window_tail if windowed else keep_tail
    starts = [len(p) - len(cut(p, budget, count)) for p in prefixes]
    return sum(a != b for a, b in zip(starts, starts[1:]))


def measure(model: str, prompt_tokens: int, rounds: int, long_file: bool = False) -> Keystrokes:
    """Cold requests and keystrokes, interleaved ``rounds`` times on one engine."""
    from finch_lsp.models import load_model

    engine = InferenceEngine()
    try:
        engine.load(lambda: load_model(model, "cpu")).result()
        if engine.error:
            raise RuntimeError(engine.error)
        loaded = engine.loaded
        count = lambda text: len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
        fim = loaded.fim is not None
        text, line, character = bench_document(count, 2 * prompt_tokens if long_file else prompt_tokens, fim)
        at = len(document_prefix(text, line, character))
        typed = TYPED_LINES if long_file else TYPED
        prefix, suffix = (text[:at], text[at:]) if long_file else (text[:at] + " ", text[at:])
        budget = prompt_tokens if long_file else prompt_tokens + 512

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
            for k in range(1, len(typed) + 1):
                out = run(prefix + typed[:k])
                result.prefilled.append(out.prefilled)
                result.first_token.append(out.first_token_seconds)
        if long_file:
            prefixes = [prefix + typed[:k] for k in range(len(typed) + 1)]
            # the prefix's part of the budget, as split_budget leaves it after the suffix
            share = budget - count(keep_head(suffix, int(budget * (1 - PREFIX_SHARE)), count)) if fim else budget
            result.window_moves = start_moves(prefixes, share, count, windowed=True)
            result.line_cut_moves = start_moves(prefixes, share, count, windowed=False)
        return result
    finally:
        engine.close(wait_s=30)


def render_markdown(r: Keystrokes, machine: dict[str, str], command: str) -> str:
    ok = "meets" if r.token_share <= 0.10 and r.time_share <= 0.10 else "misses"
    moves = "" if r.window_moves is None else (
        f"Over the {len(r.prefilled) // max(1, len(r.cold_first_token))} keystrokes of a round the window's start moved "
        f"{r.window_moves} times (each a cold prefill); with the cut on the nearest line it would have moved {r.line_cut_moves} times. "
        f"Mean tokens prefilled per keystroke: {sum(r.prefilled) / max(1, len(r.prefilled)):.0f}.\n\n"
    )
    return (
        f"{LONG_HEADING if r.window_moves is not None else SECTION_HEADING} ({r.model})\n\n"
        f"`{command}` on {machine_line(machine)}.\n\n"
        "| | cold request | keystroke (median) | share |\n|---|---|---|---|\n"
        f"| prompt tokens prefilled | {r.cold_prefilled} of {r.prompt_tokens} | {percentile([float(p) for p in r.prefilled], 50):.0f} | {r.token_share:.1%} |\n"
        f"| time to first token | {percentile(r.cold_first_token, 50) * 1000:.1f} ms | {percentile(r.first_token, 50) * 1000:.1f} ms | {r.time_share:.1%} |\n\n"
        f"{moves}{len(r.prefilled)} keystrokes over {len(r.cold_first_token)} cold requests; "
        f"this {ok} the target (at most 10% of a cold prefill, in tokens and in time).\n"
    )


def run_keystroke_bench(args: argparse.Namespace) -> int:
    model = args.model or "smollm2-135m"
    try:
        result = measure(model, args.prompt_tokens or DEFAULT_PROMPT_TOKENS, max(1, args.runs // 10), long_file=args.long_file)
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
