"""The embedded model through the server: obvious prefixes complete sensibly, with token healing."""

import pytest

from tests.e2e.lsp import end_of, inline, open_doc, start, wait_ready


@pytest.fixture(scope="module")
async def smol(tmp_path_factory):
    client, _ = await start(tmp_path_factory.mktemp("smol"), {"model": "smollm2-135m", "completion": {"maxNewTokens": 16}})
    status = await wait_ready(client, timeout=600)
    assert status["model"]["state"] == "ready", status
    yield client
    await client.shutdown_session()
    await client.stop()


@pytest.mark.parametrize(
    "text,expected",
    [
        ("def add(a, b):\n    return", " a + b"),
        # the cursor right after the space: token healing must give the same completion
        ("def add(a, b):\n    return ", "a + b"),
    ],
)
async def test_embedded_model_completes_add(smol, text, expected):
    uri = f"file:///w/add{len(text)}.py"
    open_doc(smol, uri, text)
    result = await inline(smol, uri, *end_of(text))
    assert [item.insert_text for item in result.items] == [expected]


async def test_an_empty_document_gets_no_suggestion_and_no_error(smol):
    open_doc(smol, "file:///w/empty.py", "")
    result = await inline(smol, "file:///w/empty.py", 0, 0)
    assert list(result.items) == []


async def test_auto_falls_back_to_the_embedded_model_with_a_message(tmp_path):
    empty_hub = tmp_path / "hub"
    empty_hub.mkdir()
    client, _ = await start(tmp_path, {"model": "auto"}, env={"HF_HUB_CACHE": str(empty_hub), "HF_HUB_OFFLINE": "1", "FINCH_MODEL": ""})
    try:
        status = await wait_ready(client, timeout=600)
        assert status["model"]["name"] == "smollm2-135m" and status["model"]["state"] == "ready"
        assert any("smollm2-135m" in m.message and "Qwen" in m.message for m in client.messages)
    finally:
        await client.shutdown_session()
        await client.stop()
