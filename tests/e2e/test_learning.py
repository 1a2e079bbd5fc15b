"""The learning loop through the real server on tiny-qwen2: feedback, store, training, adapters."""

import asyncio
import json
import os
import signal

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from finch_lsp.learning.child import serving_threads
from tests.e2e.lsp import command, end_of, inline, open_doc, start, wait_ready, wait_training

SOURCE = "import os\n\ndef add(a, b):\n    return "
FAST = {"model": "tiny-qwen2", "completion": {"maxNewTokens": 6}, "training": {"autoTrain": False, "gateTasks": 0}}  # the gate's HumanEval side is tested in tests/unit


async def stop(client):
    await client.shutdown_session()
    await client.stop()


@pytest.fixture
async def server(tmp_path):
    client, _ = await start(tmp_path, FAST)
    await wait_ready(client)
    yield client
    await stop(client)


def store_lines(data_dir) -> list[dict]:
    path = data_dir / "feedback" / "examples.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def suggest(client, uri="file:///w/a.py", text=SOURCE) -> str:
    open_doc(client, uri, text)
    result = await inline(client, uri, *end_of(text))
    return result.items[0].command.arguments[0]


async def invalid(client, name, *args) -> str:
    with pytest.raises(JsonRpcException) as err:
        await command(client, name, *args)
    assert err.value.code == -32602
    return err.value.message




async def test_feedback_results_and_errors(server, tmp_path):
    assert "no suggestion yet" in await invalid(server, "finch.feedback.critical", "too early")
    assert store_lines(tmp_path) == []  # nothing recorded
    sid = await suggest(server)
    assert "unknown suggestion id" in await invalid(server, "finch.feedback", {"rating": "good", "suggestionId": "nope"})
    assert "rating" in await invalid(server, "finch.feedback", {"rating": "terrible"})
    assert "at most one" in await invalid(server, "finch.feedback.good", "a", "b")
    pending = await command(server, "finch.feedback.critical", "wrong idea")
    assert pending | {"rating": "critical", "weight": 10, "pending": True, "recorded": True, "bufferSize": 0} == pending
    fixed = await command(server, "finch.feedback", {"rating": "medium", "correction": "a + b", "suggestionId": sid})
    assert (fixed["weight"], fixed["pending"], fixed["bufferSize"], fixed["weightedTotal"]) == (3, False, 1, 3)
    good = await command(server, "finch.feedback.good")
    assert (good["weight"], good["bufferSize"], good["weightedTotal"], good["trainingStarted"]) == (1, 2, 4, False)
    lines = store_lines(tmp_path)
    assert [(r["rating"], r["weight"], r["pending"]) for r in lines] == [("critical", 10, True), ("medium", 3, False), ("good", 1, False)]
    assert lines[0]["note"] == "wrong idea" and lines[0]["rejected"] and lines[1]["correction"] == "a + b"
    assert lines[0]["prefix"] == SOURCE and lines[0]["suggestionId"] == sid
    status = await command(server, "finch.status")
    assert status["buffer"] == status["buffer"] | {"examples": 2, "weighted": 4, "pending": 1}


async def test_users_edit_of_accepted_text_becomes_the_correction(server, tmp_path):
    uri = "file:///w/edit.py"
    sid = await suggest(server, uri)
    shown = (await command(server, "finch.status"))["lastSuggestion"]["text"]
    line, col = end_of(SOURCE)
    after = SOURCE + shown
    server.text_document_did_change(types.DidChangeTextDocumentParams(  # VS Code inserts, then runs the command
        text_document=types.VersionedTextDocumentIdentifier(version=2, uri=uri),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line, col), types.Position(line, col)), text=shown)],
    ))
    await command(server, "finch.accept", sid)
    end = types.Position(*end_of(after))
    server.text_document_did_change(types.DidChangeTextDocumentParams(  # the user rewrites what was inserted
        text_document=types.VersionedTextDocumentIdentifier(version=3, uri=uri),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(types.Position(line, col), end), text="a + b")],
    ))
    result = await command(server, "finch.feedback.critical", "should add")
    assert result["pending"] is False
    (record,) = store_lines(tmp_path)
    assert (record["correction"], record["correctionSource"], record["rejected"]) == ("a + b", "edit", shown)


async def test_pending_example_resolves_when_the_user_edits_later(server, tmp_path):
    uri = "file:///w/later.py"
    sid = await suggest(server, uri)
    shown = (await command(server, "finch.status"))["lastSuggestion"]["text"]
    await command(server, "finch.accept", sid)
    line, col = end_of(SOURCE)
    server.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(version=2, uri=uri),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(types.Position(line, col), types.Position(line, col)), text=shown)],
    ))
    assert (await command(server, "finch.feedback.critical"))["pending"] is True
    end = types.Position(*end_of(SOURCE + shown))
    server.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(version=3, uri=uri),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(types.Position(line, col), end), text="a - b")],
    ))
    status = await command(server, "finch.status")
    assert status["buffer"]["pending"] == 0 and status["buffer"]["examples"] == 1
    latest = store_lines(tmp_path)[-1]
    assert (latest["pending"], latest["correction"], latest["correctionSource"]) == (False, "a - b", "edit")


async def test_train_progress_adapters_and_swaps(server, tmp_path):
    assert "no trainable example" in (await command(server, "finch.train"))["reason"]
    await suggest(server)
    await command(server, "finch.feedback", {"rating": "critical", "correction": "a + b"})
    assert await command(server, "finch.train") == {"started": True}
    assert "already running" in (await command(server, "finch.train"))["reason"]
    status = await wait_training(server)
    assert status["training"]["state"] == "idle" and "lastError" not in status["training"]
    reports = [r for rs in server.progress_reports.values() for r in rs]
    assert any(isinstance(r, types.WorkDoneProgressBegin) and "training" in r.title for r in reports)
    assert any(isinstance(r, types.WorkDoneProgressReport) and r.message.startswith("epoch ") and "loss" in r.message for r in reports)
    (v1,) = await command(server, "finch.adapters.list")
    assert v1["version"] == 1 and v1["examples"] == 1 and v1["evaluation"]["total"] == 1
    adapter_dir = tmp_path / "adapters" / "tiny-qwen2" / "v0001"
    assert {"adapter_model.safetensors", "adapter_config.json", "meta.json"} <= {p.name for p in adapter_dir.iterdir()}
    # random weights cannot reproduce a correction: the gate keeps it and says why
    await asyncio.sleep(0.2)
    assert any("v0001" in m.message and "not activated" in m.message for m in server.messages)
    assert (await command(server, "finch.adapters.use", 1)) == {"active": 1, "adapters": 1}
    assert (await command(server, "finch.status"))["adapter"]["version"] == 1
    assert (await inline(server, "file:///w/a.py", *end_of(SOURCE))) is not None  # still completing
    await command(server, "finch.train")
    await wait_training(server)
    for version in (2, 1, 2):  # swapping back and forth never stacks adapters
        assert (await command(server, "finch.adapters.use", version)) == {"active": version, "adapters": 1}
    assert "is active" in await invalid(server, "finch.adapters.delete", 2)
    assert "no adapter v0009" in await invalid(server, "finch.adapters.use", 9)
    assert await command(server, "finch.adapters.delete", 1) == {"deleted": 1}
    assert (await command(server, "finch.adapters.rollback")) == {"active": None, "adapters": 0}  # no older good one: the base model
    assert (await command(server, "finch.adapters.use", 2))["active"] == 2


async def test_restart_loads_the_current_adapter(tmp_path):
    client, _ = await start(tmp_path, FAST)
    await wait_ready(client)
    await suggest(client)
    await command(client, "finch.feedback", {"rating": "critical", "correction": "a + b"})
    await command(client, "finch.train")
    await wait_training(client)
    await command(client, "finch.adapters.use", 1)
    await stop(client)
    again, _ = await start(tmp_path, FAST)
    try:
        status = await wait_ready(again)
        assert status["adapter"] | {"version": 1, "loaded": 1} == status["adapter"]
        assert status["buffer"]["examples"] == 1  # the acknowledged example survived the restart
    finally:
        await stop(again)


async def test_threshold_starts_training_by_itself(tmp_path):
    client, _ = await start(tmp_path, {**FAST, "training": {"autoTrain": True, "threshold": 2, "gateTasks": 0}})
    try:
        await wait_ready(client)
        await suggest(client)
        first = await command(client, "finch.feedback", {"rating": "critical", "correction": "a + b"})
        second = await command(client, "finch.feedback", {"rating": "good"})
        assert (first["trainingStarted"], second["trainingStarted"]) == (False, True)
        await wait_training(client)
    finally:
        await stop(client)


async def test_killed_trainer_leaves_the_server_serving(server):
    await suggest(server)
    idle_threads = (await command(server, "finch.status"))["engine"]["threads"]
    await command(server, "finch.feedback", {"rating": "critical", "correction": "a + b"})
    await command(server, "finch.train")
    while (pid := (await command(server, "finch.status"))["training"].get("pid")) is None:
        await asyncio.sleep(0.05)
    await suggest(server, "file:///w/b.py", "def sub(a, b):\n    return ")  # a model task, not the type-ahead
    assert (await command(server, "finch.status"))["engine"]["threads"] == serving_threads()  # the cores the trainer leaves
    os.kill(pid, signal.SIGKILL)
    status = await wait_training(server)
    assert status["training"]["state"] == "failed" and "exited" in status["training"]["lastError"]
    assert await suggest(server, "file:///w/c.py", "def mul(a, b):\n    return ") is not None
    assert (await command(server, "finch.status"))["engine"]["threads"] == idle_threads
    assert any("training failed" in m.message for m in server.messages)


async def test_one_trainer_across_two_instances(tmp_path):
    a, _ = await start(tmp_path, FAST)
    b, _ = await start(tmp_path, FAST)
    try:
        await wait_ready(a)
        await wait_ready(b)
        for client in (a, b):
            await suggest(client)
            await command(client, "finch.feedback", {"rating": "critical", "correction": "a + b"})
        assert (await command(a, "finch.train"))["started"]
        refused = await command(b, "finch.train")
        assert not refused["started"] and "another finch-lsp instance" in refused["reason"]
        await wait_training(a)
    finally:
        await stop(a)
        await stop(b)


async def test_a_rating_waiting_on_the_store_lock_does_not_stall_other_requests(server, tmp_path):
    from filelock import FileLock

    await suggest(server)
    lock = FileLock(str(tmp_path / "feedback" / "examples.lock"))
    with lock:  # another finch instance holds the store: the rating has to wait for it
        rating = asyncio.ensure_future(command(server, "finch.feedback.good"))
        again = await inline(server, "file:///w/a.py", *end_of(SOURCE))
        actions = await server.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///w/a.py"),
            range=types.Range(types.Position(2, 0), types.Position(2, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        ))
        assert again.items and any(a.title.startswith("Finch:") for a in actions)
        assert not rating.done()  # still waiting on the lock while the others were answered
    result = await rating
    assert result["recorded"] is True and store_lines(tmp_path)[-1]["rating"] == "good"
