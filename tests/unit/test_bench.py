"""``finch-lsp bench``: percentiles, the document, the markdown report, and one tiny real run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from finch_lsp.tools.latency import (
    SECTION_HEADING,
    BenchResult,
    Stats,
    bench_document,
    completion_settings,
    insert_section,
    percentile,
    render_markdown,
    render_text,
)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 50, 5.0),
        ([5.0], 95, 5.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # order does not matter
        ([float(i) for i in range(1, 21)], 95, 19.05),  # rank 18.05 between 19 and 20
        ([float(i) for i in range(1, 21)], 100, 20.0),
        ([float(i) for i in range(1, 21)], 0, 1.0),
    ],
)
def test_percentile_interpolates_linearly(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        percentile([], 50)


def test_stats_of_durations():
    stats = Stats.of([0.3, 0.1, 0.2])
    assert (stats.p50, stats.runs) == (pytest.approx(0.2), 3)
    assert stats.p95 == pytest.approx(0.29)


def words(text: str) -> int:
    """A stand-in token counter: whitespace-separated words."""
    return len(text.split())


@pytest.mark.parametrize("fim", [True, False])
def test_document_has_the_cursor_mid_file_after_return(fim):
    text, line, character = bench_document(words, 600, fim)
    lines = text.split("\n")
    assert lines[line][:character].endswith("    return")
    assert line < len(lines) - 5, "the cursor is mid-file: there is a suffix"
    compile(text, "inventory.py", "exec")  # a real Python file, the cursor line included
    assert text.isascii()


def test_document_size_follows_the_prompt_target():
    small, _, _ = bench_document(words, 300, True)
    large, _, _ = bench_document(words, 3000, True)
    assert abs(words(large) - 3000) < 400
    assert words(small) < words(large) / 4


def test_settings_force_the_token_count_and_keep_the_whole_prompt():
    settings = completion_settings(32, 1400)
    assert settings["maxNewTokens"] == settings["minNewTokens"] == 32
    assert settings["promptTokens"] > 1400
    assert settings["multiline"] == "always"


def result(**changes) -> BenchResult:
    fields = dict(
        model="smollm2-135m", device="cpu", prompt_tokens=212, new_tokens=32,
        e2e=Stats(0.550, 0.600, 20), raw=Stats(0.500, 0.540, 20), engine=Stats(0.510, 0.560, 20),
        machine={"cpu": "AMD EPYC", "cores": "2", "gpu": "none", "torch": "2.13.0", "threads": "2", "transformers": "5.23.0", "python": "3.11.7"},
        command="finch-lsp bench --model smollm2-135m --device cpu --runs 20 --new-tokens 32",
        ready_after=2.0, first_raw=0.9, items=20, date="2026-11-23",
    )
    fields.update(changes)
    return BenchResult(**fields)


def test_ratios_divide_end_to_end_by_raw():
    r = result()
    assert r.ratio_p50 == pytest.approx(1.1)
    assert r.ratio_p95 == pytest.approx(0.6 / 0.54)


def test_markdown_is_one_table_row_with_every_figure():
    md = render_markdown(result())
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 3
    assert table[0].count("|") == table[1].count("|") == table[2].count("|") == 12
    row = table[2]
    for figure in ("AMD EPYC, 2 cores", "smollm2-135m", "| cpu |", "| 212 |", "| 32 |", "550.0 ms", "600.0 ms", "500.0 ms", "540.0 ms", "1.100", "1.111"):
        assert figure in row
    assert "`finch-lsp bench --model smollm2-135m --device cpu --runs 20 --new-tokens 32`" in md
    assert "torch 2.13.0 (2 CPU threads)" in md and "transformers 5.23.0" in md


def test_markdown_names_the_gpu():
    machine = dict(result().machine, gpu="NVIDIA H100 80GB HBM3")
    assert "AMD EPYC, 2 cores, NVIDIA H100 80GB HBM3" in render_markdown(result(machine=machine, device="cuda"))


def test_text_report_prints_percentiles_and_ratio():
    text = render_text(result())
    assert re.search(r"end to end\s+p50\s+550\.0 ms\s+p95\s+600\.0 ms", text)
    assert re.search(r"ratio\s+p50\s+1\.100", text)


def test_sections_go_under_the_completion_latency_heading():
    first = insert_section("", "### run 1\n")
    assert first.startswith("# Benchmarks\n") and SECTION_HEADING in first and first.endswith("### run 1\n")
    others = first + "\n## Learning\n\nfigures by others\n"
    second = insert_section(others, "### run 2\n")
    assert second.index("### run 1") < second.index("### run 2") < second.index("## Learning")
    assert second.endswith("## Learning\n\nfigures by others\n")
    added = insert_section("# Benchmarks\n\n## Learning\n\nx\n", "### run\n")
    assert added.index("## Learning") < added.index(SECTION_HEADING) < added.index("### run")


def test_a_tiny_real_run_prints_the_report(tmp_path: Path):
    """The whole command on tiny-qwen2: a server over stdio, raw generate, the report."""
    output = tmp_path / "benchmarks.md"
    env = {**os.environ, "FINCH_DATA_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}  # steady on a busy machine
    done = subprocess.run(
        [sys.executable, "-m", "finch_lsp", "bench", "--model", "tiny-qwen2", "--device", "cpu",
         "--runs", "2", "--new-tokens", "4", "--data-dir", str(tmp_path), "--output", str(output)],
        capture_output=True, text=True, timeout=900, env=env,  # a hang guard, not a time limit
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"end to end\s+p50\s+[\d.]+ ms\s+p95\s+[\d.]+ ms", done.stdout)
    assert re.search(r"raw\s+p50\s+[\d.]+ ms\s+p95\s+[\d.]+ ms", done.stdout)
    assert re.search(r"ratio\s+p50\s+[\d.]+\s+p95\s+[\d.]+", done.stdout)
    assert "tiny-qwen2" in output.read_text() and SECTION_HEADING in output.read_text()


def test_learning_bench_renders_its_row():
    from finch_lsp.tools.lessons import render

    result = {"before_hits": 0, "hits": 5, "unseen": 5, "kept": 6, "unrelated": 6, "activated": True, "wall": 42.56}
    text = render(result, "smollm2-135m", {"cpu": "CPU X", "cores": "2", "gpu": "none"}, "finch-lsp bench --learning")
    assert "| 0/5 | 5/5 | 6/6 | yes | 42.6 s |" in text and "CPU X, 2 cores" in text


# -- bench --keystroke and bench --peer ----------------------------------------------------------
from finch_lsp.tools import keystroke, peer  # noqa: E402
from finch_lsp.tools.latency import cold_variant, document_prefix  # noqa: E402


def test_cold_variants_differ_from_the_first_token_and_keep_the_rest():
    text = "# a\ndef f():\n    return 1\n"
    a, b = cold_variant(text, 0), cold_variant(text, 1)
    assert a != b and a.split("\n", 1)[1] == b.split("\n", 1)[1] == "def f():\n    return 1\n"


@pytest.mark.parametrize(("line", "character", "prefix"), [(0, 0, ""), (0, 3, "abc"), (1, 2, "abc\nde"), (2, 0, "abc\ndef\n")])
def test_document_prefix(line, character, prefix):
    assert document_prefix("abc\ndef\nghi", line, character) == prefix


@pytest.mark.parametrize(
    ("text", "done"),
    [("", False), ("\n", False), ("\n    x = 1", False), ("\n    x = 1\n", True), ("x)\n", True), ("abc", False)],
)
def test_single_line_stop_is_the_servers(text, done):
    assert peer.single_line_done(text) is done


def test_peer_says_how_to_install_llama_cpp_when_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails
    with pytest.raises(RuntimeError, match=r"pip install 'finch-lsp\[llama\]'"):
        peer.LlamaCpp(Path("model.gguf"), 2)


def test_peer_report_gives_ratios_against_the_targets():
    f = peer.Side([0.1, 0.2], [0.5, 0.5], [20.0, 20.0], 128)
    l = peer.Side([0.1, 0.1], [0.4, 0.4], [40.0, 40.0], 130)
    text = peer.render_markdown({("finch", 128): f, ("llama.cpp", 128): l}, (128,), 2, "header")
    assert text.startswith(peer.SECTION_HEADING) and "| 128 / 130 | 150 ms | 100 ms | 500 ms | 400 ms | 1.25x | 20.0 | 40.0 | 0.50x |" in text


def test_keystroke_shares_and_report(tmp_path):
    r = keystroke.Keystrokes("m", 1500, 1500, [1.0, 1.2], [3, 5, 4], [0.05, 0.07, 0.06])
    assert r.token_share == pytest.approx(4 / 1500) and r.time_share == pytest.approx(0.06 / 1.1)
    machine = {"cpu": "cpu", "cores": "2", "gpu": "none"}
    section = keystroke.render_markdown(r, machine, "finch-lsp bench --keystroke")
    assert "meets the target" in section
    doc = tmp_path / "b.md"
    doc.write_text("# Benchmarks\n\n## Other\n\nkept\n")
    keystroke.replace_section(doc, section)
    keystroke.replace_section(doc, section.replace("4 |", "5 |"))  # a rerun replaces, never duplicates
    assert doc.read_text().count(keystroke.SECTION_HEADING) == 1 and "kept" in doc.read_text()


def test_keystroke_long_file_counts_window_moves():
    from tests.unit.test_prompt import _long_file, words

    text = _long_file()
    prefixes = [text + "result = finish(1)\n" * (n // 19) + "result = finish(1)\n"[: n % 19] for n in range(19 * 10)]
    assert keystroke.start_moves(prefixes, 200, words, windowed=True) < keystroke.start_moves(prefixes, 200, words, windowed=False)
    r = keystroke.Keystrokes("m", 1500, 1500, [1.0], [3, 1500, 4], [0.05, 1.0, 0.06], window_moves=1, line_cut_moves=9)
    section = keystroke.render_markdown(r, {"cpu": "cpu", "cores": "2", "gpu": "none"}, "finch-lsp bench --keystroke --long-file")
    assert section.startswith(keystroke.LONG_HEADING) and "moved 1 times" in section and "would have moved 9 times" in section


def test_beside_load_measures_every_probe_and_the_threads_the_server_reported():
    from finch_lsp.tools import beside_load

    class Client:
        def __init__(self) -> None:
            self.calls = 0

        def command(self, name: str) -> dict:
            assert name == "finch.status"
            self.calls += 1
            return {"engine": {"threads": 1 if self.calls % 2 else 2}}

    class FakeSession:
        def __init__(self) -> None:
            self.client, self.completed = Client(), []

        def complete(self, prompt: str) -> str:
            self.completed.append(prompt)
            return ""

    session = FakeSession()
    row = beside_load.measure(session, rounds=2)
    assert session.completed == beside_load.PROBES * 2
    assert row["n"] == 2 * len(beside_load.PROBES) and row["threads"] == [1, 2]
    assert 0 <= row["p50_ms"] <= row["p90_ms"]
