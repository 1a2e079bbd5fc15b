""":FinchModels, :FinchPull NAME and :FinchModel in Neovim 0.11, against a stand-in server.

tests/e2e/fake_models_server.py answers finch.models.list / finch.models.pull by the contract
of docs/protocol.md (progress titled "finch: downloading NAME", then a window/showMessage);
tests/e2e/nvim_models.lua drives the commands and reports each named test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.e2e.test_nvim_ghost import lua_test_names, nvim, run_script  # noqa: F401 - nvim is a fixture

HERE = Path(__file__).parent
SCRIPT = HERE / "nvim_models.lua"
FAKE = HERE / "fake_models_server.py"


@pytest.fixture(scope="module")
def report(nvim, tmp_path_factory) -> dict:  # noqa: F811
    env = {"FINCH_FAKE_SERVER_CMD": json.dumps([sys.executable, str(FAKE)]), "FINCH_TEST_LIMIT_S": "100"}
    return run_script(nvim, SCRIPT, tmp_path_factory.mktemp("nvim-models"), env, timeout=120)


@pytest.mark.parametrize("name", lua_test_names(SCRIPT))
def test_model_commands(report, name):
    assert "(setup)" not in report["tests"] and "(limit)" not in report["tests"], report["tests"]
    assert report["tests"].get(name) == "ok", report["tests"].get(name, "did not run")
