"""A hostile data dir over stdio on tiny-qwen2: bad files never take completions away, links are
never followed out of it, files are private, and the trainer child dies with its server."""

import json
import os
import shutil
import signal
import stat
import struct
import time

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.lsp import RawClient, command, end_of, inline, open_doc, start, wait_ready

SOURCE = "import os\n\ndef add(a, b):\n    return "
FAST = {"model": "tiny-qwen2", "completion": {"maxNewTokens": 4}, "training": {"autoTrain": False}}
URI = "file:///w/a.py"


@pytest.fixture(scope="module")
def real_adapter(tmp_path_factory):
    """A LoRA adapter PEFT saved for tiny-qwen2 (non-zero, so it changes the model)."""
    pytest.importorskip("torch")
    from tests.tiny_adapter import save_random_adapter

    path = save_random_adapter(tmp_path_factory.mktemp("real-adapter"), std=0.01)
    (path / "README.md").unlink(missing_ok=True)
    return path


def add_version(data_dir, source, version, config=None, meta=None, verdict=None) -> str:
    """Copy ``source`` in as v{version}; ``config`` entries replace adapter_config.json's."""
    target = data_dir / "adapters" / "tiny-qwen2" / f"v{version:04d}"
    shutil.copytree(source, target)
    if config:
        file = target / "adapter_config.json"
        file.write_text(json.dumps({**json.loads(file.read_text()), **config}))
    (target / "meta.json").write_text(meta if meta is not None else json.dumps({"examples": version, "losses": [0.5]}))
    (target / "verdict.json").write_text(verdict if verdict is not None else json.dumps({"activatable": True, "reason": "test"}))
    return target


POISON = {  # version -> (config changes, meta.json, verdict.json)
    2: ({"target_modules": "("}, None, None),
    3: ({"peft_type": "EVIL"}, None, None),
    4: ({"rank_pattern": {"q_proj": 4096}}, None, None),
    5: ({"lora_alpha": 1e30}, None, None),
    6: ({"use_dora": True}, None, None),
    7: ({"target_modules": "([a-z_.0-9]+)+X"}, None, None),
    8: (None, "[1, 2]", None),
    9: (None, None, "[true]"),
    10: (None, '{"startedAt": "yesterday", "examples": 1}', None),
}


def poison(data_dir, real_adapter, outside) -> None:
    add_version(data_dir, real_adapter, 1)
    for version, (config, meta, verdict) in POISON.items():
        add_version(data_dir, real_adapter, version, config, meta, verdict)
    bomb = add_version(data_dir, real_adapter, 11)
    with open(bomb / "adapter_model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", 90 * 1024 * 1024) + b"{" * 64)
    shutil.copytree(real_adapter, outside)
    (data_dir / "adapters" / "tiny-qwen2" / "v0012").symlink_to(outside, target_is_directory=True)


async def invalid(client, name, *args) -> str:
    with pytest.raises(JsonRpcException) as err:
        await command(client, name, *args)
    assert err.value.code == -32602
    return err.value.message


async def stop(client):
    await client.shutdown_session()
    await client.stop()


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


async def test_a_poisoned_data_dir_still_completes_with_the_last_good_adapter(tmp_path, real_adapter):
    data = tmp_path / "data"
    data.mkdir()
    poison(data, real_adapter, tmp_path / "outside")
    (data / "adapters" / "tiny-qwen2" / "current").write_text('{"version": "../../etc"}')
    for loose in (data, data / "adapters"):
        os.chmod(loose, 0o755)
    client, _ = await start(data, FAST)
    try:
        status = await wait_ready(client)
        assert status["model"]["state"] == "ready"
        assert status["adapter"] | {"version": 1, "loaded": 1} == status["adapter"]
        open_doc(client, URI, SOURCE)
        assert (await inline(client, URI, *end_of(SOURCE))).items
        said = " ".join(m.message for m in client.messages)
        assert "current pointer" in said and "Serving v0001, the previous good version" in said
        assert mode(data) == 0o700 and mode(data / "adapters") == 0o700  # a looser tree is tightened

        rows = {row["version"]: row for row in await command(client, "finch.adapters.list")}
        assert set(rows) == {1, *POISON, 11, 12} and rows[1]["active"] is True
        for version in (8, 9, 10, 12):
            assert rows[version]["verdict"].startswith("unreadable: ")
        for version, needle in [(2, "regular expression"), (3, "peft_type"), (4, "rank_pattern"), (5, "lora_alpha"), (6, "use_dora"),
                                (7, "regular expression"), (8, "meta.json"), (9, "verdict.json"), (10, "startedAt"),
                                (11, "header"), (12, "symbolic link")]:
            assert needle in await invalid(client, "finch.adapters.use", version), version
            status = await command(client, "finch.status")
            assert status["adapter"] | {"version": 1, "loaded": 1} == status["adapter"]  # status agrees; nothing leaked

        feedback = await command(client, "finch.feedback", {"rating": "good"})  # an odd meta.json never breaks feedback
        assert feedback["recorded"] is True
        assert (await command(client, "finch.adapters.use", None)) == {"active": None, "adapters": 0}
        assert (await command(client, "finch.adapters.rollback")) == {"active": 1, "adapters": 1}  # the good one, not a poisoned one
        assert os.listdir(tmp_path / "outside") == os.listdir(real_adapter)  # nothing written through the link
    finally:
        await stop(client)


async def test_a_refused_current_adapter_falls_back_to_the_previous_good_one(tmp_path, real_adapter):
    add_version(tmp_path, real_adapter, 1)
    add_version(tmp_path, real_adapter, 2)
    add_version(tmp_path, real_adapter, 3, {"lora_alpha": 1e30})
    (tmp_path / "adapters" / "tiny-qwen2" / "current").write_text('{"version": 3}')
    client, _ = await start(tmp_path, FAST)
    try:
        status = await wait_ready(client)
        assert status["adapter"] | {"version": 2, "loaded": 1} == status["adapter"]
        message = next(m.message for m in client.messages if "v0003 was refused" in m.message)
        assert "lora_alpha" in message and "Serving v0002, the previous good version" in message
        open_doc(client, URI, SOURCE)
        assert (await inline(client, URI, *end_of(SOURCE))).items
    finally:
        await stop(client)


async def test_a_symlinked_store_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "elsewhere.jsonl"
    target.write_text("not finch's\n")
    os.chmod(target, 0o644)
    data = tmp_path / "data"
    (data / "feedback").mkdir(parents=True)
    (data / "feedback" / "examples.jsonl").symlink_to(target)
    client, _ = await start(data, FAST)
    try:
        await wait_ready(client)
        open_doc(client, URI, SOURCE)
        assert (await inline(client, URI, *end_of(SOURCE))).items  # still completing
        assert "symbolic link" in await invalid(client, "finch.feedback", {"rating": "good"})
        assert any("feedback is not recorded" in m.message and "symbolic link" in m.message for m in client.messages)
        assert target.read_text() == "not finch's\n" and mode(target) == 0o644
    finally:
        await stop(client)


async def test_a_failed_model_switch_keeps_the_working_model(tmp_path):
    import torch

    client, _ = await start(tmp_path, FAST)
    try:
        await wait_ready(client)
        open_doc(client, URI, SOURCE)
        bad = [{"model": str(tmp_path / "no-such-model")}, {"model": "not-a-model-name-anywhere"}]
        if not torch.cuda.is_available():
            bad.append({"device": "cuda"})
        for settings in bad:
            client.workspace_did_change_configuration(_settings(settings))
            status = await wait_ready(client)
            assert (status["model"]["name"], status["model"]["state"]) == ("tiny-qwen2", "ready"), settings
            assert (await inline(client, URI, *end_of(SOURCE))).items
        assert sum("still using tiny-qwen2" in m.message for m in client.messages) == len(bad)
    finally:
        await stop(client)


def _settings(finch: dict):
    from lsprotocol import types

    return types.DidChangeConfigurationParams(settings={"finch": {**FAST, **finch}})


# -- the trainer child and its leftovers ------------------------------------------------------
def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def start_training(raw: RawClient) -> int:
    raw.open(URI, SOURCE)
    assert raw.request("c", "textDocument/inlineCompletion", RawClient.inline_request("c", URI, *end_of(SOURCE))["params"])["result"]["items"]
    rate = {"command": "finch.feedback", "arguments": [{"rating": "critical", "correction": "a + b"}]}
    assert raw.request("f", "workspace/executeCommand", rate)["result"]["recorded"]
    assert raw.request("t", "workspace/executeCommand", {"command": "finch.train"})["result"] == {"started": True}
    deadline = time.monotonic() + 120
    while (pid := raw.status()["training"].get("pid")) is None:
        assert time.monotonic() < deadline, "the trainer did not start"
        time.sleep(0.05)
    return pid


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_trainer_dies_with_its_server_and_its_staging_dir_is_cleaned(tmp_path, how):
    log_file = tmp_path / "server.log"
    raw = RawClient(tmp_path, "--log-file", str(log_file))
    try:
        raw.initialize(FAST)
        raw.wait_ready()
        child = start_training(raw)
        assert mode(log_file) == 0o600
        for private in ("adapters", "jobs", "adapters/tiny-qwen2"):
            assert mode(tmp_path / private) == 0o700, private
        for private in ("trainer.log", "training.lock", "feedback/examples.jsonl"):
            assert mode(tmp_path / private) == 0o600, private
        staging = list((tmp_path / "adapters" / "tiny-qwen2").glob(".staging-*"))
        assert staging
        os.kill(raw.proc.pid, how)
        raw.proc.wait(timeout=60)
        wait_for(lambda: gone(child), 60, f"the trainer {child} outlived its server")
    finally:
        raw.close()
    assert all(p.exists() for p in staging)  # left behind by the killed trainer
    again = RawClient(tmp_path)
    try:  # a model that cannot load: the staging dir is cleaned all the same
        again.initialize({**FAST, "model": str(tmp_path / "no-such-model")})
        assert again.wait_ready()["model"]["state"] == "failed"
        assert not any(p.exists() for p in staging)
    finally:
        again.close()


def test_the_trainer_exits_at_once_when_its_server_is_already_gone(tmp_path):
    import subprocess
    import sys

    job = tmp_path / "job.json"
    job.write_text("{}")
    env = {**os.environ, "FINCH_PARENT_PID": "1"}  # not our parent: the server is gone already
    done = subprocess.run([sys.executable, "-m", "finch_lsp.learning.training.worker", str(job)], env=env, capture_output=True, timeout=120)
    assert done.returncode == 3 and done.stdout == b""


async def test_an_infinite_weight_falls_back_and_the_rating_reads_back_after_a_restart(tmp_path):
    settings = {**FAST, "training": {"autoTrain": False, "weights": {"critical": "Infinity"}}}
    client, _ = await start(tmp_path, settings)
    try:
        await wait_ready(client)
        assert any("finch.training.weights.critical" in m.message and "default 10.0" in m.message for m in client.messages)
        open_doc(client, URI, SOURCE)
        await inline(client, URI, *end_of(SOURCE))
        result = await command(client, "finch.feedback", {"rating": "critical", "correction": "a + b"})
        assert result["weight"] == 10 and result["weightedTotal"] == 10
    finally:
        await stop(client)
    (line,) = (tmp_path / "feedback" / "examples.jsonl").read_text().splitlines()
    assert json.loads(line)["weight"] == 10
    again, _ = await start(tmp_path, settings)
    try:
        status = await wait_ready(again)
        assert status["buffer"] | {"examples": 1, "weighted": 10} == status["buffer"]  # the acknowledged rating is back
    finally:
        await stop(again)
