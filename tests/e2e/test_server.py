"""The server end to end on tiny-qwen2 (real Qwen2 architecture and tokenizer, random weights)."""

import asyncio
import subprocess
import sys
import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from finch_lsp.protocol import COMMANDS
from tests.e2e.lsp import RawClient, capabilities, command, end_of, inline, open_doc, replace_all, start, wait_ready

SOURCE = "import os\n\ndef add(a, b):\n    return "
EDITED = "import os\n\n\ndef add(a, b):\n    return "


@pytest.fixture
async def tiny(tmp_path):
    client, result = await start(tmp_path, {"model": "tiny-qwen2", "completion": {"maxNewTokens": 16}})
    client.init_result = result
    await wait_ready(client)
    yield client
    await client.shutdown_session()
    await client.stop()


async def test_capabilities_and_loading_progress(tiny):
    caps = tiny.init_result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None
    assert set(COMMANDS) <= set(caps.execute_command_provider.commands)
    assert caps.position_encoding == types.PositionEncodingKind.Utf16
    for _ in range(200):  # the end notification may trail the status that says ready
        reports = [r for reports in tiny.progress_reports.values() for r in reports]
        if any(isinstance(r, types.WorkDoneProgressEnd) for r in reports):
            break
        await asyncio.sleep(0.05)
    assert any(isinstance(r, types.WorkDoneProgressBegin) and "tiny-qwen2" in r.title for r in reports)
    assert any(isinstance(r, types.WorkDoneProgressEnd) for r in reports)
    status = await command(tiny, "finch.status")
    assert status["model"] == status["model"] | {"name": "tiny-qwen2", "device": "cpu", "state": "ready"}


async def test_inline_completion_carries_accept_command(tiny):
    uri = "file:///w/add.py"
    open_doc(tiny, uri, SOURCE)
    result = await inline(tiny, uri, *end_of(SOURCE))
    assert len(result.items) == 1
    item = result.items[0]
    assert item.insert_text.strip()
    assert item.command.command == "finch.accept" and isinstance(item.command.arguments[0], str)
    assert item.range.start == item.range.end == types.Position(*end_of(SOURCE))
    assert await command(tiny, "finch.accept", item.command.arguments[0]) is None
    status = await command(tiny, "finch.status")
    assert status["lastSuggestion"]["id"] == item.command.arguments[0] and status["lastSuggestion"]["accepted"]


async def test_accept_unknown_id_is_invalid_params(tiny):
    with pytest.raises(JsonRpcException) as err:
        await command(tiny, "finch.accept", "no-such-id")
    assert err.value.code == -32602 and "unknown suggestion" in err.value.message
    with pytest.raises(JsonRpcException) as err:
        await command(tiny, "finch.accept")
    assert err.value.code == -32602


async def test_completion_fallback_only_without_inline_support(tmp_path):
    client, _ = await start(tmp_path, {"model": "tiny-qwen2", "completion": {"maxNewTokens": 8}}, caps=capabilities("neovim@v0.11.0", inline=False))
    try:
        await wait_ready(client)
        uri = "file:///w/fallback.py"
        text = SOURCE
        open_doc(client, uri, text)
        result = await client.text_document_completion_async(
            types.CompletionParams(types.TextDocumentIdentifier(uri), types.Position(*end_of(text)))
        )
        item = result.items[0]
        assert item.data["suggestionId"] == item.command.arguments[0]
        assert item.text_edit.new_text.strip() and item.text_edit.range.end == types.Position(*end_of(text))
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_inline_client_gets_no_duplicate_menu_items(tiny):
    uri = "file:///w/dup.py"
    open_doc(tiny, uri, SOURCE)
    result = await tiny.text_document_completion_async(types.CompletionParams(types.TextDocumentIdentifier(uri), types.Position(*end_of(SOURCE))))
    assert list(result.items) == []


def test_cancel_stops_generation_within_a_step(tmp_path):
    raw = RawClient(tmp_path)
    try:
        raw.initialize({"model": "tiny-qwen2", "completion": {"maxNewTokens": 512, "multiline": "always"}})
        raw.wait_ready()
        raw.open("file:///w/long.py", SOURCE)
        raw.send(raw.inline_request(5, "file:///w/long.py", *end_of(SOURCE)))
        while raw.status()["engine"]["running"] != "file:///w/long.py":
            time.sleep(0.02)
        raw.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 5}})
        assert raw.response(5)["error"]["code"] == -32800  # RequestCancelled
        while (status := raw.status())["engine"]["running"] is not None:
            time.sleep(0.02)
        last = status["engine"]["recent"][-1]
        assert last["cancelled"] and last["tokens"] < 512
        assert len(raw.responses_to(5)) == 1
        raw.send(raw.inline_request(6, "file:///w/long.py", *end_of(SOURCE)))
        assert "result" in raw.response(6, timeout=120)  # the worker is free again
    finally:
        raw.close()


async def test_newer_request_supersedes_and_stale_edit_yields_empty(tmp_path):
    client, _ = await start(tmp_path, {"model": "tiny-qwen2", "completion": {"maxNewTokens": 256, "multiline": "always"}})
    try:
        await wait_ready(client)
        uri = "file:///w/stale.py"
        open_doc(client, uri, SOURCE)
        first = asyncio.ensure_future(inline(client, uri, *end_of(SOURCE)))
        while (await command(client, "finch.status"))["engine"]["running"] != uri:
            await asyncio.sleep(0.02)
        replace_all(client, uri, EDITED, version=2)
        stale = await first
        assert list(stale.items) == []  # never text computed for version 1
        second = asyncio.ensure_future(inline(client, uri, *end_of(EDITED)))
        third = asyncio.ensure_future(inline(client, uri, *end_of(EDITED)))
        r2, r3 = await asyncio.gather(second, third)
        assert list(r2.items) == [] and len(r3.items) == 1  # the newer request superseded the older
        recent = (await command(client, "finch.status"))["engine"]["recent"]
        assert any(g["cancelled"] for g in recent) or len(recent) >= 2
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest.mark.parametrize("encodings,expected", [(None, "utf-16"), (["utf-8", "utf-16"], "utf-8")])
async def test_positions_with_emoji_and_cjk(tmp_path, encodings, expected):
    client, result = await start(tmp_path, {"model": "tiny-qwen2", "completion": {"maxNewTokens": 4}}, caps=capabilities(encodings=encodings))
    try:
        assert result.capabilities.position_encoding == expected
        await wait_ready(client)
        uri = "file:///w/unicode.py"
        line = 'msg = "😋 名前" + na'
        open_doc(client, uri, "x = 1\n" + line + "me\n")
        units = len(line.encode("utf-16-le")) // 2 if expected == "utf-16" else len(line.encode("utf-8"))
        await inline(client, uri, 1, units)
        status = await command(client, "finch.status")
        if status["lastSuggestion"] is not None:
            assert status["lastSuggestion"]["prefixTail"].endswith(line)
        # one unit more lands inside 'me': the prefix must end one character later, not at a byte offset
        await inline(client, uri, 1, units + 1)
        status = await command(client, "finch.status")
        if status["lastSuggestion"] is not None:
            assert status["lastSuggestion"]["prefixTail"].endswith(line + "m")
    finally:
        await client.shutdown_session()
        await client.stop()


def test_exits_when_stdin_closes(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "finch_lsp"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def test_exits_when_editor_process_dies(tmp_path):
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    raw = RawClient(tmp_path)
    try:
        init = raw.request(1, "initialize", {"processId": editor.pid, "capabilities": {}, "initializationOptions": {"finch": {"model": "tiny-qwen2"}}})
        assert "result" in init
        editor.wait()
        assert raw.proc.wait(timeout=30) == 0  # stdin is still open: only the editor's death ends it
    finally:
        raw.close()


def test_requests_answer_empty_while_the_model_loads(tmp_path):
    raw = RawClient(tmp_path)
    try:
        raw.initialize({"model": "tiny-qwen2"})
        raw.open("file:///w/early.py", SOURCE)
        early = raw.request("early", **{k: v for k, v in raw.inline_request("early", "file:///w/early.py", *end_of(SOURCE)).items() if k in ("method", "params")})
        status = raw.status()
        assert early["result"] == {"items": []} or status["model"]["state"] == "ready"
        assert raw.wait_ready()["model"]["state"] == "ready"
    finally:
        raw.close()


async def test_bad_setting_is_reported_and_default_used(tiny):
    tiny.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"finch": {"completion": {"maxNewTokens": "lots"}, "training": {"threshold": 3}}})
    )
    for _ in range(100):
        if any("maxNewTokens" in m.message for m in tiny.messages):
            break
        await asyncio.sleep(0.05)
    (message,) = [m for m in tiny.messages if "maxNewTokens" in m.message]
    assert message.type == types.MessageType.Warning and "default 64" in message.message
    uri = "file:///w/still.py"
    open_doc(tiny, uri, SOURCE)
    assert len((await inline(tiny, uri, *end_of(SOURCE))).items) == 1  # still serving, with the default
