"""Checks on a trained adapter: does it do what it was taught, does it leave the rest alone,
and are its files safe to load.

- ``evaluate`` runs in the trainer process after training: it greedy-generates every
  corrected prompt (as the server would, token healing included) and compares first lines,
  and it compares the loss on held-out kept suggestions with the adapter on and off.
- ``validate_adapter_dir`` is cheap and runs in the server before an adapter is activated:
  safetensors only, target modules and shapes that fit the base model, finite values.

The greedy generation helpers here are shared with training, which completes its anchor
prompts with the base model before the adapter exists.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from finch_lsp.learning.training import TrainExample, TrainJob
    from finch_lsp.models import LoadedModel

HELD_OUT_RELATIVE_BOUND = 0.25
"""Held-out loss may rise by at most this fraction of its value before training..."""
HELD_OUT_ABSOLUTE_SLACK = 0.05
"""...plus this many nats, so a near-zero loss before training does not make any change fail."""
MAX_EVALUATED_CORRECTIONS = 8
"""Corrections generated during evaluation (the most recent ones): bounds its cost."""

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".npy", ".npz")
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$")


class Evaluation(msgspec.Struct):
    """The verdict on an adapter, shown to the user when it is not activated."""

    passed: bool
    reproduced: int
    """Corrections whose first line the adapted model now produces."""
    total: int
    held_out_loss_before: float | None
    held_out_loss_after: float | None
    reasons: list[str]
    """Why it failed (empty when it passed)."""


def split_for_healing(tokenizer, prompt: str) -> tuple[str, str]:
    """(model input, removed text): ``prompt`` backed off to a token boundary as the server does.

    A FIM prompt is healed inside: its prefix is cut and the prompt re-rendered around it,
    as ``completion.engine.build_model_prompt`` does before generating.
    """
    from finch_lsp.completion.generate import heal_split
    from finch_lsp.models.loaded import FimTokens

    fim = FimTokens()
    if not (prompt.endswith(fim.middle) and fim.prefix in prompt and fim.suffix in prompt):
        return heal_split(tokenizer, prompt)
    header, body = prompt.rsplit(fim.prefix, 1)
    prefix, rest = body.split(fim.suffix, 1)
    kept, removed = heal_split(tokenizer, prefix)
    return f"{header}{fim.prefix}{kept}{fim.suffix}{rest}", removed


def greedy_completion(loaded: "LoadedModel", prompt: str, max_new_tokens: int) -> str:
    """The first line the model completes ``prompt`` with: greedy, healed, as the server does."""
    from finch_lsp.completion.generate import generate

    kept, removed = split_for_healing(loaded.tokenizer, prompt)
    return generate(loaded, kept, removed, max_new_tokens, single_line=True).text


def anchor_prompt_text(loaded: "LoadedModel", prefix: str) -> str:
    """``prefix`` as the server would prompt this model with it (FIM with an empty suffix, or plain)."""
    if loaded.fim is None:
        return prefix
    return f"{loaded.fim.prefix}{prefix}{loaded.fim.suffix}{loaded.fim.middle}"


def base_completions(loaded: "LoadedModel", prompts: list[str], max_new_tokens: int) -> list[str]:
    """The base model's greedy first line for each prompt, generated in one left-padded batch."""
    import torch

    from finch_lsp.learning.training import pad_token_id

    tokenizer, pad_id = loaded.tokenizer, pad_token_id(loaded)
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=loaded.device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=loaded.device)
    with torch.no_grad():
        out = loaded.model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
            eos_token_id=loaded.stop_token_ids or None, pad_token_id=pad_id,
        )
    texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return [_first_line_of_completion(t) for t in texts]


def _first_line_of_completion(text: str) -> str:
    """The completion up to the end of its first non-empty line (leading newlines kept)."""
    body = text.lstrip("\n")
    return text[: len(text) - len(body)] + body.split("\n", 1)[0]


def normalised_first_line(text: str) -> str:
    """The first non-empty line, stripped, runs of whitespace collapsed to one space."""
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def corrections_of(job: "TrainJob") -> list["TrainExample"]:
    """The examples that teach something new (they have a rejected suggestion), else all."""
    corrected = [e for e in job.examples if e.rejected is not None]
    chosen = corrected or list(job.examples)
    unique = {(e.prompt, e.target): e for e in chosen}
    return list(unique.values())[-MAX_EVALUATED_CORRECTIONS:]


def count_reproduced(loaded: "LoadedModel", examples: list["TrainExample"]) -> int:
    """How many examples the model now completes with the first line of their target."""
    reproduced = 0
    for example in examples:
        wanted = normalised_first_line(example.target)
        budget = len(loaded.tokenizer(example.target, add_special_tokens=False)["input_ids"]) + 8
        got = normalised_first_line(greedy_completion(loaded, example.prompt, budget))
        reproduced += bool(wanted) and got == wanted
    return reproduced


def held_out_loss(loaded: "LoadedModel", examples: list["TrainExample"], max_tokens: int = 512) -> float | None:
    """Mean per-example target loss of ``examples`` under ``loaded.model`` (None without examples)."""
    import torch

    from finch_lsp.learning.training import encode_example, pad_batch, target_loss

    if not examples:
        return None
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    losses = []
    with torch.no_grad():
        for example in examples:
            encoded = encode_example(loaded.tokenizer, example.prompt, example.target, max_tokens)
            batch = pad_batch([encoded], pad_id, loaded.device)
            logits = loaded.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            losses.append(float(target_loss(logits, batch["labels"])))
    return sum(losses) / len(losses)


def held_out_bound(before: float) -> float:
    """The highest acceptable held-out loss after training, given the loss before."""
    return before * (1 + HELD_OUT_RELATIVE_BOUND) + HELD_OUT_ABSOLUTE_SLACK


def evaluate(loaded_with_adapter: "LoadedModel", job: "TrainJob") -> Evaluation:
    """Judge the adapter active on ``loaded_with_adapter.model`` (a PEFT model) against ``job``.

    Passed when the model reproduces more than half of the corrections and the held-out loss
    stays within ``held_out_bound`` of its value with the adapter disabled.
    """
    model = loaded_with_adapter.model
    corrections = corrections_of(job)
    reproduced = count_reproduced(loaded_with_adapter, corrections)
    after = held_out_loss(loaded_with_adapter, job.held_out, job.config.max_tokens)
    before = None
    if job.held_out:
        with model.disable_adapter():
            before = held_out_loss(loaded_with_adapter, job.held_out, job.config.max_tokens)
    reasons = []
    if reproduced * 2 <= len(corrections):
        reasons.append(f"it reproduces only {reproduced} of {len(corrections)} corrections it was trained on")
    if before is not None and after is not None and after > held_out_bound(before):
        reasons.append(
            f"it raises the loss on {len(job.held_out)} kept suggestions from {before:.3f} to {after:.3f} "
            f"(bound {held_out_bound(before):.3f}): it would change completions you were happy with"
        )
    return Evaluation(not reasons, reproduced, len(corrections), before, after, reasons)


def base_param_shapes(model) -> dict[str, tuple]:
    """Parameter name -> shape of a base model, the input ``validate_adapter_dir`` expects."""
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def validate_adapter_dir(path: str, base_model_param_shapes: dict[str, tuple]) -> list[str]:
    """Problems that make the adapter in ``path`` unsafe or unfit to load (empty: valid)."""
    if not os.path.isdir(path):
        return [f"{path} is not a directory"]
    problems = [f"{name}: only safetensors weights are loaded (pickle-based files can run code)" for name in sorted(os.listdir(path)) if name.lower().endswith(UNSAFE_SUFFIXES)]
    config, config_problems = _read_adapter_config(path)
    problems += config_problems
    if not os.path.isfile(os.path.join(path, ADAPTER_WEIGHTS)):
        return problems + [f"{ADAPTER_WEIGHTS} is missing"]
    modules = {name.rsplit(".", 1)[0]: shape for name, shape in base_model_param_shapes.items() if name.endswith(".weight")}
    if config is not None:
        problems += _check_target_modules(config, modules)
    return problems + _check_weights(os.path.join(path, ADAPTER_WEIGHTS), modules, config)


def _read_adapter_config(path: str) -> tuple[dict | None, list[str]]:
    """The parsed adapter_config.json, or the problem with it."""
    try:
        with open(os.path.join(path, ADAPTER_CONFIG), encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        return None, [f"{ADAPTER_CONFIG} is missing"]
    except (OSError, ValueError) as exc:
        return None, [f"{ADAPTER_CONFIG} cannot be read: {exc}"]
    if not isinstance(config, dict) or not isinstance(config.get("r"), int):
        return None, [f"{ADAPTER_CONFIG} is not a LoRA config (no integer 'r')"]
    return config, []


def _check_target_modules(config: dict, modules: dict[str, tuple]) -> list[str]:
    """Every configured target module names at least one linear layer of the base model."""
    targets = config.get("target_modules") or []
    if isinstance(targets, str):
        found = any(re.fullmatch(targets, name) for name in modules)
        return [] if found else [f"target_modules pattern {targets!r} matches no layer of the base model"]
    missing = [t for t in targets if not any(name == t or name.endswith("." + t) for name in modules)]
    return [f"target module {t!r} does not exist in the base model" for t in missing]


def _check_weights(weights_path: str, modules: dict[str, tuple], config: dict | None) -> list[str]:
    """LoRA tensors fit their base layers (A: rank x in, B: out x rank) and hold finite values."""
    from safetensors import SafetensorError, safe_open

    problems = []
    try:
        with safe_open(weights_path, framework="pt") as f:
            for key in f.keys():
                problems += _check_tensor(key, f.get_tensor(key), modules, config)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        return [f"{ADAPTER_WEIGHTS} cannot be read as safetensors: {exc}"]
    return problems


def _check_tensor(key: str, tensor, modules: dict[str, tuple], config: dict | None) -> list[str]:
    """Problems with one adapter tensor."""
    import torch

    match = _LORA_KEY.match(key)
    if match is None:
        return [f"unexpected tensor {key}: only LoRA A/B matrices are accepted"]
    module, part = match["module"], match["part"]
    base = modules.get(module)
    if base is None or len(base) != 2:
        return [f"{key}: the base model has no linear layer {module}"]
    out_features, in_features = base
    rank = config["r"] if config else tensor.shape[0 if part == "A" else 1]
    expected = (rank, in_features) if part == "A" else (out_features, rank)
    problems = []
    if tuple(tensor.shape) != expected:
        problems.append(f"{key}: shape {tuple(tensor.shape)} does not fit the base layer (expected {expected})")
    if not bool(torch.isfinite(tensor.float()).all()):
        problems.append(f"{key}: holds NaN or infinite values")
    return problems
