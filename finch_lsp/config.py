"""Settings: msgspec Structs with defaults and a description per field.

The editor sends them as ``initializationOptions`` (``{"finch": {...}}`` or the bare
section) and on ``workspace/didChangeConfiguration`` (section ``finch``). A bad value
never stops the server: the field falls back to its default and the problem is
returned so the server can show it (``finch.training.threshold: expected an integer
>= 1, got "ten"; using the default 10``).

Every number has a finite range (the Meta bounds below, listed in docs/settings.md), so
``"Infinity"``, NaN and huge values fall back to the default like any other bad value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

def _doc(description: str, **constraints: Any) -> msgspec.Meta:
    return msgspec.Meta(description=description, **constraints)


MAX_NEW_TOKENS_DOC = (
    "Most tokens of the first answer: within a line it ends at the line end, at a block start after "
    "the block's first line, so this only caps unusually long lines. smollm2-135m on a 2-core AMD "
    "EPYC (1 torch thread, load 2.5): a cold single-line completion takes 0.44-0.52 s at a 109-token "
    "prompt and 2.2-2.9 s at 511 tokens; a keystroke in the same document prefills only what changed. "
    "GPU: not measured."
)
BLOCK_TOKENS_DOC = (
    "Most tokens of the rest of a block, generated in the background once its first line is shown "
    "and served at once when the user types or accepts that line; any other request drops it (0: first lines only)."
)
DEBOUNCE_DOC = (
    "Milliseconds a completion waits for the next keystroke before the model runs; a newer request "
    "for the document drops it. 75 is above the 50 ms between keystrokes at 20 a second (such a "
    "burst runs the model once) and small next to a CPU completion. Typing into a shown suggestion never waits."
)


class CompletionConfig(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    """How completions are generated and shaped."""

    max_new_tokens: Annotated[int, _doc(MAX_NEW_TOKENS_DOC, ge=1, le=512)] = 64
    block_tokens: Annotated[int, _doc(BLOCK_TOKENS_DOC, ge=0, le=512)] = 64
    debounce_ms: Annotated[int, _doc(DEBOUNCE_DOC, ge=0, le=2000)] = 75
    min_new_tokens: Annotated[int, _doc("Fewest tokens generated (stop tokens ignored until then); 0 outside benchmarks.", ge=0, le=512)] = 0
    prompt_tokens: Annotated[int, _doc("Token budget of the prompt (prefix, suffix and other open files).", ge=64, le=32768)] = 1536
    multiline: Annotated[
        Literal["auto", "always", "never"],
        _doc("Multi-line completions: auto (only at a line end, not in a comment), always, never."),
    ] = "auto"


class Weights(msgspec.Struct, rename="camel"):
    """Training weight of each rating."""

    critical: Annotated[float, _doc("Weight of a critical rating.", gt=0, le=1000)] = 10.0
    medium: Annotated[float, _doc("Weight of a medium rating.", gt=0, le=1000)] = 3.0
    good: Annotated[float, _doc("Weight of a good rating.", gt=0, le=1000)] = 1.0
    implicit: Annotated[float, _doc("Weight of implicit feedback (a suggestion kept, edited or typed over); also what one counts towards `threshold`.", gt=0, le=1)] = 0.25


class TrainingConfig(msgspec.Struct, rename="camel"):
    """When and how a new LoRA adapter is trained."""

    auto_train: Annotated[bool, _doc("Train by itself once `threshold` new examples have arrived.")] = True
    threshold: Annotated[int, _doc("New examples since the last training that start one.", ge=1, le=100_000)] = 10
    buffer_size: Annotated[int, _doc("Examples kept in the replay buffer (the most recent).", ge=1, le=100_000)] = 100
    epochs: Annotated[int, _doc("Passes over the sampled buffer per training (steps are capped at 12, at 36 for implicit feedback alone: more forgets more).", ge=1, le=100)] = 6
    batch_size: Annotated[int, _doc("Examples per optimisation step.", ge=1, le=256)] = 4
    learning_rate: Annotated[float, _doc("AdamW learning rate of the LoRA weights.", gt=0, lt=1)] = 1e-3
    rank: Annotated[int, _doc("LoRA rank.", ge=1, le=256)] = 16
    alpha: Annotated[int, _doc("LoRA alpha (scale = alpha / rank).", ge=1, le=1024)] = 32
    implicit: Annotated[bool, _doc("Learn from what the user does with suggestions (kept, edited, typed over), not only from ratings.")] = True
    settle_seconds: Annotated[float, _doc("Seconds after a suggestion is accepted or shown before what the user did with it is read as implicit feedback.", ge=0, le=3600)] = 20.0
    gate_tasks: Annotated[int, _doc("HumanEval tasks the gate measures the base model on (once per model) before an adapter is activated; 0 turns that check off.", ge=0, le=60)] = 40
    decode_min_shift: Annotated[float, _doc("Selective decoding: nats by which an adapter must raise a token's log-probability over the base model's for completions to take it, so near-ties stay the base model's and only the taught habit changes; 0 decodes adapters plainly (faster: with an adapter active, selective decoding doubles a cold prompt's prefill and decodes at about 0.6x). An adapter taught by implicit feedback alone uses at most 0.3 (the user's code moves many tokens a little). Applies to adapters trained after a change: the gate judges each one as it will be decoded.", ge=0, le=20)] = 0.5
    weights: Annotated[Weights, _doc("Weight of each rating: critical, medium, good, and of implicit feedback.")] = msgspec.field(
        default_factory=Weights
    )


class TeacherConfig(msgspec.Struct, rename="camel"):
    """The optional Claude teacher."""

    enabled: Annotated[bool, _doc("Ask Claude for corrections and sample suggestions (needs ANTHROPIC_API_KEY).")] = False
    model: Annotated[str, _doc("Claude model used as the teacher.", min_length=1, max_length=200)] = "claude-sonnet-4-5"
    sample_rate: Annotated[float, _doc("Share of shown or accepted suggestions sent to the teacher.", ge=0, le=1)] = 0.05


class FinchConfig(msgspec.Struct, rename="camel"):
    """All of finch's settings (section ``finch``)."""

    model: Annotated[str, _doc("Model: auto, qwen2.5-coder-0.5b/1.5b/3b, smollm2-135m, tiny-qwen2, an HF id or a directory.", min_length=1, max_length=4096)] = "auto"
    model_download: Annotated[bool, _doc("Let the server download the model it wants (auto's best fit for this machine, or the Qwen2.5-Coder named in model) in the background with progress, serving the embedded model meanwhile and switching when it is ready. Off: finch never downloads unless asked (finch-lsp models pull, finch.models.pull).")] = False
    device: Annotated[Literal["auto", "cpu", "cuda", "mps"], _doc("Device: auto picks CUDA, then MPS, then CPU.")] = "auto"
    data_dir: Annotated[str | None, _doc("Where feedback and adapters are kept (default: the user data dir).")] = None
    completion: Annotated[CompletionConfig, _doc("Completion settings.")] = msgspec.field(default_factory=CompletionConfig)
    training: Annotated[TrainingConfig, _doc("Training settings.")] = msgspec.field(default_factory=TrainingConfig)
    teacher: Annotated[TeacherConfig, _doc("Teacher settings.")] = msgspec.field(default_factory=TeacherConfig)


def _is_struct_type(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _unannotated(tp: Any) -> Any:
    return getattr(tp, "__origin__", tp) if getattr(tp, "__metadata__", None) else tp


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _convert(cls: type[msgspec.Struct], raw: Any, path: str, base: msgspec.Struct | None) -> tuple[Any, list[str]]:
    """Convert ``raw`` into ``cls`` field by field; a bad field keeps ``base``'s value."""
    base = base if base is not None else cls()
    if not isinstance(raw, dict):
        return base, [f"{path}: expected an object, got {raw!r}; using the defaults"]
    values, problems = {}, []
    for field in msgspec.structs.fields(cls):
        current = getattr(base, field.name)
        if field.encode_name not in raw:
            values[field.name] = current
            continue
        value, where = raw[field.encode_name], f"{path}.{field.encode_name}"
        inner = _unannotated(field.type)
        if _is_struct_type(inner):
            values[field.name], sub = _convert(inner, value, where, current)
            problems += sub
            continue
        try:
            values[field.name] = msgspec.convert(value, type=field.type, strict=False)
        except msgspec.ValidationError as exc:
            default = getattr(cls(), field.name)
            problems.append(f"{where}: {exc} (got {_short(value)}); using the default {default!r}")
            values[field.name] = default
    known = {f.encode_name for f in msgspec.structs.fields(cls)}
    problems += [f"{path}.{key}: unknown setting, ignored" for key in raw if key not in known]
    return cls(**values), problems


def parse_settings(raw: Any, base: FinchConfig | None = None) -> tuple[FinchConfig, list[str]]:
    """Settings from an editor payload: ``{"finch": {...}}``, the bare section, or None.

    Returns the config and a list of human-readable problems (empty when all is well).
    Fields absent from ``raw`` keep ``base``'s value, so a partial update changes only
    what it names.
    """
    if raw is None:
        return base or FinchConfig(), []
    if isinstance(raw, dict) and isinstance(raw.get("finch"), dict):
        raw = raw["finch"]
    elif isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k not in ("finch", "workspaceTrusted")}
    return _convert(FinchConfig, raw, "finch", base)


def describe_fields(cls: type[msgspec.Struct] = FinchConfig, prefix: str = "finch") -> list[tuple[str, Any, str]]:
    """(dotted name, default, description) of every leaf setting: docs and editors check against it."""
    rows, instance = [], cls()
    for field in msgspec.structs.fields(cls):
        name = f"{prefix}.{field.encode_name}"
        inner = _unannotated(field.type)
        if _is_struct_type(inner):
            rows += describe_fields(inner, name)
            continue
        meta = next((m for m in getattr(field.type, "__metadata__", ()) if isinstance(m, msgspec.Meta)), None)
        rows.append((name, getattr(instance, field.name), meta.description if meta else ""))
    return rows


def field_ranges(cls: type[msgspec.Struct] = FinchConfig, prefix: str = "finch") -> dict[str, str]:
    """Dotted name -> the allowed range of every bounded leaf setting ("1 <= x <= 512")."""
    ranges: dict[str, str] = {}
    for field in msgspec.structs.fields(cls):
        name = f"{prefix}.{field.encode_name}"
        inner = _unannotated(field.type)
        if _is_struct_type(inner):
            ranges.update(field_ranges(inner, name))
            continue
        meta = next((m for m in getattr(field.type, "__metadata__", ()) if isinstance(m, msgspec.Meta)), None)
        low = f"{meta.ge} <= " if meta and meta.ge is not None else f"{meta.gt} < " if meta and meta.gt is not None else ""
        high = f" <= {meta.le}" if meta and meta.le is not None else f" < {meta.lt}" if meta and meta.lt is not None else ""
        length = f"length <= {meta.max_length}" if meta and meta.max_length is not None else ""
        if low or high:
            ranges[name] = f"{low}x{high}"
        elif length:
            ranges[name] = length
    return ranges


def settings_markdown() -> str:
    """The settings table of docs/settings.md, generated from the Structs above."""
    rows = ["| setting | default | range | what it does |", "|---|---|---|---|"]
    ranges = field_ranges()
    for name, default, description in describe_fields():
        rows.append(f"| `{name}` | `{default!r}` | {ranges.get(name, '')} | {description} |")
    return "# finch-lsp settings\n\nGenerated by `python -m finch_lsp.config`; do not edit by hand.\n\n" + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
