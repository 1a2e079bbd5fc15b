"""The model table, what auto picks on which machine, and what the server loads meanwhile."""

from __future__ import annotations

import pytest

from finch_lsp.models.catalog import (
    EMBEDDED,
    GIB,
    HUB_MODELS,
    HUB_MODELS_BY_NAME,
    format_size,
    hub_model,
    largest_fitting,
    pick_auto,
    why_not,
)
from finch_lsp.models.machine import Machine, _physical_gpu_index, parse_nvidia_smi, probe_machine
from finch_lsp.models.serving import serving_plan

SMALL, MEDIUM, LARGE = (model.name for model in HUB_MODELS)


def cpu(ram_gib: float | None) -> Machine:
    return Machine("cpu", None if ram_gib is None else int(ram_gib * GIB))


def gpu(free_gib: float, ram_gib: float = 4) -> Machine:
    return Machine("cuda", int(ram_gib * GIB), int(free_gib * GIB), "NVIDIA Test GPU")


def test_parameter_counts_are_the_published_ones():
    assert [model.parameters for model in HUB_MODELS] == [494_032_768, 1_543_714_304, 3_085_938_688]


def test_memory_needed_grows_with_the_model_and_cpu_needs_float32():
    for model in HUB_MODELS:
        assert model.cpu_memory_bytes > 4 * model.parameters > model.gpu_memory_bytes > 2 * model.parameters
    assert format_size(HUB_MODELS_BY_NAME[SMALL].cpu_memory_bytes) == "2.3 GiB"
    assert format_size(HUB_MODELS_BY_NAME[LARGE].gpu_memory_bytes) == "6.5 GiB"


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        (cpu(4), SMALL),
        (cpu(7.4), SMALL),
        (cpu(7.7), MEDIUM),  # a machine sold with 8 GB
        (cpu(14.9), MEDIUM),
        (cpu(15.5), LARGE),  # sold with 16 GB
        (cpu(64), LARGE),
        (cpu(None), SMALL),  # unknown: the smallest
        (Machine("mps", 16 * GIB), LARGE),  # Apple GPUs share the RAM
        (gpu(3.9, ram_gib=64), SMALL),  # on CUDA the free VRAM counts, not the RAM
        (gpu(4), MEDIUM),
        (gpu(7.9), MEDIUM),
        (gpu(8), LARGE),
        (gpu(139), LARGE),
    ],
)
def test_the_memory_table(machine, expected):
    assert largest_fitting(machine).name == expected


def test_nothing_downloaded_picks_the_embedded_model_and_says_what_to_pull():
    choice = pick_auto(cpu(12), set())
    assert choice.name == EMBEDDED
    assert choice.better is HUB_MODELS_BY_NAME[MEDIUM]
    assert choice.why == (
        "no Qwen2.5-Coder that fits is downloaded; this machine (CPU with 12.0 GiB RAM) fits up to "
        "qwen2.5-coder-1.5b: run `finch-lsp models pull qwen2.5-coder-1.5b` (2.9 GiB) for it, "
        "or set finch.modelDownload to true to fetch it in the background"
    )


def test_the_largest_downloaded_model_that_fits_wins():
    choice = pick_auto(gpu(80), {SMALL, MEDIUM})
    assert (choice.name, choice.better) == (MEDIUM, HUB_MODELS_BY_NAME[LARGE])
    assert choice.why.startswith("qwen2.5-coder-1.5b is the largest downloaded Qwen2.5-Coder that fits; ")
    assert "GPU NVIDIA Test GPU with 80.0 GiB free" in choice.why
    assert choice.why.endswith("run `finch-lsp models pull qwen2.5-coder-3b` (5.8 GiB) for it")


def test_a_downloaded_model_too_large_for_the_machine_is_passed_over():
    assert pick_auto(cpu(6), {LARGE}).name == EMBEDDED
    assert pick_auto(cpu(10), {SMALL, LARGE}).name == SMALL
    exact = pick_auto(cpu(10), {MEDIUM, LARGE})
    assert (exact.name, exact.better) == (MEDIUM, None)
    assert "largest downloaded" in exact.why and "pull" not in exact.why


def test_why_auto_does_not_use_a_model():
    big = HUB_MODELS_BY_NAME[LARGE]
    assert why_not(big, cpu(6), set()) == "needs about 12.0 GiB of RAM; CPU with 6.0 GiB RAM: auto stops at qwen2.5-coder-0.5b"
    assert why_not(big, gpu(5), set()).startswith("needs about 6.5 GiB of GPU memory; GPU NVIDIA Test GPU with 5.0 GiB free")
    assert why_not(big, cpu(32), set()) == "not downloaded: `finch-lsp models pull qwen2.5-coder-3b` (5.8 GiB)"
    assert why_not(HUB_MODELS_BY_NAME[SMALL], cpu(32), {SMALL, LARGE}) == "a larger downloaded model fits this machine"


def test_names_are_matched_loosely_and_only_hub_models_are_downloadable():
    assert hub_model(" Qwen2.5-Coder-1.5B ") is HUB_MODELS_BY_NAME[MEDIUM]
    assert hub_model("smollm2-135m") is None and hub_model("tiny-qwen2") is None and hub_model("") is None


@pytest.mark.parametrize(
    ("requested", "present", "download", "load", "fetch", "reason_has"),
    [
        ("auto", set(), False, EMBEDDED, None, "finch-lsp models pull qwen2.5-coder-1.5b"),
        ("auto", set(), True, EMBEDDED, MEDIUM, "downloading qwen2.5-coder-1.5b (2.9 GiB) in the background"),
        ("AUTO", {SMALL}, True, SMALL, MEDIUM, "serving qwen2.5-coder-0.5b until it is ready"),
        ("auto", {MEDIUM}, True, MEDIUM, None, "largest downloaded"),
        (LARGE, set(), True, EMBEDDED, LARGE, "the model setting names it and finch.modelDownload is on"),
        (LARGE, set(), False, LARGE, None, ""),  # loading it fails and says how to get it
        (LARGE, {LARGE}, True, LARGE, None, ""),
        ("tiny-qwen2", set(), True, "tiny-qwen2", None, ""),
        ("Org/own-model", set(), True, "Org/own-model", None, ""),
    ],
)
def test_what_the_server_loads_now_and_downloads_meanwhile(requested, present, download, load, fetch, reason_has):
    plan = serving_plan(requested, cpu(12), present, download)
    assert plan.load == load
    assert (plan.fetch.name if plan.fetch else None) == fetch
    assert reason_has in plan.reason and (plan.reason == "") == (reason_has == "")


def test_nvidia_smi_output_is_read_per_gpu():
    output = "0, NVIDIA H200, 142000\n1, NVIDIA H200, 1024\n"
    assert parse_nvidia_smi(output, 0) == ("NVIDIA H200", 142000 << 20)
    assert parse_nvidia_smi(output, 1) == ("NVIDIA H200", 1 << 30)
    assert parse_nvidia_smi(output, 2) is None
    assert parse_nvidia_smi("[N/A]\n", 0) is None


@pytest.mark.parametrize(
    ("visible", "index", "expected"),
    [(None, 0, 0), (None, 1, 1), ("3,1", 0, 3), ("3,1", 1, 1), ("3", 1, None), ("", 0, None), ("-1", 0, None)],
)
def test_cuda_visible_devices_maps_to_nvidia_smi_indices(monkeypatch, visible, index, expected):
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert _physical_gpu_index(index) == expected


def test_probing_for_the_cpu_reports_ram_and_no_gpu():
    machine = probe_machine("cpu")
    assert machine.device == "cpu" and machine.vram_free_bytes is None
    assert machine.ram_bytes is not None and machine.ram_bytes > 256 << 20
    assert machine.describe().startswith("CPU with ")
