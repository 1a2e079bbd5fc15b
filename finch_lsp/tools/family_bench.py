"""``finch-lsp bench --learning --families all --seeds 5``: preference families through the real training.

For each family and seed: the base model completes the training, held-out and unrelated
prompts (greedy, one line, healed: the server's generation); the ten corrections become
critical examples (weight 10, the base model's suggestion as the rejected one), exactly as
``finch.feedback`` stores them; ``train_adapter`` (the trainer child's function, gate
included) trains and judges the adapter; the same prompts are completed again with it.
Reported: held-out prompts that follow the habit, unrelated completions unchanged, unrelated
ones changed into a wrong answer (their check fails in the sandbox), the gate's verdict and
its pass@1 figures, and the time. ``--set key=value`` overrides a ``TrainConfig`` field (sweeps).
Each adapter stays in ``<data dir>/adapters/<family>-<seed>`` (the last run's), for
``bench --quality --adapter`` or a closer look.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from finch_lsp.completion.postprocess import first_line
from finch_lsp.tools.families import Family, check_program, pick
from finch_lsp.tools.latency import machine_info, machine_line
from finch_lsp.tools.overrides import parse_overrides
from finch_lsp.tools.report import growing_section
from finch_lsp.tools.sandbox import turned_wrong

HEADING = "## Learning (preference families)"


def overrides(pairs: list[str]) -> dict:
    """``key=value`` pairs as TrainConfig fields, values parsed as JSON where they parse."""
    from finch_lsp.learning.jobs import TrainConfig

    return parse_overrides(pairs, set(TrainConfig.__struct_fields__), "a TrainConfig field")


def run_family(family: Family, seed: int, model: str, device: str, settings: dict, cache_dir: str) -> dict:
    """One family, one seed: the figures of one training."""
    from finch_lsp.learning.jobs import TrainConfig, TrainExample, TrainJob
    from finch_lsp.learning.training.greedy import greedy_completions
    from finch_lsp.learning.training.worker import train_adapter
    from finch_lsp.models import load_model

    loaded = load_model(model, device)

    def complete(prompts: list[str]) -> list[str]:
        return greedy_completions(loaded, prompts, [48] * len(prompts))

    cases, held, unrelated = family.train_cases(), family.held_out_prompts(), family.unrelated_prompts()
    shown, held_before, unrelated_before = complete([p for p, _ in cases]), complete(held), complete(unrelated)
    examples = [TrainExample(prompt=p, target=c, weight=10.0, rejected=s or None) for (p, c), s in zip(cases, shown)]
    out = Path(cache_dir) / "adapters" / f"{family.name}-{seed}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    job = TrainJob(model, str(loaded.device), examples, str(out), msgspec.structs.replace(TrainConfig(seed=seed), **settings), gate_cache_dir=cache_dir)
    started = time.perf_counter()
    result = train_adapter(job, loaded, lambda progress: None)
    seconds = time.perf_counter() - started
    held_after, unrelated_after = complete(held), complete(unrelated)
    changed = [i for i, (b, a) in enumerate(zip(unrelated_before, unrelated_after)) if first_line(b) != first_line(a)]
    wrong = [i for i in changed if turned_wrong(check_program(family, i, unrelated_before[i]), check_program(family, i, unrelated_after[i]))]
    e = result.evaluation
    return {
        "family": family.name, "seed": seed,
        "held_before": sum(map(family.follows, held_before)), "held_after": sum(map(family.follows, held_after)), "held": len(held),
        "kept": len(unrelated) - len(changed), "unrelated": len(unrelated), "wrong": len(wrong),
        "changes": [f"{family.unrelated[i].prompt.split(chr(10))[0]} {first_line(unrelated_before[i])!r} -> {first_line(unrelated_after[i])!r}" for i in changed],
        "passed": e.passed, "failed": e.failed_checks, "general": f"{e.general_kept}/{e.general_total}",
        "scale": e.scale, "reasons": e.reasons_at_full or e.reasons,
        "general_changes": e.general_changed[:5], "file_changes": e.file_changed[:3],
        "in_file": f"{e.file_kept}/{e.file_total}" if e.file_kept is not None else "-",
        "pass_before": e.pass_before, "pass_after": e.pass_after, "pass_total": e.pass_total,
        "seconds": seconds, "cpu_seconds": result.cpu_seconds, "gate_seconds": e.gate_seconds, "held_after_texts": [first_line(t) for t in held_after],
    }


def render(rows: list[dict], model: str, settings: dict, command: str) -> str:
    lines = [
        f"### {model}, {machine_line(machine_info())} ({datetime.date.today().isoformat()})", "",
        f"`{command}`" + (f" (settings {settings})" if settings else " (default settings)"), "",
        "| family | seed | held-out before | after | unrelated kept | wrong | general kept | in-file kept | gate pass@1 tasks kept | gate | wall s (gate) | trainer CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = (f"active at {r['scale']:.0%}" if r["scale"] != 1.0 else "active") if r["passed"] else "refused: " + ", ".join(r["failed"])
        lines.append(
            f"| {r['family']} | {r['seed']} | {r['held_before']}/{r['held']} | {r['held_after']}/{r['held']} | {r['kept']}/{r['unrelated']} "
            f"| {r['wrong']} | {r['general']} | {r['in_file']} | {r['pass_after']}/{r['pass_before']} of {r['pass_total']} | {verdict} | {r['seconds']:.0f} ({r['gate_seconds']:.0f}) | {r['cpu_seconds']:.0f} |"
        )
    unrelated = sum(r["unrelated"] for r in rows)
    lines += [
        "", f"Overall: held-out >= 5/6 in {sum(r['held_after'] >= 5 for r in rows)} of {len(rows)} runs; "
        f"unrelated unchanged {sum(r['kept'] for r in rows)}/{unrelated} ({100 * sum(r['kept'] for r in rows) / max(1, unrelated):.1f}%), "
        f"turned wrong {sum(r['wrong'] for r in rows)}; gate tasks lost {sum((r['pass_before'] or 0) - (r['pass_after'] or 0) for r in rows)}; "
        f"adapters activated {sum(r['passed'] for r in rows)}/{len(rows)}.", "",
    ]
    return "\n".join(lines)


def run_family_bench(args: argparse.Namespace) -> int:
    model, device = args.model or "smollm2-135m", args.device or "cpu"
    settings = overrides(args.set or [])
    families = pick(args.families)
    cache_dir = args.data_dir or os.path.join(tempfile.gettempdir(), "finch-family-gate")
    command = f"finch-lsp bench --learning --families {args.families}" + (f" --seed {args.seed}" if args.seed else "") + f" --seeds {args.seeds}" + "".join(f" --set {s}" for s in args.set or [])
    write = growing_section(args.output, HEADING, "", title="# Learning") if args.output else None
    rows = []
    for family in families:
        for seed in range(args.seed, args.seed + args.seeds):
            row = run_family(family, seed, model, device, settings, cache_dir)
            rows.append(row)
            print(f"{family.name} seed {seed}: held-out {row['held_before']}->{row['held_after']}/6, unrelated kept {row['kept']}/6, wrong {row['wrong']}, "
                  f"general {row['general']}, in-file {row['in_file']}, gate tasks {row['pass_after']}/{row['pass_before']}, {('active at ' + str(row['scale'])) if row['passed'] else 'refused ' + str(row['failed'])}, reasons {row['reasons']}, "
                  f"{row['seconds']:.0f} s; changed {row['changes']}; general changed {row['general_changes']}; in-file changed {row['file_changes']}; held-out {row['held_after_texts']}", file=sys.stderr, flush=True)
            if write is not None:  # after every training: a run stopped part way keeps the rows it has
                write(render(rows, model, settings, command))
    print(render(rows, model, settings, command))
    return 0
