"""The training core on tiny-qwen2 (real Qwen2 architecture and tokenizer, random weights):
loss masking, weighted sampling, adapter validation, and the trainer process end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
import threading
import time
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest

torch = pytest.importorskip("torch")

from finch_lsp.completion.generate import heal_prompt  # noqa: E402
from finch_lsp.learning.jobs import TrainConfig, TrainExample, TrainJob  # noqa: E402
from finch_lsp.learning.training.data import IGNORE, count_steps, encode_example, pad_batch, weighted_batches  # noqa: E402
from finch_lsp.learning.training.losses import target_loss  # noqa: E402
from finch_lsp.learning.training.worker import attach_lora  # noqa: E402
from finch_lsp.learning.adapters import param_shapes, validate_adapter_dir  # noqa: E402
from finch_lsp.tools.scenarios import keeps_completion, uses_pathlib  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def tiny():
    from finch_lsp.models import load_model

    return load_model("tiny-qwen2", "cpu")


@pytest.fixture(scope="module")
def saved_adapter(tmp_path_factory, tiny):
    """A real adapter saved by PEFT on a fresh tiny-qwen2, and the base model's shapes."""
    from finch_lsp.models import load_model

    fresh = load_model("tiny-qwen2", "cpu")
    shapes = param_shapes(fresh.model)
    model = attach_lora(fresh.model, TrainConfig(rank=4, alpha=8))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    path = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(str(path), safe_serialization=True)
    return str(path), shapes


def labelled_text(tokenizer, encoded) -> str:
    return tokenizer.decode([t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE])


def prompt_text(tokenizer, encoded) -> str:
    return tokenizer.decode([t for t, label in zip(encoded.input_ids, encoded.labels) if label == IGNORE])


def test_labels_cover_the_target_only(tiny):
    prompt, target = "def area(width, height):\n    return", " width * height"
    encoded = encode_example(tiny.tokenizer, prompt, target)
    assert labelled_text(tiny.tokenizer, encoded) == target
    assert prompt_text(tiny.tokenizer, encoded) == prompt
    first = encoded.labels.index(next(label for label in encoded.labels if label != IGNORE))
    assert all(label == IGNORE for label in encoded.labels[:first])
    assert encoded.labels[first:] == encoded.input_ids[first:]


def test_healed_prompt_puts_the_removed_whitespace_on_the_produced_side(tiny):
    prompt, target = "def read(path):\n    ", "return Path(path).read_text()"
    kept, removed = heal_prompt(tiny.tokenizer, prompt)
    assert kept + removed == prompt and removed
    encoded = encode_example(tiny.tokenizer, prompt, target)
    assert prompt_text(tiny.tokenizer, encoded) == kept
    assert labelled_text(tiny.tokenizer, encoded) == removed + target


def test_fim_prompts_are_healed_inside_like_the_server_does(tiny):
    from finch_lsp.completion.generate import heal_split

    fim = tiny.fim
    prefix, suffix, target = "def read(path):\n    ", "\n\nprint(read('a'))\n", "return Path(path).read_text()"
    prompt = f"{fim.prefix}{prefix}{fim.suffix}{suffix}{fim.middle}"
    kept, removed = heal_split(tiny.tokenizer, prefix)
    encoded = encode_example(tiny.tokenizer, prompt, target)
    assert prompt_text(tiny.tokenizer, encoded) == f"{fim.prefix}{kept}{fim.suffix}{suffix}{fim.middle}"
    assert labelled_text(tiny.tokenizer, encoded) == removed + target


def test_long_prompts_lose_their_start_not_the_target(tiny):
    prompt, target = "x = 1\n" * 200 + "y =", " 2"
    encoded = encode_example(tiny.tokenizer, prompt, target, max_tokens=32)
    assert len(encoded.input_ids) == 32
    assert labelled_text(tiny.tokenizer, encoded) == target


def test_rejected_suggestion_is_marked_where_it_departs_from_the_correction(tiny):
    encoded = encode_example(tiny.tokenizer, "def f(x):\n    return", " x + 1", rejected=" x - 1")
    position, token = encoded.rejected_at
    assert encoded.labels[position + 1] != IGNORE
    assert encoded.input_ids[position + 1] != token
    assert tiny.tokenizer.decode([token]).strip() == "-"
    same = encode_example(tiny.tokenizer, "def f(x):\n    return", " x + 1", rejected=" x + 1")
    assert same.rejected_at is None


def test_target_loss_ignores_unlabelled_positions():
    labels = torch.tensor([[IGNORE, IGNORE, 3, 4], [IGNORE, 1, IGNORE, IGNORE]])
    logits = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(0))
    changed = logits.clone()
    changed[0, 0, 2] += 5  # position 0 predicts an unlabelled token
    changed[1, 1:, 0] -= 7  # positions 1 to 3 predict unlabelled tokens or nothing
    assert torch.allclose(target_loss(logits, labels), target_loss(changed, labels))
    changed[0, 1, 3] += 5  # position 1 predicts label 3
    assert not torch.allclose(target_loss(logits, labels), target_loss(changed, labels))


def test_anchor_loss_is_zero_for_a_fresh_adapter_and_grows_with_a_change():
    from finch_lsp.learning.training.losses import Picked, held_kl
    from finch_lsp.learning.training.worker import prepare_sequences
    from finch_lsp.models import load_model

    loaded = load_model("smollm2-135m", "cpu")  # its greedy anchors are text (tiny-qwen2 stops at once)
    config = TrainConfig(rank=4, alpha=8, anchor_prompts=3, anchor_new_tokens=4, code_anchors=0, context_code_anchors=0)
    job = TrainJob("smollm2-135m", "cpu", [TrainExample("def f(x):\n    return", " x + 1", 10.0)], "unused", config)
    examples, anchors = prepare_sequences(job, loaded, steps=2)
    rows = examples + anchors
    assert len(anchors) == 3 and all(seq.base_logprobs.shape[0] == len(seq.held) > 0 for seq in rows)
    one_step = msgspec.structs.replace(job, config=msgspec.structs.replace(config, anchor_batch=2))
    _, used = prepare_sequences(one_step, loaded, steps=1)  # only the anchors the steps will use are prepared
    assert [a.input_ids for a in used] == [a.input_ids for a in anchors[:2]]
    model = attach_lora(loaded.model, config)  # LoRA B starts at zero: the adapted model is the base
    batch = pad_batch(rows, 0, "cpu")
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    held = [seq.held for seq in rows]
    assert float(held_kl(Picked.from_full(logits, held), rows, None)) < 1e-3
    assert float(held_kl(Picked.from_full(logits + torch.randn_like(logits), held), rows, None)) > 0.1


def test_picked_logits_are_the_full_forward_passes_at_those_positions():
    """The output projection at the needed positions only, through a LoRA adapter, is the model's logits there."""
    from finch_lsp.learning.training.losses import pick_logits
    from finch_lsp.models import load_model

    loaded = load_model("tiny-qwen2", "cpu")
    model = attach_lora(loaded.model, TrainConfig(rank=4, alpha=8))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05, generator=torch.Generator().manual_seed(1))  # a non-zero update
        rows = [encode_example(loaded.tokenizer, "def f(x):\n    return", " x + 1"), encode_example(loaded.tokenizer, "import os\n\ndef g():\n    return", " os.getcwd()")]
        batch = pad_batch(rows, 0, "cpu")
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        needed = [[0, 2, len(rows[0].input_ids) - 1], [1, 3]]
        picked = pick_logits(model, batch, needed)
        with model.disable_adapter():
            base = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert picked.logits.shape[0] == 5
    for row, positions in enumerate(needed):
        assert torch.allclose(picked.at(row, positions), full[row, positions], atol=1e-4)
    assert not torch.allclose(full[0, [0, 2]], base[0, [0, 2]], atol=1e-4)  # the adapter is in what was picked


@pytest.mark.parametrize("lengths, overhead, groups", [
    ([5], 32, [[0]]),
    ([30, 31, 29, 32], 32, [[2, 0, 1, 3]]),  # alike: one batch
    ([9, 98, 10, 97, 11], 32, [[0, 2, 4], [3, 1]]),  # short and long apart
    ([9, 98, 10, 97, 11], 10_000, [[0, 2, 4, 3, 1]]),  # a pass costing more than any padding: one batch
    ([10, 20, 40, 80], 0, [[0], [1], [2], [3]]),  # free passes: no padding at all
])
def test_length_groups_cut_sorted_rows_where_padding_costs_most(lengths, overhead, groups):
    from finch_lsp.learning.training.losses import length_groups

    assert length_groups(lengths, overhead) == groups


def test_rows_run_in_length_groups_give_the_logits_and_gradients_of_one_padded_batch():
    from finch_lsp.learning.training.losses import Picked, held_kl, length_groups, pick_logits, pick_rows, picked_target_loss
    from finch_lsp.models import load_model

    tiny = load_model("tiny-qwen2", "cpu")  # its own: the adapter is attached in place
    model = attach_lora(tiny.model, TrainConfig(rank=4, alpha=8))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05, generator=torch.Generator().manual_seed(2))
    prompts = ["x =", "def f(x):\n    return", "import os\n\n\ndef long_function_name(first, second, third):\n    " + "# comment " * 20 + "\n    return"]
    rows = [encode_example(tiny.tokenizer, p, " 1") for p in prompts]
    for row in rows:
        row.held = list(range(len(row.input_ids) - 1))
    needed = [sorted(set(r.held) | {len(r.input_ids) - 2}) for r in rows]
    assert len(length_groups([len(r.input_ids) for r in rows])) > 1  # the rows really run apart

    vocab = model.get_output_embeddings().weight.shape[0]
    base = Picked(torch.randn((sum(map(len, needed)), vocab), generator=torch.Generator().manual_seed(3)), needed)  # the KL pulls somewhere

    def loss_and_grads(picked):
        model.zero_grad()
        loss = picked_target_loss(picked, [r.labels for r in rows], range(len(rows))) + held_kl(picked, rows, base)
        loss.backward()
        return picked, loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    one, loss_one, grads_one = loss_and_grads(pick_logits(model, pad_batch(rows, 0, "cpu"), needed))
    grouped, loss_grouped, grads_grouped = loss_and_grads(pick_rows(model, rows, needed, 0, "cpu"))
    for row, positions in enumerate(needed):
        assert torch.allclose(grouped.at(row, positions), one.at(row, positions), atol=1e-5)
    assert abs(loss_one - loss_grouped) < 1e-5 and grads_one
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(grads_one, grads_grouped))


def test_pad_batch_masks_padding():
    from finch_lsp.learning.training.data import EncodedSequence

    batch = pad_batch([EncodedSequence([5, 6, 7], [IGNORE, 6, 7]), EncodedSequence([8], [8])], 0, "cpu")
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"][1].tolist() == [8, IGNORE, IGNORE]


def test_weighted_sampling_follows_the_weights():
    weights = [10.0, 3.0, 1.0]
    batches = weighted_batches(weights, batch_size=10, steps=1400, seed=0)
    counts = Counter(i for batch in batches for i in batch)
    total = sum(counts.values())
    for index, weight in enumerate(weights):
        assert abs(counts[index] / total - weight / sum(weights)) < 0.015
    assert batches == weighted_batches(weights, batch_size=10, steps=1400, seed=0)
    assert batches != weighted_batches(weights, batch_size=10, steps=1400, seed=1)


def test_step_count_is_epochs_times_batches_capped():
    assert count_steps(5, TrainConfig(epochs=3, batch_size=4, max_steps=None)) == 6
    assert count_steps(100, TrainConfig(epochs=3, batch_size=4, max_steps=24)) == 24


def test_scenario_checker():
    assert uses_pathlib("return Path(report_file).read_text()\n")
    assert not uses_pathlib("with open(report_file) as f:\n    return f.read()")
    assert keeps_completion("def greet(name):\n    return", "x", ' f"Hello, {name}!"')
    assert not keeps_completion("def greet(name):\n    return", "x", " name")
    assert not keeps_completion("def area(width, height):\n    return", " width * height", " width / height")


def test_a_real_adapter_validates(saved_adapter):
    path, shapes = saved_adapter
    assert validate_adapter_dir(path, shapes) == []


def copy_of(path: str, tmp_path) -> str:
    target = str(tmp_path / "copy")
    shutil.copytree(path, target)
    return target


def rewrite_tensors(path: str, change) -> None:
    from safetensors.torch import load_file, save_file

    file = os.path.join(path, "adapter_model.safetensors")
    tensors = load_file(file)
    change(tensors)
    save_file(tensors, file)


def test_a_pickle_file_is_rejected(saved_adapter, tmp_path):
    path = copy_of(saved_adapter[0], tmp_path)
    with open(os.path.join(path, "adapter_model.bin"), "wb") as f:
        f.write(b"\x80\x04not really")
    problems = validate_adapter_dir(path, saved_adapter[1])
    assert any("adapter_model.bin" in p for p in problems)


def test_a_wrong_shape_is_rejected(saved_adapter, tmp_path):
    path = copy_of(saved_adapter[0], tmp_path)

    def widen(tensors):
        key = next(k for k in tensors if "lora_A" in k)
        tensors[key] = torch.zeros(tensors[key].shape[0], tensors[key].shape[1] + 1)

    rewrite_tensors(path, widen)
    assert any("does not fit" in p for p in validate_adapter_dir(path, saved_adapter[1]))


def test_a_nan_is_rejected(saved_adapter, tmp_path):
    path = copy_of(saved_adapter[0], tmp_path)

    def poison(tensors):
        key = next(k for k in tensors if "lora_B" in k)
        tensors[key] = tensors[key].clone()
        tensors[key][0, 0] = float("nan")

    rewrite_tensors(path, poison)
    assert any("NaN" in p for p in validate_adapter_dir(path, saved_adapter[1]))


def test_an_unknown_target_module_is_rejected(saved_adapter, tmp_path):
    path = copy_of(saved_adapter[0], tmp_path)
    config_file = os.path.join(path, "adapter_config.json")
    with open(config_file) as f:
        config = json.load(f)
    config["target_modules"] = ["q_proj", "attention_out"]
    with open(config_file, "w") as f:
        json.dump(config, f)
    assert any("attention_out" in p for p in validate_adapter_dir(path, saved_adapter[1]))


def test_missing_weights_are_reported(saved_adapter, tmp_path):
    path = copy_of(saved_adapter[0], tmp_path)
    os.remove(os.path.join(path, "adapter_model.safetensors"))
    assert any("missing" in p for p in validate_adapter_dir(path, saved_adapter[1]))


class FakeLoaded:
    fim = None


@pytest.mark.parametrize(
    "prompt, context",
    [
        ("import os\n\ndef read(path):\n    ", "import os\n\n"),
        ("import os\n\nclass A:\n    def f(self):\n        ", "import os\n\n"),
        ("def read(path):\n    ", None),  # no file around the function
        ("x = 1\n", None),
    ],
)
def test_file_context_is_the_file_before_the_function(prompt, context):
    from finch_lsp.learning.training.data import file_context

    assert file_context(FakeLoaded(), prompt) == context


def test_contextual_anchors_put_generic_functions_in_the_examples_files():
    from finch_lsp.learning.training.data import ANCHOR_PROMPTS, contextual_anchor_prompts

    prompts = ["import a\n\ndef f():\n    ", "import b\n\ndef g():\n    ", "import b\n\ndef h():\n    ", "def bare():\n    "]
    anchors = contextual_anchor_prompts(FakeLoaded(), prompts, 4)
    assert len(anchors) == 4
    assert [a.split("\n")[0] for a in anchors] == ["import b", "import a", "import b", "import a"]  # newest file first
    assert all(a.split("\n\n\n", 1)[1] in ANCHOR_PROMPTS for a in anchors)
    assert contextual_anchor_prompts(FakeLoaded(), ["def bare():\n    "], 4) == []
    assert contextual_anchor_prompts(FakeLoaded(), prompts, 0) == []


def test_training_is_deterministic(tmp_path):
    from finch_lsp.learning.training.worker import train_adapter
    from finch_lsp.models import load_model

    config = TrainConfig(batch_size=2, max_steps=3, rank=4, alpha=8, anchor_prompts=2, anchor_batch=1, anchor_new_tokens=4, gate_general_prompts=0, gate_tasks=0)
    examples = [TrainExample("def f(x):\n    return", " x + 1", 10.0), TrainExample("def g(y):\n    return", " y * 2", 1.0)]
    runs = []
    for name in ("first", "second"):
        job = TrainJob("tiny-qwen2", "cpu", examples, str(tmp_path / name), config)
        progress: list[dict] = []
        result = train_adapter(job, load_model("tiny-qwen2", "cpu"), progress.append)
        assert [p["step"] for p in progress if p.get("phase") != "gate"] == [1, 2, 3]
        runs.append((result.losses, (tmp_path / name / "adapter_model.safetensors").read_bytes()))
    assert runs[0] == runs[1]


def run_worker(job_path: str) -> tuple[int, list[dict], str]:
    env = {**os.environ, "FINCH_TRAIN_THREADS": "1", "PYTHONPATH": REPO_ROOT}
    done = subprocess.run(
        [sys.executable, "-m", "finch_lsp.learning.training.worker", job_path],
        # a guard against a hung trainer only: on a loaded 2-core machine one run has taken over 180 s
        capture_output=True, text=True, timeout=1800, env=env, cwd=REPO_ROOT,
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, events, done.stderr


def test_trainer_process_end_to_end(tiny, tmp_path):
    config = TrainConfig(
        batch_size=2, epochs=2, max_steps=None, rank=4, alpha=8, anchor_prompts=2, anchor_batch=1, anchor_new_tokens=4,
        context_anchors=2, gate_general_prompts=4, gate_tasks=0,
    )
    examples = [
        TrainExample("def read_config(path):\n    return", " Path(path).read_text()", 10.0, rejected=" open(path).read()"),
        TrainExample("def area(width, height):\n    return", " width * height", 1.0),
        TrainExample("def greet(name):\n    return", ' f"Hello, {name}!"', 3.0),
    ]
    output = tmp_path / "adapter"
    job = TrainJob("tiny-qwen2", "cpu", examples, str(output), config, held_out=[examples[1]])
    job_path = tmp_path / "job.json"
    job_path.write_bytes(msgspec.json.encode(job))

    code, events, stderr = run_worker(str(job_path))

    assert code == 0, stderr
    progress = [e for e in events if e["event"] == "progress" and e.get("phase") != "gate"]
    gate = [e["message"] for e in events if e.get("phase") == "gate"]
    assert [e["step"] for e in progress] == [1, 2, 3, 4]
    assert any("base model" in m for m in gate) and any("judging the adapter" in m for m in gate)
    assert all(e["steps"] == 4 and e["epochs"] == 2 and e["loss"] >= 0 for e in progress)
    assert all(e["threads"] == 1 for e in progress)  # $FINCH_TRAIN_THREADS holds whatever the machine's load
    assert events[-1]["event"] == "done" and len(events) == len(progress) + len(gate) + 1
    result = events[-1]["result"]
    assert result["steps"] == 4 and len(result["losses"]) == 4
    assert result["evaluation"]["total"] == 1 and result["evaluation"]["held_out_loss_before"] is not None
    assert result["evaluation"]["general_total"] == 4 and result["evaluation"]["general_kept"] is not None
    assert validate_adapter_dir(str(output), param_shapes(tiny.model)) == []
    assert sorted(os.listdir(output)) == ["adapter_config.json", "adapter_model.safetensors", "meta.json"]
    meta = json.loads((output / "meta.json").read_text())
    assert meta["baseModel"] == "tiny-qwen2" and meta["weights"] == [10.0, 1.0, 3.0] and meta["examples"] == 3


def test_trainer_process_reports_a_bad_job(tmp_path):
    job_path = tmp_path / "job.json"
    job_path.write_text('{"base_model": "tiny-qwen2"}')
    code, events, _ = run_worker(str(job_path))
    assert code == 1
    assert [e["event"] for e in events] == ["error"]
    assert "training failed" in events[0]["message"]


def test_gate_figures_complete_and_test_tasks_and_rerun_only_what_changed(tiny):
    from finch_lsp.learning.training import gate
    from finch_lsp.learning.training.general import GENERAL_PROMPTS

    tasks, prompts, messages = gate.gate_tasks(3), GENERAL_PROMPTS[:3], []
    base = gate.figures(tiny, prompts, tasks, messages.append)
    names = {t.name for t in tasks}
    assert len(base.general) == 3 and set(base.completions) == set(base.passed) == names
    assert messages and messages[0] == "general prompts (3)"
    # the adapter's side runs only the tasks the base passes; a changed completion is tested again
    claimed = gate.Figures(base.general, {tasks[0].name: "not what it writes"}, {tasks[0].name: True, tasks[1].name: False, tasks[2].name: False})
    _, adapted = gate.task_outcomes(tiny, tasks, messages.append, claimed)
    assert set(adapted) == {tasks[0].name}
    assert adapted[tasks[0].name] == base.passed[tasks[0].name]  # its real outcome, not the claimed one
    # an unchanged completion keeps the base outcome without a run
    same = gate.Figures(base.general, {tasks[0].name: base.completions[tasks[0].name]}, {tasks[0].name: True})
    assert gate.task_outcomes(tiny, tasks, messages.append, same)[1] == {tasks[0].name: True}


def test_the_sparse_kl_is_zero_for_the_same_distribution_and_bounds_the_whole_one_from_below():
    from finch_lsp.learning.training.losses import sparse_kl, top_k_logprobs

    torch.manual_seed(0)
    base = torch.log_softmax(torch.randn(5, 1000) * 4, dim=-1)
    adapted = torch.log_softmax(torch.log_softmax(torch.randn(5, 1000) * 4, dim=-1) + torch.randn(5, 1000), dim=-1)
    values, indices = top_k_logprobs(base)
    assert float(sparse_kl(base, values, indices).abs().max()) < 1e-2
    whole = (base.exp() * (base - adapted)).sum(-1)
    coarse = sparse_kl(adapted, values, indices)
    assert bool((coarse > 0.05).all()) and bool((coarse <= whole + 1e-2).all())


def test_code_anchors_are_openings_of_real_functions_held_at_every_position():
    from finch_lsp.learning.training.code_anchors import code_anchor_texts, openings_of
    from finch_lsp.learning.training.data import anchor_sequences
    from finch_lsp.models import load_model

    source = 'def f(a, b):\n    """Doc."""\n    total = a + b\n    return total\n\ndef g():\n    pass\n'
    assert openings_of(source) == ["def f(a, b):\n    total = a + b\n    return total", "def g():\n    pass"]
    texts = code_anchor_texts(8)
    assert len(texts) == 8 and all(t.startswith(("def ", "async def ")) for t in texts)
    assert texts == code_anchor_texts(8)  # a fixed sample
    loaded = load_model("tiny-qwen2", "cpu")
    sequences = anchor_sequences(loaded, TrainConfig(anchor_prompts=0, code_anchors=8))
    assert len(sequences) == 8 and all(s.held == list(range(len(s.input_ids))) for s in sequences)


def test_the_gate_tries_weaker_strengths_only_for_forgetting_and_restores_the_adapter_when_none_passes(monkeypatch):
    from finch_lsp.learning.jobs import Evaluation
    from finch_lsp.learning.training import worker
    from finch_lsp.models import load_model

    loaded = load_model("tiny-qwen2", "cpu")
    model = worker.attach_lora(loaded.model, TrainConfig(rank=4, alpha=8))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.fill_(1.0)
    norm = lambda: sum(float(p.abs().sum()) for n, p in model.named_parameters() if "lora_B" in n)
    full = norm()
    seen = []

    probes = []

    def fake_evaluate(passes_below, failed):
        def evaluate(loaded, job, base, progress, first_failure=False, memo=None):
            strength = norm() / full
            seen.append(round(strength, 2))
            probes.append(first_failure)
            ok = strength < passes_below
            return Evaluation(ok, 1, 1, None, None, [] if ok else [f"{failed} at {strength:.2f}"], [] if ok else [failed])
        return evaluate

    job = TrainJob("tiny-qwen2", "cpu", [], "unused", TrainConfig(gate_scales=[0.7, 0.5]))
    monkeypatch.setattr(worker, "evaluate", fake_evaluate(0.6, "general prompts"))
    verdict = worker.judge(replace(loaded, model=model), job, None, lambda m: None)
    assert seen == [1.0, 0.7, 0.5] and verdict.passed and verdict.scale == 0.5
    assert probes == [True, True, False]  # the last strength gets every check: its verdict is the one kept
    assert verdict.reasons_at_full == ["general prompts at 1.00"] and abs(norm() / full - 0.5) < 1e-6  # saved weaker
    seen.clear()
    monkeypatch.setattr(worker, "evaluate", fake_evaluate(0.0, "your files"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.fill_(1.0)
    probes.clear()
    verdict = worker.judge(replace(loaded, model=model), job, None, lambda m: None)
    assert seen == [1.0, 0.7, 0.5, 1.0] and not verdict.passed and verdict.scale == 1.0 and abs(norm() / full - 1.0) < 1e-6
    assert probes == [True, True, False, False]  # the kept full-strength adapter judged again on every check
    seen.clear()
    monkeypatch.setattr(worker, "evaluate", fake_evaluate(0.0, "corrections"))  # a weaker adapter cannot learn more
    assert not worker.judge(replace(loaded, model=model), job, None, lambda m: None).passed and seen == [1.0]
    seen.clear()
    monkeypatch.setattr(worker, "evaluate", fake_evaluate(0.0, "your lines"))  # nor predict the user's lines better
    assert not worker.judge(replace(loaded, model=model), job, None, lambda m: None).passed and seen == [1.0]


def test_forgetting_checks_stop_at_the_first_failure_only_when_asked(monkeypatch):
    from finch_lsp.learning.jobs import Evaluation
    from finch_lsp.learning.training import evaluation, gate

    calls = []

    def check(name, fails):
        def run(loaded, job, base, verdict, progress, memo):
            calls.append(name)
            if fails:
                verdict.failed_checks.append(name)
                verdict.reasons.append(f"{name}: failed")
        return run

    monkeypatch.setattr(evaluation, "pass_check", check("pass@1", True))
    monkeypatch.setattr(evaluation, "general_check", check("general prompts", False))
    monkeypatch.setattr(evaluation, "file_check", check("your files", True))
    job = TrainJob("tiny-qwen2", "cpu", [], "unused", TrainConfig())
    probe = Evaluation(False, 1, 1, None, None, [], [])
    evaluation.forgetting_checks(None, job, gate.Figures(), probe, lambda m: None, first_failure=True)
    assert calls == ["pass@1"] and probe.failed_checks == ["pass@1"]
    calls.clear()
    full = Evaluation(False, 1, 1, None, None, [], [])
    evaluation.forgetting_checks(None, job, gate.Figures(), full, lambda m: None)
    assert calls == ["pass@1", "general prompts", "your files"] and full.failed_checks == ["pass@1", "your files"]


def test_the_your_files_check_computes_the_base_side_once_per_training(monkeypatch):
    from finch_lsp.learning.jobs import Evaluation
    from finch_lsp.learning.training import evaluation, gate
    from finch_lsp.models import load_model

    tiny = load_model("tiny-qwen2", "cpu")  # its own: the adapter is attached in place
    model = attach_lora(tiny.model, TrainConfig(rank=4, alpha=8))
    loaded = replace(tiny, model=model)
    seen = []
    monkeypatch.setattr(gate, "general_completions", lambda loaded, prompts: seen.append("completions") or ["x"] * len(prompts))
    monkeypatch.setattr(gate, "general_margins", lambda loaded, prompts, completions: seen.append("margins") or [1.0] * len(prompts))
    monkeypatch.setattr(gate, "turned_wrong", lambda *a: [])
    job = TrainJob("tiny-qwen2", "cpu", [TrainExample("import os\n\n\ndef f():\n    return", " 1", 10.0)], "unused", TrainConfig())
    memo = {}
    for _ in range(2):
        verdict = Evaluation(False, 1, 1, None, None, [], [])
        evaluation.file_check(loaded, job, gate.Figures(), verdict, lambda m: None, memo)
        assert verdict.file_total == verdict.file_kept > 0 and not verdict.reasons
    assert seen == ["completions", "margins", "completions", "completions"]  # the base side once, then the adapter's each time


def test_the_pathlib_score_allows_one_odd_completion_to_move_but_none_from_right_to_wrong():
    from finch_lsp.tools.scenarios import UNRELATED, UNSEEN_PROMPTS, score

    before = [want for _, want in UNRELATED]
    unseen = [" return Path(p).read_text()"] * len(UNSEEN_PROMPTS)
    assert score(unseen, before, before)["passed"]
    odd = before[:-1] + [" sum(numbers) / len(numbers)"]  # average: wrong -> right
    result = score(unseen, odd, before)
    assert result["passed"] and result["changed"] == [UNRELATED[-1][0]] and result["wrong"] == []
    broken = [" width / height"] + before[1:]  # area: right -> wrong
    result = score(unseen, broken, before)
    assert not result["passed"] and result["wrong"] == [UNRELATED[0][0]]
    assert not score(unseen, odd[:-2] + [" first", " 0"], before)["passed"]  # two moved


def tiny_job_json(output: Path, model: str = "tiny-qwen2") -> bytes:
    config = TrainConfig(batch_size=1, epochs=1, max_steps=None, rank=4, alpha=8, anchor_weight=0, gate_general_prompts=0, gate_tasks=0)
    return msgspec.json.encode(TrainJob(model, "cpu", [TrainExample("def f(x):\n    return", " x + 1", 10.0)], str(output), config))


def train_through(trainer, job_json: bytes) -> tuple[dict | None, str | None]:
    finished, outcome = threading.Event(), {}

    def on_exit(result, error):
        outcome.update(result=result, error=error)
        finished.set()

    assert trainer.start(job_json, lambda event: None, on_exit) is None
    assert finished.wait(timeout=1800)  # a guard against a hung trainer only
    return outcome["result"], outcome["error"]


@pytest.fixture
def trainer(tmp_path, monkeypatch):
    """A ``TrainerProcess`` on a fresh data dir, its trainers on one thread; stopped at the end."""
    from finch_lsp.learning.child import TrainerProcess

    monkeypatch.setenv("FINCH_TRAIN_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", REPO_ROOT)
    (tmp_path / "data").mkdir()
    trainer = TrainerProcess(tmp_path / "data")
    assert trainer.problem is None
    yield trainer
    trainer.kill()


def wait_for_log_line(path: Path, text: str, proc) -> None:
    """Until ``text`` is in the trainer's log (the prepared trainer says it is ready), or it exited."""
    while proc.poll() is None and text not in (path.read_text() if path.exists() else ""):
        time.sleep(0.05)


def test_a_prepared_trainer_loads_the_model_before_the_job_and_trains_it(trainer, tmp_path):
    trainer.prepare("tiny-qwen2", "cpu")
    prepared = trainer._prepared
    log_path = tmp_path / "data" / "trainer.log"
    wait_for_log_line(log_path, "ready, waiting for the job", prepared)
    assert prepared.poll() is None and "model tiny-qwen2 ready" in log_path.read_text()  # loaded with no job yet
    trainer.prepare("tiny-qwen2", "cpu")
    assert trainer._prepared is prepared  # one prepared trainer at a time

    result, error = train_through(trainer, tiny_job_json(tmp_path / "adapter"))

    assert error is None and result["steps"] == 1
    assert trainer._proc is prepared and prepared.wait() == 0 and trainer._prepared is None  # the prepared one trained it
    assert log_path.read_text().count("model tiny-qwen2 ready") == 1  # and did not load the model again
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def test_a_prepared_trainer_that_died_is_replaced_and_one_never_used_is_stopped(trainer, tmp_path):
    trainer.prepare("tiny-qwen2", "cpu")
    dead = trainer._prepared
    dead.kill()
    dead.wait()
    result, error = train_through(trainer, tiny_job_json(tmp_path / "adapter"))
    assert error is None and result["steps"] == 1 and trainer._proc is not dead

    trainer.prepare("tiny-qwen2", "cpu")
    unused = trainer._prepared
    trainer._drop_prepared(unused)  # what the PREPARED_S timer does
    assert unused.poll() is not None and trainer._prepared is None
    trainer.prepare("tiny-qwen2", "cpu")
    unused = trainer._prepared
    trainer.kill()  # the server's exit
    assert unused.poll() is not None and trainer._prepared is None


def test_a_prepared_trainer_exits_quietly_when_no_job_comes():
    done = subprocess.run(
        [sys.executable, "-m", "finch_lsp.learning.training.worker", "--wait", "tiny-qwen2", "cpu"], stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=1800, env={**os.environ, "FINCH_TRAIN_THREADS": "1", "PYTHONPATH": REPO_ROOT}, cwd=REPO_ROOT,
    )
    assert done.returncode == 0 and done.stdout == "", done.stderr


def test_a_prepared_trainer_loads_the_model_its_job_names(tmp_path, monkeypatch):
    """Prepared with a model that is not the job's (or that failed to load): the job's is loaded."""
    monkeypatch.setenv("FINCH_TRAIN_THREADS", "1")
    job_path = tmp_path / "job.json"
    job_path.write_bytes(tiny_job_json(tmp_path / "adapter"))
    with subprocess.Popen(
        [sys.executable, "-m", "finch_lsp.learning.training.worker", "--wait", "no-such-model", "cpu"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": REPO_ROOT, "HF_HUB_OFFLINE": "1"}, cwd=REPO_ROOT,
    ) as proc:
        out, err = proc.communicate(f"{job_path}\n", timeout=1800)
    events = [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 0 and events[-1]["event"] == "done", err
    assert "could not load no-such-model" in err and "model tiny-qwen2 ready" in err


def test_an_implicit_only_adapter_is_judged_on_typed_lines_it_was_not_taught(tmp_path):
    """With validation lines the gate asks whether the adapter predicts them better than the base
    model, not whether it reproduces what it was trained on: an adapter that changes nothing fails
    on them, one that learnt lines of that kind passes."""
    from finch_lsp.learning.training.evaluation import evaluate
    from finch_lsp.learning.training.worker import train_adapter
    from finch_lsp.models import load_model

    config = TrainConfig(batch_size=2, max_steps=8, rank=4, alpha=8, anchor_prompts=2, anchor_batch=1, anchor_new_tokens=4, gate_general_prompts=0, gate_tasks=0, anchor_weight=0.0, code_anchors=0, context_code_anchors=0, implicit_max_steps=8)
    lines = [TrainExample(f"def get_{name}(self):\n    return", f" self._{name}", 0.25, rejected=" None", implicit=True) for name in ("name", "path", "mode", "size", "user", "host")]
    validation = [TrainExample(f"def get_{name}(self):\n    return", f" self._{name}", 0.25, rejected=" None", implicit=True) for name in ("port", "kind")]

    loaded = load_model("tiny-qwen2", "cpu")
    fresh = replace(loaded, model=attach_lora(loaded.model, config))  # B = 0: the base model exactly
    unchanged = evaluate(fresh, TrainJob("tiny-qwen2", "cpu", lines, str(tmp_path / "unused"), config, validation=validation))
    assert unchanged.failed_checks == ["your lines"] and not unchanged.passed
    assert unchanged.validation_loss_after == pytest.approx(unchanged.validation_loss_before)
    assert "2 lines you typed" in unchanged.reasons[0]

    job = TrainJob("tiny-qwen2", "cpu", lines, str(tmp_path / "adapter"), config, validation=validation)
    learnt = train_adapter(job, load_model("tiny-qwen2", "cpu"), lambda p: None).evaluation
    assert learnt.validation_loss_after < learnt.validation_loss_before
    assert "your lines" not in learnt.failed_checks and "corrections" not in learnt.failed_checks
    saved = json.loads((tmp_path / "adapter" / "meta.json").read_text())["config"]
    assert (saved["max_steps"], saved["decode_min_shift"]) == (8, config.implicit_decode_min_shift)  # as the server will decode it


def test_a_buffer_of_implicit_feedback_alone_trains_with_the_implicit_steps_and_threshold():
    from finch_lsp.learning.jobs import for_buffer

    config = TrainConfig(max_steps=12, implicit_max_steps=36, decode_min_shift=0.5, implicit_decode_min_shift=0.3)
    typed = [TrainExample(f"def g{i}():\n    return", f" {i}", 0.25, rejected=" None", implicit=True) for i in range(3)]
    rated = TrainExample("def f():\n    return", " Path()", 10.0, rejected=" open()")
    implicit_only = for_buffer(TrainJob("m", "cpu", typed, "out", config)).config
    assert (implicit_only.max_steps, implicit_only.decode_min_shift) == (36, 0.3)
    assert for_buffer(TrainJob("m", "cpu", [*typed, rated], "out", config)).config == config  # one rating: the rated settings
    plain = msgspec.structs.replace(config, decode_min_shift=0.0)
    assert for_buffer(TrainJob("m", "cpu", typed, "out", plain)).config.decode_min_shift == 0.0  # the user's plain decoding stays plain


def test_rated_corrections_are_judged_before_implicit_ones():
    from finch_lsp.learning.training.evaluation import MAX_EVALUATED_CORRECTIONS, corrections_of

    rated = [TrainExample(f"def f{i}():\n    return", " Path()", 10.0, rejected=" open()") for i in range(3)]
    typed = [TrainExample(f"def g{i}():\n    return", f" {i}", 0.25, rejected=" None", implicit=True) for i in range(MAX_EVALUATED_CORRECTIONS)]
    assert corrections_of(TrainJob("m", "cpu", rated + typed, "out")) == rated
    assert corrections_of(TrainJob("m", "cpu", typed, "out")) == typed
