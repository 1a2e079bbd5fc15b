"""The gate refuses an adapter that breaks the general prompts: kept, not active, the check named."""

import asyncio
import time

from lsprotocol import types

from tests.e2e.lsp import command, end_of, inline, open_doc, start, wait_ready, wait_training

SOURCE = "def add(a, b):\n    return "
# a learning rate a thousand times the default: the adapter memorises its example and wrecks the
# rest; decoded plainly (decodeMinShift 0), so the wreck shows in the general prompts
WRECKING = {"autoTrain": False, "learningRate": 0.9, "epochs": 1, "gateTasks": 0}
BREAKING = {"model": "tiny-qwen2", "completion": {"maxNewTokens": 6}, "training": {**WRECKING, "decodeMinShift": 0}}


async def train_one(tmp_path, settings) -> dict:
    """A client on ``settings`` that rated one suggestion and trained; (client, the adapter)."""
    client, _ = await start(tmp_path, settings)
    try:
        await wait_ready(client)
        open_doc(client, "file:///w/a.py", SOURCE)
        assert (await inline(client, "file:///w/a.py", *end_of(SOURCE))).items
        await command(client, "finch.feedback", {"rating": "critical", "correction": "a + b"})
        assert await command(client, "finch.train") == {"started": True}
        status = await wait_training(client)
        assert status["training"]["state"] == "idle", status["training"]
        (adapter,) = await command(client, "finch.adapters.list")
    except BaseException:
        await client.shutdown_session()
        await client.stop()
        raise
    return client, adapter


async def test_an_adapter_that_breaks_general_prompts_is_kept_but_not_activated(tmp_path):
    client, adapter = await train_one(tmp_path, BREAKING)
    try:
        evaluation = adapter["evaluation"]
        assert adapter["version"] == 1 and adapter["active"] is False
        assert not evaluation["passed"] and "general prompts" in evaluation["failed_checks"], evaluation
        assert evaluation["general_kept"] < 30 and evaluation["general_total"] == 40
        assert "general prompts:" in adapter["verdict"] and "30 needed" in adapter["verdict"]
        assert (await command(client, "finch.status"))["adapter"]["version"] is None
        deadline = time.monotonic() + 120  # the verdict's message follows the end of training
        while not any("v0001" in m.message and "not activated" in m.message for m in client.messages):
            assert time.monotonic() < deadline, client.messages
            await asyncio.sleep(0.1)
        (message,) = [m for m in client.messages if "v0001" in m.message]
        assert message.type == types.MessageType.Warning and "general prompts:" in message.message
        reports = [r for rs in client.progress_reports.values() for r in rs if isinstance(r, types.WorkDoneProgressReport)]
        assert any(r.message.startswith("gate: ") for r in reports), [r.message for r in reports]
        assert (tmp_path / "gate").is_dir()  # the base model's figures, cached for the next training
    finally:
        await client.shutdown_session()
        await client.stop()

