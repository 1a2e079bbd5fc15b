"""``finch-lsp bench``: end-to-end inline-completion latency against raw ``model.generate``.

The end-to-end figure is what an editor waits for: the real server runs as a subprocess on
stdio, and each ``textDocument/inlineCompletion`` is timed at the client, from writing the
request to reading its response. The raw figure is ``model.generate`` alone, in this process,
on exactly the same prompt (built by the server's own prompt code, token healing included)
and the same number of new tokens, with the same arguments. Their ratio is what the server
adds: prompt building, tokenization, the engine worker, post-processing, JSON-RPC.

Half the raw runs happen before the server starts and half after it is shut down, so the two
never compete for cores, and a drift in the machine's load shows up on both sides (the report
gives both halves). Raw runs happen on one long-lived thread, as the server's do.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from finch_lsp.completion.engine import CompletionRequest
from finch_lsp.tools.stdio_client import StdioClient

WARMUPS = 3
SHORT_PROMPT_TOKENS = 200  # the prompt size when --prompt-tokens is 0
FIM_PREFIX_SHARE = 0.8  # of the prompt tokens, for models with FIM tokens; the rest is suffix
PROMPT_BUDGET_MARGIN = 512  # completion.promptTokens above the target, so nothing is cut
REQUEST_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 900.0
SECTION_HEADING = "## Completion latency"
SECTION_INTRO = (
    "End-to-end latency of one inline completion, timed at an LSP client over stdio, against raw\n"
    "`model.generate` on the same prompt and token count (`finch-lsp bench`). The ratio is what the\n"
    "server adds (prompt building, tokenization, engine worker, post-processing, JSON-RPC).\n"
)


# -- statistics --------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolating linearly between ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Stats:
    """p50 and p95 of a list of durations, in seconds."""

    p50: float
    p95: float
    runs: int

    @classmethod
    def of(cls, seconds: list[float]) -> "Stats":
        return cls(percentile(seconds, 50), percentile(seconds, 95), len(seconds))


# -- the document ------------------------------------------------------------------------------
HEADER = '''"""Inventory records: loading, validation, pricing and reports."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

'''

UNITS = (
    '''
@dataclass
class {Name}:
    """One {name} record as read from the inventory file."""

    sku: str
    quantity: int = 0
    unit_price: float = 0.0
    tags: list[str] = field(default_factory=list)

    def value(self) -> float:
        """Quantity times unit price."""
        return self.quantity * self.unit_price

    def to_dict(self) -> dict:
        return {{"sku": self.sku, "quantity": self.quantity, "unit_price": self.unit_price, "tags": self.tags}}
''',
    '''
def load_{name}s(path: Path) -> list[{Name}]:
    """Read {name} rows from a CSV file, skipping rows without a sku."""
    items = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if not row.get("sku"):
                log.warning("skipping a {name} row without sku: %r", row)
                continue
            items.append({Name}(row["sku"], int(row.get("quantity") or 0), float(row.get("unit_price") or 0)))
    return items
''',
    '''
def validate_{name}(item: {Name}) -> list[str]:
    """Problems with one {name}, for people; empty when it is fine."""
    problems = []
    if item.quantity < 0:
        problems.append(f"{{item.sku}}: negative quantity {{item.quantity}}")
    if item.unit_price < 0:
        problems.append(f"{{item.sku}}: negative price {{item.unit_price}}")
    if len(item.sku) > 32:
        problems.append(f"{{item.sku}}: sku longer than 32 characters")
    return problems
''',
    '''
def {name}_report(items: list[{Name}], out: Path) -> int:
    """Write a JSON report of every {name} with its value; return how many were written."""
    rows = [dict(item.to_dict(), value=round(item.value(), 2)) for item in items]
    rows.sort(key=lambda row: row["value"], reverse=True)
    out.write_text(json.dumps({{"count": len(rows), "rows": rows}}, indent=2))
    return len(rows)
''',
)

NAMES = ("widget", "gadget", "bracket", "spindle", "gasket", "sprocket", "flange", "bearing", "coupling", "valve")

CURSOR_UNIT = '''
def {name}_summary(items: list[{Name}]) -> dict:
    """Count, total value and mean value of ``items``."""
    values = [item.value() for item in items]
    total = sum(values)
    return'''


def _units(start: int):
    """Code units (a class or a function each), endlessly, with varied names."""
    index = start
    while True:
        name = NAMES[(index // len(UNITS)) % len(NAMES)] + ("" if index < len(UNITS) * len(NAMES) else str(index))
        yield "\n" + UNITS[index % len(UNITS)].format(name=name, Name=name.title().replace("_", ""))
        index += 1


def bench_document(count: Callable[[str], int], prompt_tokens: int, fim: bool) -> tuple[str, int, int]:
    """A realistic Python file whose prompt is about ``prompt_tokens`` tokens, and the cursor.

    The cursor is mid-file, right after a ``return`` (no trailing space, so no token healing).
    With FIM the prefix takes ``FIM_PREFIX_SHARE`` of the tokens and the suffix the rest;
    without, the prefix takes them all (the suffix is in the file but not in the prompt).
    Returns (text, line, character) with an ASCII text, so character offsets are the same in
    every position encoding.
    """
    target = prompt_tokens or SHORT_PROMPT_TOKENS
    prefix_target = int(target * FIM_PREFIX_SHARE) if fim else target
    hole = "\n" + CURSOR_UNIT.format(name="widget", Name="Widget")
    prefix = HEADER + _fill(_units(0), prefix_target - count(HEADER) - count(hole), count) + hole
    suffix = "\n" + _fill(_units(1000), max(target - prefix_target, 1), count, at_least_one=True)
    lines = prefix.split("\n")
    return prefix + suffix, len(lines) - 1, len(lines[-1])


def document_prefix(text: str, line: int, character: int) -> str:
    """The text before (line, character) of an ASCII document."""
    lines = text.split("\n")
    return "\n".join(lines[:line] + [lines[line][:character]])


def _fill(units, budget: int, count: Callable[[str], int], at_least_one: bool = False) -> str:
    """Whole units from ``units`` whose token count comes closest to ``budget``."""
    text, used = "", 0
    for unit in units:
        cost = count(unit)
        if used + cost / 2 > budget and (text or not at_least_one):
            return text
        text, used = text + unit, used + cost


COLD_LINES = ("# a\n", "# b\n")  # the same token count, different from the first token on


def cold_variant(text: str, run: int) -> str:
    """``text`` as the bench sends it for ``run``: a first line that differs from the previous run's."""
    return COLD_LINES[run % 2] + text.split("\n", 1)[1]


def completion_settings(new_tokens: int, prompt_tokens: int) -> dict:
    """The ``finch.completion`` settings of a benchmark: exactly ``new_tokens``, nothing cut."""
    budget = min((prompt_tokens or SHORT_PROMPT_TOKENS) + PROMPT_BUDGET_MARGIN, 32768)
    return {
        "maxNewTokens": new_tokens, "minNewTokens": new_tokens, "promptTokens": budget, "multiline": "always",
        "blockTokens": 0, "debounceMs": 0,
    }


# -- the client --------------------------------------------------------------------------------
@dataclass
class EndToEnd:
    """Client-side seconds per request, the engine's own seconds, and what the server reported."""

    seconds: list[float] = field(default_factory=list)
    engine_seconds: list[float] = field(default_factory=list)
    ready_after: float = 0.0
    items: int = 0
    device: str | None = None


def measure_end_to_end(args: argparse.Namespace, data_dir: str, text: str, line: int, character: int) -> EndToEnd:
    """Start the server, wait until its model is ready, and time ``args.runs`` inline completions."""
    command = [sys.executable, "-m", "finch_lsp", "--model", args.model, "--device", args.device or "auto",
               "--data-dir", data_dir, "--log-level", args.log_level or "INFO"]
    env = {**os.environ, "FINCH_DATA_DIR": data_dir}
    log_path = args.log_file or os.path.join(data_dir, "server.log")
    result = EndToEnd()
    with open(log_path, "ab") as log:
        client = StdioClient(command, env, log)
        try:
            started = time.perf_counter()
            _initialize(client, completion_settings(args.new_tokens, args.prompt_tokens))
            status = _wait_ready(client)
            result.ready_after, result.device = time.perf_counter() - started, status["model"]["device"]
            uri = Path(data_dir, "inventory.py").as_uri()
            doc = {"uri": uri, "languageId": "python", "version": 1, "text": text}
            client.notify("textDocument/didOpen", {"textDocument": doc})
            params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "context": {"triggerKind": 1}}
            for run in range(WARMUPS + args.runs):
                # every request is cold: alternating first lines defeat the type-ahead and KV caches
                changed = {"textDocument": {"uri": uri, "version": run + 2}, "contentChanges": [{"text": cold_variant(text, run)}]}
                client.notify("textDocument/didChange", changed)
                began = time.perf_counter()
                answer = client.request("textDocument/inlineCompletion", params)
                elapsed = time.perf_counter() - began
                if run >= WARMUPS:
                    result.seconds.append(elapsed)
                    result.items += len((answer or {}).get("items", []))
                    result.engine_seconds.append(_last_generation(client, args.new_tokens))
        except Exception as error:
            raise RuntimeError(f"{error} (server log: {log_path})") from error
        finally:
            client.close()
    return result


def _initialize(client: StdioClient, completion: dict) -> None:
    capabilities = {
        "general": {"positionEncodings": ["utf-16"]},
        "textDocument": {"inlineCompletion": {}, "synchronization": {}},
    }
    params = {"processId": os.getpid(), "capabilities": capabilities, "initializationOptions": {"finch": {"completion": completion}}}
    client.request("initialize", params)
    client.notify("initialized", {})


def _wait_ready(client: StdioClient) -> dict:
    """Poll ``finch.status`` until the model is ready; a failed load raises with its reason."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        status = client.request("workspace/executeCommand", {"command": "finch.status"})
        state = status["model"]["state"]
        if state == "ready":
            return status
        if state == "failed":
            raise RuntimeError(f"the server could not load the model: {status['model']['error']}")
        time.sleep(0.2)
    raise TimeoutError(f"the model was not ready after {READY_TIMEOUT_S:.0f} s")


def _last_generation(client: StdioClient, new_tokens: int) -> float:
    """The engine's seconds for the last completion, checking it generated ``new_tokens`` tokens."""
    status = client.request("workspace/executeCommand", {"command": "finch.status"})
    last = status["engine"]["recent"][-1]
    if last["tokens"] != new_tokens or last["cancelled"]:
        raise RuntimeError(f"the server generated {last['tokens']} tokens (cancelled: {last['cancelled']}), not {new_tokens}")
    return float(last["seconds"])


# -- raw generate ------------------------------------------------------------------------------
@dataclass
class RawSetup:
    """The in-process model and the exact inputs the server builds for the benchmark request."""

    loaded: Any
    ids: Any
    removed: str
    prompt_tokens: int


def raw_setup(loaded, text: str, line: int, character: int, args: argparse.Namespace) -> RawSetup:
    """The prompt the server builds for this document and cursor, tokenized as it does."""
    from finch_lsp.completion.engine import build_model_prompt

    lines = text.split("\n")
    offset = sum(len(part) + 1 for part in lines[:line]) + character
    settings = completion_settings(args.new_tokens, args.prompt_tokens)
    request = CompletionRequest(
        key="bench", prefix=text[:offset], suffix=text[offset:], single_line=False,
        max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, prompt_tokens=settings["promptTokens"],
    )
    prompt, removed = build_model_prompt(loaded, request)
    ids = loaded.tokenizer(prompt.text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(loaded.device)
    return RawSetup(loaded, ids, removed, int(ids.shape[1]))


def time_raw(setup: RawSetup, new_tokens: int, runs: int) -> list[float]:
    """Seconds of ``runs`` raw ``model.generate`` calls, with the server's arguments."""
    import torch

    from finch_lsp.completion.generate import generation_kwargs, healing_processors

    loaded, ids = setup.loaded, setup.ids
    seconds = []
    for _ in range(runs):
        _synchronize(torch, loaded.device)
        began = time.perf_counter()
        with torch.inference_mode():
            out = loaded.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                logits_processor=healing_processors(loaded, setup.removed),
                **generation_kwargs(loaded, setup.prompt_tokens, new_tokens, new_tokens),
            )
        _synchronize(torch, loaded.device)
        seconds.append(time.perf_counter() - began)
        if out.shape[1] - setup.prompt_tokens != new_tokens:
            raise RuntimeError(f"raw generate made {out.shape[1] - setup.prompt_tokens} tokens, not {new_tokens}")
    return seconds


def _drift(before: list[float], after: list[float]) -> tuple[float, float] | None:
    """p50 of the raw runs before the server ran and after it: how much the machine drifted."""
    return (percentile(before, 50), percentile(after, 50)) if before and after else None


def _synchronize(torch, device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# -- the machine and the report ----------------------------------------------------------------
def machine_info() -> dict[str, str]:
    """CPU model, cores, GPU name, torch's CPU threads and library versions, for the record.

    The server inherits the environment, so ``OMP_NUM_THREADS`` sets the threads of both sides.
    """
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "cpu": cpu, "cores": str(os.cpu_count()), "gpu": gpu, "torch": torch.__version__,
        "threads": str(torch.get_num_threads()), "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


@dataclass
class BenchResult:
    """Everything one benchmark run reports."""

    model: str
    device: str
    prompt_tokens: int
    new_tokens: int
    e2e: Stats
    raw: Stats
    engine: Stats
    machine: dict[str, str]
    command: str
    ready_after: float
    first_raw: float
    items: int
    raw_drift: tuple[float, float] | None = None  # raw p50 before the server ran, and after
    date: str = field(default_factory=lambda: datetime.date.today().isoformat())

    @property
    def ratio_p50(self) -> float:
        return self.e2e.p50 / self.raw.p50

    @property
    def ratio_p95(self) -> float:
        return self.e2e.p95 / self.raw.p95


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _threads(machine: dict[str, str]) -> str:
    return f"{machine['threads']} CPU thread" + ("" if machine["threads"] == "1" else "s")


def machine_line(machine: dict[str, str]) -> str:
    """``AMD EPYC, 2 cores`` or ``..., NVIDIA H100 80GB HBM3``."""
    text = f"{machine['cpu']}, {machine['cores']} cores"
    return text if machine["gpu"] == "none" else f"{text}, {machine['gpu']}"


def render_text(result: BenchResult) -> str:
    """The report printed on the terminal."""
    m = result.machine
    return "\n".join([
        f"model {result.model} on {result.device}; prompt {result.prompt_tokens} tokens, {result.new_tokens} new tokens; "
        f"{result.e2e.runs} runs after {WARMUPS} warm-ups",
        f"machine: {machine_line(m)}; torch {m['torch']} ({_threads(m)}), "
        f"transformers {m['transformers']}, Python {m['python']}",
        f"end to end  p50 {_ms(result.e2e.p50):>10}  p95 {_ms(result.e2e.p95):>10}",
        f"  engine    p50 {_ms(result.engine.p50):>10}  p95 {_ms(result.engine.p95):>10}  (prompt + generate in the server's worker)",
        f"raw         p50 {_ms(result.raw.p50):>10}  p95 {_ms(result.raw.p95):>10}",
        f"ratio       p50 {result.ratio_p50:>10.3f}  p95 {result.ratio_p95:>10.3f}  (end to end / raw)",
        f"server ready after {result.ready_after:.1f} s; first raw call {result.first_raw:.1f} s; "
        f"{result.items} of {result.e2e.runs} responses had an item{_drift_text(result)}",
    ])


def _drift_text(result: BenchResult) -> str:
    if result.raw_drift is None:
        return ""
    before, after = result.raw_drift
    return f"; raw p50 before the server {_ms(before)}, after {_ms(after)}"


def render_markdown(result: BenchResult) -> str:
    """One run as a markdown section: a table, the versions and the command."""
    m = result.machine
    row = [
        machine_line(m), result.model, result.device, str(result.prompt_tokens), str(result.new_tokens),
        _ms(result.e2e.p50), _ms(result.e2e.p95), _ms(result.raw.p50), _ms(result.raw.p95),
        f"{result.ratio_p50:.3f}", f"{result.ratio_p95:.3f}",
    ]
    header = ["machine", "model", "device", "prompt tokens", "new tokens", "e2e p50", "e2e p95",
              "raw p50", "raw p95", "ratio p50", "ratio p95"]
    return "\n".join([
        f"### {result.model} on {result.device}, {result.prompt_tokens}-token prompt ({result.date})",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        "| " + " | ".join(row) + " |",
        "",
        f"{result.e2e.runs} runs after {WARMUPS} warm-ups on each side; engine p50 {_ms(result.engine.p50)} "
        f"(prompt + generate in the server's worker); server ready after {result.ready_after:.1f} s, "
        f"first raw call {result.first_raw:.1f} s{_drift_text(result)}. torch {m['torch']} ({_threads(m)}), "
        f"transformers {m['transformers']}, "
        f"Python {m['python']}.",
        "",
        f"Command: `{result.command}`",
        "",
    ])


def insert_section(document: str, section: str) -> str:
    """``document`` with ``section`` added at the end of its "Completion latency" part.

    The part (heading and a short introduction) is created at the end when missing; sections
    under other headings are left where they are.
    """
    if not document.strip():
        document = "# Benchmarks\n"
    lines = document.split("\n")
    try:
        start = lines.index(SECTION_HEADING)
    except ValueError:
        return document.rstrip("\n") + f"\n\n{SECTION_HEADING}\n\n{SECTION_INTRO}\n{section.rstrip()}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    before = "\n".join(lines[:end]).rstrip("\n")
    after = "\n".join(lines[end:])
    return f"{before}\n\n{section.rstrip()}\n" + (f"\n{after}" if after.strip() else "")


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (with ``OMP_NUM_THREADS`` when it was set)."""
    threads = os.environ.get("OMP_NUM_THREADS")
    parts = [f"OMP_NUM_THREADS={threads}"] if threads else []
    parts += ["finch-lsp bench", f"--model {args.model}", f"--device {args.device or 'auto'}",
             f"--runs {args.runs}", f"--new-tokens {args.new_tokens}"]
    if args.prompt_tokens:
        parts.append(f"--prompt-tokens {args.prompt_tokens}")
    return " ".join(parts)


# -- the command -------------------------------------------------------------------------------
def run_bench(args: argparse.Namespace) -> int:
    """``finch-lsp bench``: print end-to-end and raw p50/p95 and their ratio; append to --output."""
    from finch_lsp.models import ModelLoadError, load_model

    args.model = args.model or "smollm2-135m"
    if args.runs < 1 or args.new_tokens < 1:
        print("finch-lsp bench: --runs and --new-tokens must be at least 1", file=sys.stderr)
        return 2
    try:
        loaded = load_model(args.model, args.device or "auto")
    except ModelLoadError as error:
        print(f"finch-lsp bench: {error}", file=sys.stderr)
        return 1
    count = _token_counter(loaded.tokenizer)
    text, line, character = bench_document(count, args.prompt_tokens, loaded.fim is not None)
    text, line = COLD_LINES[0] + text, line + 1
    setup = raw_setup(loaded, text, line, character, args)
    print(f"finch-lsp bench: {args.model} on {loaded.device}, prompt {setup.prompt_tokens} tokens", file=sys.stderr, flush=True)

    first_half = args.runs // 2
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="finch-bench-raw") as worker:
            # one long-lived thread, as the server's engine worker: the thread matters to the
            # allocator (a thread arena) and to CUDA graphs (recorded and replayed per thread)
            warm = worker.submit(time_raw, setup, args.new_tokens, WARMUPS).result()
            before = worker.submit(time_raw, setup, args.new_tokens, first_half).result()
            with tempfile.TemporaryDirectory(prefix="finch-bench-") as tmp:
                e2e = measure_end_to_end(args, args.data_dir or tmp, text, line, character)
            after = worker.submit(time_raw, setup, args.new_tokens, args.runs - first_half).result()
    except (RuntimeError, TimeoutError, OSError) as error:
        print(f"finch-lsp bench: {error}", file=sys.stderr)
        return 1

    result = BenchResult(
        model=args.model, device=str(loaded.device), prompt_tokens=setup.prompt_tokens, new_tokens=args.new_tokens,
        e2e=Stats.of(e2e.seconds), raw=Stats.of(before + after), engine=Stats.of(e2e.engine_seconds),
        machine=machine_info(), command=command_line(args), ready_after=e2e.ready_after,
        first_raw=warm[0], items=e2e.items, raw_drift=_drift(before, after),
    )
    print(render_text(result), flush=True)
    if args.output:
        path = Path(args.output)
        existing = path.read_text() if path.exists() else ""
        path.write_text(insert_section(existing, render_markdown(result)))
        print(f"appended to {path}")
    return 0


def _token_counter(tokenizer) -> Callable[[str], int]:
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count
