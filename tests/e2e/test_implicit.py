"""Implicit feedback through the real server on tiny-qwen2: kept, edited and typed-over suggestions."""

import pytest
from lsprotocol import types

from tests.e2e.lsp import command, end_of, inline, open_doc, replace_all, start, wait_ready
from tests.e2e.test_learning import store_lines, stop

SOURCE = "import os\n\ndef add(a, b):\n    return "
SETTINGS = {"model": "tiny-qwen2", "completion": {"maxNewTokens": 6}, "training": {"autoTrain": False, "settleSeconds": 0}}


async def shown_text(client, uri: str, text: str) -> tuple[str, str]:
    open_doc(client, uri, text)
    result = await inline(client, uri, *end_of(text))
    item = result.items[0]
    return item.command.arguments[0], item.insert_text


@pytest.fixture
async def server(tmp_path):
    client, _ = await start(tmp_path, SETTINGS)
    await wait_ready(client)
    yield client
    await stop(client)


async def test_kept_edited_and_typed_over_suggestions_become_implicit_examples(server, tmp_path):
    kept_id, kept_text = await shown_text(server, "file:///w/kept.py", SOURCE)
    await command(server, "finch.accept", kept_id)
    replace_all(server, "file:///w/kept.py", SOURCE + kept_text + "\n\nx = 1\n", 2)

    typed_id, typed_text = await shown_text(server, "file:///w/typed.py", SOURCE)
    instead = "a * b  # not " + typed_text.strip()
    replace_all(server, "file:///w/typed.py", SOURCE + instead + "\n", 2)
    await command(server, "finch.status")  # answered after the edits above were read

    lines = {line["suggestionId"]: line for line in store_lines(tmp_path)}
    kept, typed = lines[kept_id], lines[typed_id]
    assert (kept["rating"], kept["correctionSource"], kept["kept"]) == ("implicit", "kept", kept_text)
    assert kept["weight"] == 0.25 and kept.get("correction") is None
    assert (typed["rating"], typed["correctionSource"], typed["correction"], typed["rejected"]) == ("implicit", "typed", instead, typed_text)
    status = await command(server, "finch.status")
    assert status["buffer"]["examples"] == 2 and status["buffer"]["newSinceTraining"] == 0  # 2 x 0.25 counts as 0


async def test_a_rating_dominates_and_the_setting_turns_it_off(server, tmp_path):
    sid, text = await shown_text(server, "file:///w/rated.py", SOURCE)
    await command(server, "finch.accept", sid)
    await command(server, "finch.feedback.good")
    replace_all(server, "file:///w/rated.py", SOURCE + text + "\nx = 2\n", 2)
    await command(server, "finch.status")
    assert [line["rating"] for line in store_lines(tmp_path)] == ["good"]

    server.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"finch": {**SETTINGS, "training": {**SETTINGS["training"], "implicit": False}}}
    ))
    sid, text = await shown_text(server, "file:///w/off.py", SOURCE)
    replace_all(server, "file:///w/off.py", SOURCE + "zzz\n", 2)
    await command(server, "finch.status")
    assert [line["rating"] for line in store_lines(tmp_path)] == ["good"]
