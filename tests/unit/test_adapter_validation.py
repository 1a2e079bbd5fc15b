"""Adapters validated as a whole: config bounds, regular expressions, headers, metadata, links."""

import json
import struct
import threading

import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402

from finch_lsp.learning.adapter_check import MAX_HEADER, check_config, rank_of, validate_adapter_dir  # noqa: E402
from finch_lsp.learning.adapters import AdapterMeta, AdapterStore, Verdict, lenient  # noqa: E402

GOOD = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "bias": "none",
        "target_modules": ["q_proj", "v_proj"], "rank_pattern": {}, "alpha_pattern": {}, "use_dora": False,
        "modules_to_save": None, "loftq_config": {}, "peft_version": "0.21.2", "inference_mode": True}
SHAPES = {"model.layers.0.self_attn.q_proj.weight": (8, 8), "model.layers.0.self_attn.v_proj.weight": (4, 8),
          "model.layers.0.self_attn.q_proj.bias": (8,), "model.embed_tokens.weight": (100, 8)}


def test_a_plain_lora_config_passes():
    assert check_config(GOOD) == []


@pytest.mark.parametrize("change,needle", [
    ({"peft_type": "EVIL"}, "peft_type 'EVIL'"),
    ({"peft_type": "LOHA"}, "LoRA adapters only"),
    ({"peft_type": None}, "peft_type None"),
    ({"task_type": "SEQ_CLS"}, "task_type"),
    ({"r": 0}, "r = 0"),
    ({"r": 4096}, "r = 4096"),
    ({"r": 4.0}, "r = 4.0"),
    ({"r": True}, "r = True"),
    ({"lora_alpha": 1e30}, "lora_alpha = 1e+30"),
    ({"lora_alpha": float("inf")}, "lora_alpha = inf"),
    ({"lora_alpha": float("nan")}, "lora_alpha = nan"),
    ({"lora_alpha": -1}, "lora_alpha = -1"),
    ({"lora_alpha": "8"}, "lora_alpha = '8'"),
    ({"lora_dropout": 2}, "lora_dropout"),
    ({"use_dora": True}, "use_dora"),
    ({"bias": "all"}, "bias"),
    ({"init_lora_weights": "pissa"}, "init_lora_weights"),
    ({"target_modules": "("}, "regular expression"),
    ({"target_modules": "([a-z_.0-9]+)+X"}, "regular expression"),
    ({"target_modules": []}, "list of 1 to"),
    ({"target_modules": ["q_proj", "(a|b)*"]}, "not a module name"),
    ({"target_modules": [3]}, "not a module name"),
    ({"exclude_modules": ".*"}, "regular expression"),
    ({"rank_pattern": {"q_proj": 4096}}, "rank_pattern['q_proj'] = 4096"),
    ({"rank_pattern": {"([a-z]+)+X": 4}}, "rank_pattern key"),
    ({"rank_pattern": ["q_proj"]}, "rank_pattern must be an object"),
    ({"alpha_pattern": {"q_proj": 1e30}}, "alpha_pattern['q_proj']"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
    ({"layer_replication": [[0, 1]]}, "layer_replication"),
    ({"eva_config": {"rho": 2}}, "eva_config"),
    ({"something_new": 1}, "something_new"),
    ({"fan_in_fan_out": "yes"}, "fan_in_fan_out must be true or false"),
])
def test_config_out_of_bounds_is_refused(change, needle):
    problems = check_config({**GOOD, **change})
    assert any(needle in p for p in problems), problems


@pytest.mark.parametrize("config", [[], "LORA", None, 3])
def test_a_config_that_is_not_an_object_is_refused(config):
    assert check_config(config) == ["adapter_config.json is not a JSON object"]


def test_rank_pattern_gives_the_rank_peft_gives():
    config = {**GOOD, "rank_pattern": {"v_proj": 2, "layers.1.self_attn.q_proj": 8}}
    assert rank_of("model.layers.0.self_attn.v_proj", config) == 2
    assert rank_of("model.layers.1.self_attn.q_proj", config) == 8
    assert rank_of("model.layers.0.self_attn.q_proj", config) == 4


def write_adapter(path, config=None, tensors=None):
    path.mkdir(exist_ok=True)
    (path / "adapter_config.json").write_text(json.dumps(GOOD if config is None else config))
    if tensors is None:
        prefix = "base_model.model.model.layers.0.self_attn"
        tensors = {f"{prefix}.q_proj.lora_A.weight": torch.zeros(4, 8), f"{prefix}.q_proj.lora_B.weight": torch.zeros(8, 4),
                   f"{prefix}.v_proj.lora_A.weight": torch.zeros(4, 8), f"{prefix}.v_proj.lora_B.weight": torch.zeros(4, 4)}
    save_file(tensors, str(path / "adapter_model.safetensors"))
    return path


def test_a_small_valid_adapter_passes(tmp_path):
    assert validate_adapter_dir(str(write_adapter(tmp_path / "a")), SHAPES) == []


def test_a_regex_target_is_refused_without_running_it(tmp_path):
    path = write_adapter(tmp_path / "a", {**GOOD, "target_modules": "([a-z_.0-9]+)+X"})
    result = []
    worker = threading.Thread(target=lambda: result.append(validate_adapter_dir(str(path), {"m." * 40 + "y.weight": (2, 2)})), daemon=True)
    worker.start()
    worker.join(60)  # a generous deadline: the catastrophic pattern would run for hours
    assert result and any("regular expression" in p for p in result[0])


def test_a_rank_pattern_that_does_not_fit_the_weights_is_refused(tmp_path):
    path = write_adapter(tmp_path / "a", {**GOOD, "rank_pattern": {"q_proj": 2}})
    assert any("does not fit" in p and "q_proj" in p for p in validate_adapter_dir(str(path), SHAPES))


def test_huge_values_are_refused(tmp_path):
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    path = write_adapter(tmp_path / "a", {**GOOD, "target_modules": ["q_proj"]},
                         {f"{prefix}.lora_A.weight": torch.full((4, 8), 1e6), f"{prefix}.lora_B.weight": torch.zeros(8, 4)})
    assert any("more than" in p for p in validate_adapter_dir(str(path), SHAPES))


def test_a_header_bomb_is_refused_before_safetensors_reads_it(tmp_path):
    path = write_adapter(tmp_path / "a")
    with open(path / "adapter_model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", 90 * 1024 * 1024) + b"{" + b" " * 100)
    problems = validate_adapter_dir(str(path), SHAPES)
    assert any(f"more than the {MAX_HEADER}" in p for p in problems), problems


def test_a_header_longer_than_the_file_is_refused(tmp_path):
    path = write_adapter(tmp_path / "a")
    with open(path / "adapter_model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", 1000) + b"{}")
    assert any("truncated" in p for p in validate_adapter_dir(str(path), SHAPES))


def test_linked_files_and_dirs_outside_the_data_dir_are_refused(tmp_path):
    outside = write_adapter(tmp_path / "outside")
    data = tmp_path / "data"
    data.mkdir()
    (data / "linked").symlink_to(outside, target_is_directory=True)
    assert any("symbolic link" in p for p in validate_adapter_dir(str(data / "linked"), SHAPES, root=str(data)))
    inner = write_adapter(data / "inner")
    (inner / "adapter_config.json").unlink()
    (inner / "adapter_config.json").symlink_to(outside / "adapter_config.json")
    assert any("adapter_config.json is a symbolic link" in p for p in validate_adapter_dir(str(inner), SHAPES, root=str(data)))


def test_a_deeply_nested_config_is_refused(tmp_path):
    path = write_adapter(tmp_path / "a")
    (path / "adapter_config.json").write_text("[" * 200_000)
    assert any("cannot be read" in p for p in validate_adapter_dir(str(path), SHAPES))


# -- metadata and the store ----------------------------------------------------------------
@pytest.mark.parametrize("raw,problem", [
    (None, None),
    ({"examples": 3, "losses": [1.0, 0.5], "createdAt": "2025-01-01T00:00:00+00:00"}, None),
    ([1, 2], "meta.json is a list, not an object"),
    ({"startedAt": "yesterday"}, "meta.json startedAt"),
    ({"examples": "many"}, "meta.json examples"),
    ({"losses": {"a": 1}}, "meta.json losses"),
])
def test_meta_is_decoded_field_by_field(raw, problem):
    meta, problems = lenient(AdapterMeta, raw, "meta.json")
    assert isinstance(meta, AdapterMeta)
    assert (problems == []) if problem is None else any(problem in p for p in problems)


def test_a_verdict_that_is_a_list_is_not_activatable():
    verdict, problems = lenient(Verdict, [True], "verdict.json")
    assert verdict.activatable is False and problems


def store_with_versions(tmp_path):
    store = AdapterStore(tmp_path, "tiny-qwen2")
    for version in (1, 2, 3):
        write_adapter(store.dir / f"v{version:04d}")
        (store.dir / f"v{version:04d}" / "meta.json").write_text(json.dumps({"examples": version, "losses": [0.5]}))
        store.set_verdict(version, True, "good")
    return store


def test_odd_versions_are_listed_as_unreadable_and_never_good(tmp_path):
    store = store_with_versions(tmp_path)
    (store.dir / "v0002" / "meta.json").write_text("[1]")
    (store.dir / "v0003" / "verdict.json").write_text('{"activatable": "yes", "reason": 5}')
    outside = write_adapter(tmp_path / "elsewhere")
    (store.dir / "v0004").symlink_to(outside, target_is_directory=True)
    rows = {row["version"]: row for row in (info.describe(None) for info in store.versions())}
    assert rows[1]["verdict"] == "good" and rows[1]["examples"] == 1
    assert all(rows[v]["verdict"].startswith("unreadable: ") for v in (2, 3, 4))
    assert "symbolic link" in rows[4]["verdict"]
    assert [a.version for a in store.versions() if a.good] == [1]
    assert store.previous_good(None) == 1
    json.dumps(list(rows.values()), allow_nan=False)  # JSON only, no NaN tokens
    store.delete(4)
    assert outside.exists() and not (store.dir / "v0004").exists()  # the link went, not its target


def test_a_nan_loss_never_reaches_a_response(tmp_path):
    store = store_with_versions(tmp_path)
    (store.dir / "v0001" / "meta.json").write_text('{"losses": [NaN], "evaluation": {"held_out_loss_after": Infinity}}')
    row = store.get(1).describe(1)
    assert row["finalLoss"] is None and row["evaluation"] == {"held_out_loss_after": None}
    json.dumps(row, allow_nan=False)


@pytest.mark.parametrize("pointer,version,refused", [
    (None, None, False),
    ('{"version": null}', None, False),
    ('{"version": 2}', 2, False),
    ('{"version": "../../etc"}', None, True),
    ('{"version": 1.5}', None, True),
    ('{"version": true}', None, True),
    ("1.5", None, True),
    ("[1]", None, True),
    ("2", None, True),
    ("not json", None, True),
])
def test_the_current_pointer_is_read_strictly(tmp_path, pointer, version, refused):
    store = AdapterStore(tmp_path, "tiny-qwen2")
    if pointer is not None:
        store.pointer.write_text(pointer)
    found, problem = store.read_current()
    assert found == version and (problem is not None) == refused


def test_staging_dirs_of_every_model_are_cleaned_without_following_links(tmp_path):
    from finch_lsp.learning.adapters import clean_staging

    a, b = AdapterStore(tmp_path, "tiny-qwen2"), AdapterStore(tmp_path, "other")
    staged = [a.staging_dir(), b.staging_dir()]
    (staged[0] / "adapter_model.safetensors").write_bytes(b"half")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep")
    (a.dir / ".staging-linked").symlink_to(precious, target_is_directory=True)
    assert len(clean_staging(tmp_path)) == 3
    assert not any(p.exists() for p in staged) and not (a.dir / ".staging-linked").is_symlink()
    assert (precious / "keep.txt").read_text() == "keep"
    assert (a.dir / "v0001").exists() is False and a.dir.exists()


# -- a failed load puts the model back ------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_adapters(tmp_path_factory):
    """tiny-qwen2, one real adapter, and one peft cannot load (its rank_pattern contradicts its weights)."""
    import shutil

    from finch_lsp.learning.jobs import TrainConfig
    from finch_lsp.learning.training.worker import attach_lora
    from finch_lsp.models import load_model

    root = tmp_path_factory.mktemp("tiny-adapters")
    donor = attach_lora(load_model("tiny-qwen2", "cpu").model, TrainConfig(rank=4, alpha=8))
    with torch.no_grad():
        for name, param in donor.named_parameters():
            if "lora_B" in name:
                param.normal_()
    donor.save_pretrained(str(root / "good"), safe_serialization=True)
    shutil.copytree(root / "good", root / "broken")
    config = json.loads((root / "broken" / "adapter_config.json").read_text())
    (root / "broken" / "adapter_config.json").write_text(json.dumps({**config, "rank_pattern": {"q_proj": 2}}))
    return load_model("tiny-qwen2", "cpu"), root


def logits(loaded):
    ids = loaded.tokenizer("def add(a, b):\n    return", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return loaded.model(ids).logits


def test_a_failed_load_leaves_no_adapter_behind(tiny_adapters):
    from finch_lsp.learning.adapters import activate, adapter_count, deactivate

    loaded, root = tiny_adapters
    base = logits(loaded)
    with pytest.raises(Exception):
        activate(loaded, root / "broken", 2)  # onto the base model
    assert adapter_count(loaded) == 0 and torch.equal(logits(loaded), base)
    assert not any("lora" in name for name, _ in loaded.model.named_modules())
    activate(loaded, root / "good", 1)
    with_good = logits(loaded)
    assert not torch.equal(with_good, base)
    with pytest.raises(Exception):
        activate(loaded, root / "broken", 2)  # beside v0001
    assert adapter_count(loaded) == 1 and loaded.model.active_adapter == "v0001"
    assert torch.equal(logits(loaded), with_good)
    deactivate(loaded)
    assert adapter_count(loaded) == 0
