"""Code actions end to end over stdio: listing, resolving into WorkspaceEdits, suggestions.

tiny-qwen2 (random weights) checks the protocol's structure; smollm2-135m (a real instruct
model) checks that ``Finch: Document`` writes documentation and that the edit still parses.
"""

import ast

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from finch_lsp.documents.positions import offset_at
from finch_lsp.protocol import CODE_ACTION_TITLES
from tests.e2e.lsp import command, open_doc, replace_all, start, wait_ready

SOURCE = "import os\n\n\ndef scale(values, factor):\n    result = []\n    for v in values:\n        result.append(v * factor)\n    return result\n"
FUNCTION = SOURCE[SOURCE.index("def scale") : -1]
FUNCTION_RANGE = types.Range(types.Position(3, 0), types.Position(7, 17))

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tiny(tmp_path_factory):
    """One tiny-qwen2 server for the structural tests (each test opens its own document)."""
    client, result = await start(tmp_path_factory.mktemp("tiny"), {"model": "tiny-qwen2"})
    client.init_result = result
    await wait_ready(client)
    yield client
    await client.shutdown_session()
    await client.stop()


async def code_actions(client, uri: str, start: tuple[int, int], end: tuple[int, int] | None = None, only=None):
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri),
        range=types.Range(types.Position(*start), types.Position(*(end or start))),
        context=types.CodeActionContext(diagnostics=[], only=only),
    )
    return await client.text_document_code_action_async(params)


def apply(text: str, edit: types.WorkspaceEdit, uri: str) -> str:
    """``text`` with the single TextEdit of ``edit`` for ``uri`` applied."""
    (change,) = edit.document_changes
    assert change.text_document.uri == uri
    (text_edit,) = change.edits
    r = text_edit.range
    start = offset_at(text, r.start.line, r.start.character)
    end = offset_at(text, r.end.line, r.end.character)
    assert start is not None and end is not None and start <= end
    return text[:start] + text_edit.new_text + text[end:]


async def test_listing_is_cheap_and_carries_data(tiny):
    caps = tiny.init_result.capabilities.code_action_provider
    assert caps.resolve_provider is True
    assert set(caps.code_action_kinds) == {"quickfix", "refactor.rewrite", "refactor"}
    uri = "file:///w/scale.py"
    open_doc(tiny, uri, SOURCE)
    recent_before = (await command(tiny, "finch.status"))["engine"]["recent"]
    actions = await code_actions(tiny, uri, (5, 8))
    assert [a.title for a in actions] == list(CODE_ACTION_TITLES.values())
    assert [a.kind for a in actions] == ["quickfix", "refactor.rewrite", "refactor.rewrite", "refactor"]
    for action in actions:
        assert action.edit is None and action.command is None
        assert action.data["uri"] == uri and action.data["version"] == 1
        assert types.Range(**{k: types.Position(**v) for k, v in action.data["range"].items()}) == FUNCTION_RANGE
    assert (await command(tiny, "finch.status"))["engine"]["recent"] == recent_before  # no model call
    refactors = await code_actions(tiny, uri, (5, 8), only=["refactor"])
    assert [a.data["action"] for a in refactors] == ["document", "simplify", "test"]
    assert list(await code_actions(tiny, uri, (1, 0))) == []  # a blank line outside any function
    selected = await code_actions(tiny, uri, (4, 6), (5, 3))  # a selection widens to whole lines
    assert selected[0].data["range"] == {"start": {"line": 4, "character": 0}, "end": {"line": 5, "character": 20}}


async def test_resolve_returns_edit_and_suggestion(tiny):
    uri = "file:///w/resolve.py"
    open_doc(tiny, uri, SOURCE)
    document = (await code_actions(tiny, uri, (5, 8)))[1]
    resolved = await tiny.code_action_resolve_async(document)
    assert resolved.command is None and resolved.disabled is None
    (change,) = resolved.edit.document_changes
    assert change.text_document.uri == uri and change.text_document.version == 1
    (edit,) = change.edits
    assert edit.range == FUNCTION_RANGE and edit.new_text.startswith('def scale(values, factor):\n    """')
    assert edit.new_text.endswith(FUNCTION.split("\n", 1)[1])  # Document leaves the code as it was
    suggestion_id = resolved.data["suggestionId"]
    status = await command(tiny, "finch.status")
    assert status["lastSuggestion"]["id"] == suggestion_id and status["lastSuggestion"]["text"] == edit.new_text
    rated = await command(tiny, "finch.feedback", {"rating": "medium", "suggestionId": suggestion_id, "correction": FUNCTION})
    assert rated["recorded"] is True and rated["rating"] == "medium"


async def test_stale_document_and_bad_data(tiny):
    uri = "file:///w/stale.py"
    open_doc(tiny, uri, SOURCE)
    fix = (await code_actions(tiny, uri, (5, 8)))[0]
    replace_all(tiny, uri, "# edited\n" + SOURCE, version=2)
    resolved = await tiny.code_action_resolve_async(fix)
    assert resolved.edit is None and "changed" in resolved.disabled.reason
    with pytest.raises(JsonRpcException) as err:
        await tiny.code_action_resolve_async(types.CodeAction(title="Finch: Fix", data={"action": "fix"}))
    assert err.value.code == -32602 and "textDocument/codeAction" in err.value.message


async def test_model_not_ready_is_a_clear_error(tmp_path):
    client, _ = await start(tmp_path, {"model": str(tmp_path / "no-such-model")})
    try:
        uri = "file:///w/scale.py"
        open_doc(client, uri, SOURCE)
        fix = (await code_actions(client, uri, (5, 8)))[0]
        with pytest.raises(JsonRpcException) as err:
            await client.code_action_resolve_async(fix)
        assert err.value.code == -32803 and ("still loading" in err.value.message or "failed to load" in err.value.message)
        assert (await wait_ready(client))["model"]["state"] == "failed"
        with pytest.raises(JsonRpcException) as err:
            await client.code_action_resolve_async(fix)
        assert err.value.code == -32803 and "failed to load" in err.value.message and "finch.model" in err.value.message
    finally:
        await client.shutdown_session()
        await client.stop()


MEAN = "def mean(numbers):\n    return sum(numbers) / len(numbers)\n"


@pytest.mark.slow
async def test_document_and_write_test_with_a_real_model(tmp_path):
    client, _ = await start(tmp_path, {"model": "smollm2-135m"})
    try:
        assert (await wait_ready(client))["model"]["state"] == "ready"
        uri = "file:///w/stats.py"
        text = "import math\n\n\n" + MEAN
        open_doc(client, uri, text)
        _, document, _, write_test = await code_actions(client, uri, (4, 4))

        resolved = await client.code_action_resolve_async(document)
        assert resolved.command is None
        after = apply(text, resolved.edit, uri)
        assert after.startswith("import math\n\n\ndef mean(numbers):\n") and after.endswith(MEAN.split("\n", 1)[1])
        function = ast.parse(after).body[-1]
        assert isinstance(function, ast.FunctionDef) and function.name == "mean" and ast.get_docstring(function)
        status = await command(client, "finch.status")
        assert status["lastSuggestion"]["id"] == resolved.data["suggestionId"]

        resolved = await client.code_action_resolve_async(write_test)
        (edit,) = resolved.edit.document_changes[0].edits
        function_end = types.Position(4, len(MEAN.split("\n")[1]))
        assert edit.range.start == edit.range.end == function_end  # right after the function
        after = apply(text, resolved.edit, uri)
        test = ast.parse(after).body[-1]
        assert isinstance(test, ast.FunctionDef) and test.name.startswith("test_") and "mean(" in ast.unparse(test)
    finally:
        await client.shutdown_session()
        await client.stop()
