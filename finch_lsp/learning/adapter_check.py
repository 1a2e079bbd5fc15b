"""Adapter validation: an adapter directory is checked as a whole before peft sees it.

- files: safetensors weights only (pickle-based files can run code), no links;
- ``adapter_config.json``: a plain LoRA config with values in bounds (``check_config``, pure):
  rank 1..256, a finite alpha up to 4 x 256, no DoRA, no feature that changes the model's
  structure, and module names instead of regular expressions, so no pattern from disk is
  ever run in a way that can stall the process (peft runs ``rank_pattern`` keys as regular
  expressions: they are limited to names, which cannot backtrack);
- weights: a safetensors header of at most 16 MiB (read from its 8-byte length before the
  file is opened as safetensors), tensor shapes that fit the base layers at the configured
  rank (checked before a tensor is read), finite values of a sane size.
"""

from __future__ import annotations

import math
import os
import re
import struct
from typing import Any

from finch_lsp.paths import OutsideDataDir, check_inside, read_private

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".npy", ".npz")

MAX_RANK = 256
MAX_ALPHA = 4 * MAX_RANK
MAX_HEADER = 16 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
MAX_ABS_WEIGHT = 1e4
MAX_NAMES = 1000

# A module name (``q_proj``, ``self_attn.q_proj``): letters, digits, _ and dots, no operators.
MODULE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]{0,199}")
# Keys that only describe where the adapter came from; peft does not act on them when loading.
INFORMATIONAL = {"peft_version", "revision", "base_model_name_or_path", "auto_mapping", "megatron_core", "qalora_group_size"}
BOOLEANS = {"fan_in_fan_out", "inference_mode", "use_rslora", "ensure_weight_tying"}
# Everything else must be off (null, false or empty): DoRA, QALoRA, layer replication, extra
# trainable modules, tokens or parameters, initialisations that run at load (PiSSA, LoftQ, EVA...).
CHECKED = {"peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "bias", "init_lora_weights", "target_modules", "exclude_modules", "rank_pattern", "alpha_pattern"}

_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _alpha_ok(value: Any) -> bool:
    return _number(value) and 0 < value <= MAX_ALPHA


def _names(value: Any, what: str) -> list[str]:
    """Problems with a list of module names (a string would be a regular expression to peft)."""
    if isinstance(value, str):
        return [f"{what} {value[:80]!r} is a regular expression: finch loads only adapters that list module names"]
    if not isinstance(value, list) or not value or len(value) > MAX_NAMES:
        return [f"{what} must be a list of 1 to {MAX_NAMES} module names"]
    bad = [v for v in value if not (isinstance(v, str) and MODULE_NAME.fullmatch(v))]
    return [f"{what} holds {bad[0]!r}, which is not a module name (letters, digits, _ and .)"] if bad else []


def _pattern(value: Any, what: str, valid, bounds: str) -> list[str]:
    if value in (None, {}):
        return []
    if not isinstance(value, dict) or len(value) > MAX_NAMES:
        return [f"{what} must be an object of module name -> value"]
    for key, item in value.items():
        if not MODULE_NAME.fullmatch(key):
            return [f"{what} key {key[:80]!r} is not a module name"]
        if not valid(item):
            return [f"{what}[{key!r}] = {item!r} is out of bounds ({bounds})"]
    return []


def _empty(value: Any) -> bool:
    return value is None or value is False or value == {} or value == []


def check_config(config: Any) -> list[str]:
    """Problems with a parsed adapter_config.json (empty: a plain, bounded LoRA config)."""
    if not isinstance(config, dict):
        return [f"{ADAPTER_CONFIG} is not a JSON object"]
    problems = []
    if config.get("peft_type") != "LORA":
        problems.append(f"peft_type {config.get('peft_type')!r} is not supported: finch loads LoRA adapters only")
    if config.get("task_type") not in (None, "CAUSAL_LM"):
        problems.append(f"task_type {config.get('task_type')!r} is not supported (CAUSAL_LM only)")
    if not _int_in(config.get("r"), 1, MAX_RANK):
        problems.append(f"r = {config.get('r')!r} is out of bounds (an integer 1..{MAX_RANK})")
    if not _alpha_ok(config.get("lora_alpha")):
        problems.append(f"lora_alpha = {config.get('lora_alpha')!r} is out of bounds (a finite number > 0 and <= {MAX_ALPHA})")
    dropout = config.get("lora_dropout")
    if dropout is not None and not (_number(dropout) and 0 <= dropout <= 1):
        problems.append(f"lora_dropout = {dropout!r} is out of bounds (0..1)")
    if config.get("bias") not in (None, "none"):
        problems.append(f"bias {config.get('bias')!r} is not supported (none only)")
    if config.get("init_lora_weights") not in (None, True, False, "gaussian"):
        problems.append(f"init_lora_weights {config.get('init_lora_weights')!r} runs an initialisation at load time: not supported")
    problems += _names(config.get("target_modules"), "target_modules")
    if config.get("exclude_modules") is not None:
        problems += _names(config.get("exclude_modules"), "exclude_modules")
    problems += _pattern(config.get("rank_pattern"), "rank_pattern", lambda v: _int_in(v, 1, MAX_RANK), f"an integer 1..{MAX_RANK}")
    problems += _pattern(config.get("alpha_pattern"), "alpha_pattern", _alpha_ok, f"a finite number > 0 and <= {MAX_ALPHA}")
    for key, value in config.items():
        if key in CHECKED or key in INFORMATIONAL:
            continue
        if key in BOOLEANS:
            if not isinstance(value, bool):
                problems.append(f"{key} must be true or false, got {value!r}")
        elif not _empty(value):
            problems.append(f"{key} = {str(value)[:80]} is not supported: finch loads plain LoRA adapters only")
    return problems


def rank_of(module: str, config: dict) -> int:
    """The rank peft gives ``module``: its ``rank_pattern`` entry (matched as peft does), else ``r``.

    Keys are checked to be module names first, so the expression cannot backtrack badly.
    """
    for key, rank in (config.get("rank_pattern") or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return rank
    return config["r"]


def param_shapes(model) -> dict[str, tuple]:
    """Parameter name -> shape of a base model, the input ``validate_adapter_dir`` expects."""
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def validate_adapter_dir(path: str, base_model_param_shapes: dict[str, tuple], root: str | None = None) -> list[str]:
    """Problems that make the adapter in ``path`` unsafe or unfit to load (empty: valid).

    ``root``: the data dir the adapter must lie in (no link out of it).
    """
    try:
        if root is not None:
            check_inside(root, path)
    except OutsideDataDir as exc:
        return [str(exc)]
    if not os.path.isdir(path):
        return [f"{path} is not a directory"]
    names = sorted(os.listdir(path))
    problems = [f"{name}: only safetensors weights are loaded (pickle-based files can run code)" for name in names if name.lower().endswith(UNSAFE_SUFFIXES)]
    problems += [f"{name} is a symbolic link: finch does not follow links in an adapter" for name in names if os.path.islink(os.path.join(path, name))]
    if problems:
        return problems
    config, config_problems = _read_config(path)
    problems += config_problems
    weights = os.path.join(path, ADAPTER_WEIGHTS)
    if not os.path.isfile(weights):
        return problems + [f"{ADAPTER_WEIGHTS} is missing"]
    header = _check_header(weights)
    if header or problems:
        return problems + header
    modules = {name.rsplit(".", 1)[0]: shape for name, shape in base_model_param_shapes.items() if name.endswith(".weight")}
    problems += _check_target_modules(config, modules)
    return problems or _check_weights(weights, modules, config)


def _read_config(path: str) -> tuple[dict | None, list[str]]:
    """The parsed adapter_config.json, or the problems with it."""
    import json

    file = os.path.join(path, ADAPTER_CONFIG)
    try:
        config = json.loads(read_private(path, file, MAX_CONFIG_BYTES))
    except FileNotFoundError:
        return None, [f"{ADAPTER_CONFIG} is missing"]
    except (OSError, ValueError, RecursionError) as exc:
        return None, [f"{ADAPTER_CONFIG} cannot be read: {str(exc)[:200]}"]
    problems = check_config(config)
    return (None if problems else config), problems


def _check_header(weights: str) -> list[str]:
    """The safetensors header length (the first 8 bytes, little-endian) is bounded and fits the file."""
    try:
        with open(weights, "rb") as f:
            head = f.read(8)
            size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        return [f"{ADAPTER_WEIGHTS} cannot be read: {exc}"]
    if len(head) < 8:
        return [f"{ADAPTER_WEIGHTS} is truncated (no safetensors header)"]
    (length,) = struct.unpack("<Q", head)
    if length > MAX_HEADER:
        return [f"{ADAPTER_WEIGHTS} has a {length}-byte header, more than the {MAX_HEADER} finch reads"]
    if length > size - 8:
        return [f"{ADAPTER_WEIGHTS} is truncated (its header says {length} bytes, the file has {size - 8})"]
    return []


def _check_target_modules(config: dict, modules: dict[str, tuple]) -> list[str]:
    """Every configured target module names at least one linear layer of the base model."""
    missing = [t for t in config["target_modules"] if not any(name == t or name.endswith("." + t) for name in modules)]
    return [f"target module {t!r} does not exist in the base model" for t in missing]


def _check_weights(weights_path: str, modules: dict[str, tuple], config: dict) -> list[str]:
    """LoRA tensors fit their base layers (A: rank x in, B: out x rank) and hold finite, sane values."""
    from safetensors import SafetensorError, safe_open

    problems: list[str] = []
    try:
        with safe_open(weights_path, framework="pt") as f:
            for key in f.keys():
                shape_problem = _check_shape(key, tuple(f.get_slice(key).get_shape()), modules, config)
                problems += shape_problem or _check_values(key, f.get_tensor(key))
                if len(problems) > 5:
                    break
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        return [f"{ADAPTER_WEIGHTS} cannot be read as safetensors: {exc}"]
    return problems


def _check_shape(key: str, shape: tuple, modules: dict[str, tuple], config: dict) -> list[str]:
    match = _LORA_KEY.match(key)
    if match is None:
        return [f"unexpected tensor {key}: only LoRA A/B matrices are accepted"]
    module, part = match["module"], match["part"]
    base = modules.get(module)
    if base is None or len(base) != 2:
        return [f"{key}: the base model has no linear layer {module}"]
    out_features, in_features = base
    rank = rank_of(module, config)
    expected = (rank, in_features) if part == "A" else (out_features, rank)
    if shape != expected:
        return [f"{key}: shape {shape} does not fit the base layer (expected {expected})"]
    return []


def _check_values(key: str, tensor) -> list[str]:
    import torch

    values = tensor.float()
    if not bool(torch.isfinite(values).all()):
        return [f"{key}: holds NaN or infinite values"]
    largest = float(values.abs().max()) if values.numel() else 0.0
    if largest > MAX_ABS_WEIGHT:
        return [f"{key}: holds a value of {largest:.3g}, more than the {MAX_ABS_WEIGHT:g} finch accepts"]
    return []
