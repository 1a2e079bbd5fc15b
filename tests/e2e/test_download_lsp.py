"""finch.models.list and finch.models.pull over stdio, against a hub on 127.0.0.1.

The server runs with ``tests/e2e/no_network`` on PYTHONPATH, so every connection it tries
beyond loopback is logged; the tests check that there were none.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from finch_lsp.models.catalog import HUB_MODELS, largest_fitting
from finch_lsp.models.machine import probe_machine
from tests.e2e.lsp import command, start, wait_ready
from tests.hub_server import HubRepo, HubServer, save_tiny_qwen2

NO_NETWORK = Path(__file__).parent / "no_network"
SMALL = "qwen2.5-coder-0.5b"


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> Path:
    return save_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture
def hub(tiny_files):
    """Every Qwen2.5-Coder repository, each holding tiny-qwen2."""
    with HubServer({model.repo: HubRepo.from_directory(tiny_files) for model in HUB_MODELS}) as server:
        yield server


def server_env(hub_url: str, tmp_path: Path) -> dict:
    socket_log = tmp_path / "sockets.log"
    socket_log.touch()
    return {
        **{k: "" for k in os.environ if k.startswith(("HF_", "TRANSFORMERS_"))},
        "HF_ENDPOINT": hub_url,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
        "FINCH_MODEL": "",
        "FINCH_SOCKET_LOG": str(socket_log),
        "PYTHONPATH": os.pathsep.join([str(NO_NETWORK), os.environ.get("PYTHONPATH", "")]),
    }


async def wait_until(condition, what: str, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)
    return found


def message_with(client, text: str):
    return next((m for m in client.messages if text in m.message), None)


def progress_titled(client, title: str) -> list:
    for reports in client.progress_reports.values():
        if reports and isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].title == title:
            return reports
    return []


async def test_pull_reports_progress_and_lists_the_model(hub, tmp_path, tiny_files):
    env = server_env(hub.url, tmp_path)
    client, _ = await start(tmp_path, {"model": "tiny-qwen2", "device": "cpu"}, env=env)
    try:
        await wait_ready(client)
        rows = await command(client, "finch.models.list")
        small = next(row for row in rows if row["name"] == SMALL)
        assert small == small | {"repo": "Qwen/Qwen2.5-Coder-0.5B", "present": False, "active": False, "autoPick": False}
        assert small["cpuMemoryBytes"] > small["gpuMemoryBytes"] > small["sizeBytes"] > 0
        assert next(row for row in rows if row["name"] == "tiny-qwen2")["active"] is True
        assert [row["name"] for row in rows if row["autoPick"]] == ["smollm2-135m"]

        assert await command(client, "finch.models.pull", SMALL) == {"started": True}
        done = await wait_until(lambda: message_with(client, f"downloaded {SMALL}"), "the end of the download")
        assert done.type == types.MessageType.Info
        reports = await wait_until(
            lambda: (r := progress_titled(client, f"finch: downloading {SMALL}")) and isinstance(r[-1], types.WorkDoneProgressEnd) and r,
            "the progress end",
        )
        middle = [r for r in reports if isinstance(r, types.WorkDoneProgressReport) and r.percentage is not None]
        total = sum(p.stat().st_size for p in tiny_files.iterdir())
        assert middle and middle[-1].percentage == 100
        assert [r.percentage for r in middle] == sorted(r.percentage for r in middle)
        assert f"/ {total / (1 << 20):.1f} MiB (" in middle[-1].message
        assert reports[-1].message.startswith("downloaded ")

        rows = await command(client, "finch.models.list")
        small = next(row for row in rows if row["name"] == SMALL)
        assert small["present"] is True and small["sizeBytes"] == total and small["autoPick"] is True
        again = await command(client, "finch.models.pull", SMALL)
        assert again["started"] is False and "already downloaded" in again["reason"]
        status = await command(client, "finch.status")
        assert status["model"]["name"] == "tiny-qwen2"  # the setting names tiny-qwen2: no switch
    finally:
        await client.shutdown_session()
        await client.stop()
    assert (tmp_path / "sockets.log").read_text() == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [(["smollm2-135m"], "'smollm2-135m' is not a model finch can download; send [name] with name one of qwen2.5-coder-0.5b"),
     ([], "finch.models.pull: "), ([1], "finch.models.pull: ")],
)
async def test_pull_with_a_bad_name_is_invalid_params(hub, tmp_path, args, says):
    client, _ = await start(tmp_path, {"model": "tiny-qwen2", "device": "cpu"}, env=server_env(hub.url, tmp_path))
    try:
        with pytest.raises(JsonRpcException) as raised:
            await command(client, "finch.models.pull", *args)
        assert raised.value.code == -32602 and says in raised.value.message
        assert not hub.requests
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_a_corrupted_download_is_announced_and_not_used(hub, tmp_path):
    hub.corrupt.add(("Qwen/Qwen2.5-Coder-0.5B", "model.safetensors"))
    client, _ = await start(tmp_path, {"model": "tiny-qwen2", "device": "cpu"}, env=server_env(hub.url, tmp_path))
    try:
        await wait_ready(client)
        assert await command(client, "finch.models.pull", SMALL) == {"started": True}
        failed = await wait_until(lambda: message_with(client, f"could not download {SMALL}"), "the failure message")
        assert failed.type == types.MessageType.Error and "does not match what the hub publishes" in failed.message
        rows = await command(client, "finch.models.list")
        assert next(row for row in rows if row["name"] == SMALL)["present"] is False
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest.mark.slow
async def test_model_download_fetches_what_auto_wants_and_switches_to_it(hub, tmp_path):
    wanted = largest_fitting(probe_machine("cpu")).name
    settings = {"model": "auto", "modelDownload": True, "device": "cpu"}
    client, _ = await start(tmp_path, settings, env=server_env(hub.url, tmp_path))
    try:
        meanwhile = await wait_until(lambda: message_with(client, f"downloading {wanted}"), "the message about the download")
        assert meanwhile.message.startswith("finch: using smollm2-135m: downloading ")
        assert "serving smollm2-135m until it is ready" in meanwhile.message
        await wait_until(lambda: message_with(client, f"downloaded {wanted}"), "the download", timeout=600)

        async def switched():
            status = await command(client, "finch.status")
            source = status["model"]["source"] or ""
            return status if status["model"]["state"] == "ready" and "Qwen/Qwen2.5-Coder" in source else None

        deadline = time.monotonic() + 600
        while (status := await switched()) is None:
            assert time.monotonic() < deadline, "the server never switched to the downloaded model"
            await asyncio.sleep(0.2)
        assert status["model"]["name"] == wanted
        assert message_with(client, f"using {wanted}: {wanted} is the largest downloaded Qwen2.5-Coder that fits")
    finally:
        await client.shutdown_session()
        await client.stop()
    assert (tmp_path / "sockets.log").read_text() == ""
