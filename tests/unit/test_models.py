"""Loading models by name: devices, the registry, SmolLM2, tiny-qwen2, directories and HF ids."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from finch_lsp.models import (
    MODEL_NAMES,
    FimTokens,
    LoadedModel,
    ModelLoadError,
    load_model,
    resolve_auto,
    resolve_device,
)
from finch_lsp.models.atomic_cache import (
    publish_directory,
    publish_file,
    remove_stale_temporaries,
)
from finch_lsp.models.embedded import STAMP_FILE, converted_dir
from finch_lsp.models.prepare import main as prepare_main

QWEN_STOP_IDS = {151643, 151645, 151659, 151660, 151661, 151662, 151663, 151664}


@pytest.fixture(scope="module")
def smollm2() -> LoadedModel:
    """The embedded model, converted into the user cache on the first run ever."""
    return load_model("smollm2-135m", "cpu")


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    return load_model("tiny-qwen2", "cpu")


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, with the hub marked offline so nothing touches the network."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def greedy_completion(loaded: LoadedModel, prompt: str, new_tokens: int) -> str:
    import torch

    inputs = loaded.tokenizer(prompt, return_tensors="pt").to(loaded.device)
    with torch.inference_mode():
        output = loaded.model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False)
    return loaded.tokenizer.decode(output[0, inputs.input_ids.shape[1] :])


def test_importing_models_leaves_torch_unloaded():
    code = (
        "import sys, finch_lsp.models; "
        "print([m for m in ('torch', 'transformers') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("requested", ["cpu", " CPU "])
def test_cpu_device(requested):
    assert resolve_device(requested) == "cpu"


def test_auto_device_is_one_that_exists():
    assert resolve_device("auto") in {"cpu", "cuda", "mps"}


@pytest.mark.parametrize("requested", ["tpu", "gpu", "cpu:0", "mps:1"])
def test_unknown_device_lists_the_choices(requested):
    with pytest.raises(ModelLoadError, match="set device to one of auto, cpu, cuda, cuda:N or mps"):
        resolve_device(requested)


def test_unavailable_cuda_says_what_to_set():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ModelLoadError, match="no CUDA GPU.*set device to auto or cpu"):
        resolve_device("cuda")


def test_registry_names():
    assert MODEL_NAMES[0] == "auto"
    for name in (
        "smollm2-135m",
        "tiny-qwen2",
        "qwen2.5-coder-0.5b",
        "qwen2.5-coder-1.5b",
        "qwen2.5-coder-3b",
        "qwen2.5-coder-0.5b-random",
        "qwen2.5-coder-1.5b-random",
    ):
        assert name in MODEL_NAMES


def test_tiny_qwen2_speaks_fim(tiny):
    assert type(tiny.model).__name__ == "Qwen2ForCausalLM"
    assert tiny.fim == FimTokens()
    assert QWEN_STOP_IDS <= set(tiny.stop_token_ids)
    assert tiny.stop_token_ids[0] == 151643
    assert (tiny.device, tiny.context_length, tiny.has_chat_template) == ("cpu", 32768, True)
    assert not tiny.model.training


def test_tiny_qwen2_generates(tiny):
    prompt = f"{tiny.fim.prefix}def add(a, b):\n    return {tiny.fim.suffix}\n{tiny.fim.middle}"
    inputs = tiny.tokenizer(prompt, return_tensors="pt")
    output = tiny.model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert output.shape == (1, inputs.input_ids.shape[1] + 4)


def test_tiny_qwen2_weights_come_from_the_seed_and_progress_is_reported(tiny):
    messages: list[str] = []
    again = load_model("tiny-qwen2", "cpu", on_progress=messages.append)
    first, second = tiny.model.state_dict(), again.model.state_dict()
    assert all(first[key].equal(second[key]) for key in first)
    assert any("random weights (seed 0)" in message for message in messages)
    assert messages[-1] == "model tiny-qwen2 ready on cpu"


def test_unknown_device_fails_before_loading():
    with pytest.raises(ModelLoadError, match="unknown device 'tpu'"):
        load_model("tiny-qwen2", "tpu")


def test_smollm2_is_prefix_only(smollm2):
    assert type(smollm2.model).__name__ == "LlamaForCausalLM"
    assert smollm2.fim is None
    assert smollm2.tokenizer.eos_token_id == smollm2.stop_token_ids[0]
    assert smollm2.tokenizer.convert_tokens_to_ids("<|endoftext|>") in smollm2.stop_token_ids
    assert smollm2.context_length == 8192
    assert smollm2.model.generation_config.pad_token_id is not None


def test_smollm2_completes_code(smollm2):
    assert greedy_completion(smollm2, "def add(a, b):\n    return", 6).startswith(" a + b")


def test_smollm2_keeps_its_chat_template(smollm2):
    assert smollm2.has_chat_template
    text = smollm2.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Document this."}], tokenize=False, add_generation_prompt=True
    )
    assert "<|im_start|>user\nDocument this.<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_smollm2_loads_from_a_complete_cache(smollm2):
    directory = converted_dir()
    assert str(directory) in smollm2.source
    for name in ("config.json", "model.safetensors", "tokenizer.json", STAMP_FILE):
        assert (directory / name).is_file()
    assert not [path for path in directory.parent.iterdir() if ".tmp-" in path.name]


def test_prepare_finds_the_cache_ready(smollm2, capsys):
    assert prepare_main() == 0
    printed = capsys.readouterr().out
    assert f"SmolLM2 ready in {converted_dir()}" in printed
    assert "Qwen2.5 tokenizer ready in" in printed


def test_saved_directory_loads_like_the_registry_model(tiny, tmp_path):
    import torch

    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), "cpu")
    assert loaded.fim == FimTokens()
    assert QWEN_STOP_IDS <= set(loaded.stop_token_ids)
    assert loaded.source == str(tmp_path.resolve())
    inputs = tiny.tokenizer("def f(x):", return_tensors="pt")
    with torch.inference_mode():
        assert torch.equal(tiny.model(**inputs).logits, loaded.model(**inputs).logits)


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "no-such-model"), "cpu")


def test_directory_without_a_model_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(str(tmp_path), "cpu")


def test_unknown_hf_id_offline_says_how_to_get_it(empty_hf_cache):
    with pytest.raises(ModelLoadError) as raised:
        load_model("finch-tests/no-such-model", "cpu")
    message = str(raised.value)
    assert "finch-tests/no-such-model is not in the local Hugging Face cache" in message
    assert "cannot be reached (offline)" in message
    assert "hf download finch-tests/no-such-model" in message
    assert "smollm2-135m" in message


def test_malformed_model_name_says_what_is_accepted():
    with pytest.raises(ModelLoadError, match="neither a built-in name, a directory, nor a Hugging"):
        load_model("not a model!", "cpu")


def test_qwen_coder_offline_names_its_repo(empty_hf_cache):
    with pytest.raises(ModelLoadError, match="Qwen/Qwen2.5-Coder-0.5B is not in the local"):
        load_model("qwen2.5-coder-0.5b", "cpu")


def test_auto_falls_back_to_smollm2(empty_hf_cache):
    from finch_lsp.models.catalog import largest_fitting
    from finch_lsp.models.machine import probe_machine

    machine = probe_machine("cpu")
    name, why = resolve_auto("cpu")
    assert name == "smollm2-135m"
    assert why.startswith("no Qwen2.5-Coder that fits is downloaded; ")
    assert f"this machine ({machine.describe()}) fits up to {largest_fitting(machine).name}" in why
    assert f"`finch-lsp models pull {largest_fitting(machine).name}`" in why
    assert "finch.modelDownload" in why


def test_auto_prefers_a_cached_qwen_coder(empty_hf_cache):
    repo = empty_hf_cache / "models--Qwen--Qwen2.5-Coder-0.5B"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert resolve_auto()[0] == "smollm2-135m"  # a config alone is not a model
    (snapshot / "model.safetensors").write_bytes(b"")
    assert resolve_auto()[0] == "qwen2.5-coder-0.5b"


def test_published_file_replaces_atomically(tmp_path):
    target = tmp_path / "out.json"
    publish_file(target, lambda temp: temp.write_text("one"))
    publish_file(target, lambda temp: temp.write_text("two"))
    assert target.read_text() == "two"
    assert [path.name for path in tmp_path.iterdir()] == ["out.json"]


def test_failed_build_leaves_nothing(tmp_path):
    def build(temp: Path) -> None:
        (temp / "half").write_text("x")
        raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError):
        publish_directory(tmp_path / "model", build)
    assert list(tmp_path.iterdir()) == []


def test_racing_builders_publish_one_whole_directory(tmp_path):
    target = tmp_path / "model"
    results: list[bool] = []

    def build(temp: Path) -> None:
        (temp / "weights").write_text(threading.current_thread().name)

    def publish() -> None:
        results.append(publish_directory(target, build))

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert [path.name for path in tmp_path.iterdir()] == ["model"]
    assert (target / "weights").read_text()


def test_replacing_a_directory_swaps_it_whole(tmp_path):
    target = tmp_path / "model"
    publish_directory(target, lambda temp: (temp / "old").write_text("1"))
    assert publish_directory(target, lambda temp: (temp / "new").write_text("2"), replace=True)
    assert [path.name for path in target.iterdir()] == ["new"]
    assert [path.name for path in tmp_path.iterdir()] == ["model"]


def test_temporaries_of_killed_builders_are_removed(tmp_path):
    target = tmp_path / "model"
    (tmp_path / ".model.tmp-abc").mkdir()
    (tmp_path / ".model.tmp-abc" / "half").write_text("x")
    (tmp_path / ".model.json.tmp-def").write_text("x")
    (tmp_path / "other").write_text("kept")
    remove_stale_temporaries(target)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".model.json.tmp-def", "other"]


def test_greedy_completions_in_one_batch_equal_greedy_completion_one_by_one(smollm2):
    """Rows of different lengths, prompts that end inside a word (token healing) and different
    budgets: the batch that drops finished rows gives each prompt's own greedy first line."""
    from finch_lsp.learning.training.greedy import greedy_completion, greedy_completions

    prompts = ["def add(a, b):\n    return", "import o", "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.", "for i in ran", "x = [1, 2,"]
    budgets = [12, 6, 20, 3, 24]
    assert greedy_completions(smollm2, prompts, budgets) == [greedy_completion(smollm2, p, b) for p, b in zip(prompts, budgets)]
