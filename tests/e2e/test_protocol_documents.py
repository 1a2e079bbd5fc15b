"""Documents stay equal to the editor's copy under any edit, and positions are clamped as the spec says.

The server's copy is read back through the last suggestion's prefix (``finch.status``):
``minNewTokens`` makes tiny-qwen2 always produce one.
"""

import pytest

from tests.e2e.raw import RawServer, inline_params, position_params, range_of

EMOJI = "\U0001F600"
SETTINGS = {"model": "tiny-qwen2", "completion": {"maxNewTokens": 3, "minNewTokens": 3, "multiline": "never"}}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    server = RawServer(tmp_path_factory.mktemp("docs"))
    server.initialize(SETTINGS)
    server.wait_ready()
    yield server
    assert server.bad_output == []
    server.close()


def prefix_at(raw: RawServer, uri: str, line: int, character: int, method: str = "textDocument/inlineCompletion") -> str:
    """The server's text before the position, as the completion there saw it."""
    params = inline_params(uri, line, character) if method.endswith("inlineCompletion") else position_params(uri, line, character)
    reply = raw.request(method, params)
    assert "result" in reply, reply
    last = raw.status()["lastSuggestion"]
    assert last is not None, "no suggestion was made: minNewTokens should force one"
    return last["prefixTail"]


def edit(a, b, c, d, text: str) -> dict:
    return {"range": range_of(a, b, c, d), "text": text}


@pytest.mark.parametrize(
    "name,start,changes,expected",
    [
        ("reversed", "abc = 1", [edit(0, 3, 0, 0, "xyz")], "xyz = 1"),
        ("past-crlf-end", "a = 1\r\nb = 2", [edit(0, 5, 0, 99, "0")], "a = 10\r\nb = 2"),
        ("crlf-insert-past-end", "a = 1\r\nb = 2", [edit(0, 99, 0, 99, "9")], "a = 19\r\nb = 2"),
        ("lines-past-end", "a = 1\n", [edit(9, 0, 9, 0, "b = 2")], "a = 1\nb = 2"),
        ("emoji-halves", "s = ''", [edit(0, 5, 0, 5, "\ud83d"), edit(0, 6, 0, 6, "\ude00")], f"s = '{EMOJI}'"),
        ("half-deleted", f"s = '{EMOJI}'", [edit(0, 6, 0, 7, "")], "s = '\ufffd'"),  # a lone half: U+FFFD for the model
    ],
)
def test_document_equals_the_editors_copy(raw, name, start, changes, expected):
    uri = f"file:///w/{name}.py"
    raw.open(uri, start)
    raw.change(uri, 2, *changes)
    lines = expected.replace("\r\n", "\n").split("\n")
    units = len(lines[-1].encode("utf-16-le")) // 2
    assert prefix_at(raw, uri, len(lines) - 1, units) == expected


def test_a_lone_surrogate_never_breaks_completions(raw):
    uri = "file:///w/lone.py"
    raw.open(uri, "x = '\ud83d'\ny = ")
    for _ in range(2):
        assert prefix_at(raw, uri, 1, 4) == "x = '\ufffd'\ny = "


@pytest.mark.parametrize("method", ["textDocument/inlineCompletion", "textDocument/completion"])
def test_a_character_past_the_line_end_is_the_line_end(raw, method):
    uri = f"file:///w/clamp-{method.rsplit('/', 1)[1]}.py"
    raw.open(uri, "def f(x):\r\n    return x\n")
    assert prefix_at(raw, uri, 0, 500, method) == "def f(x):"
    assert prefix_at(raw, uri, 1, 10_000, method) == "def f(x):\r\n    return x"


def test_code_action_range_past_the_line_end_lists_the_actions_and_resolves(raw):
    uri = "file:///w/actions.py"
    raw.open(uri, "def add(a, b):\n    return a + b\n")
    reply = raw.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": range_of(0, 0, 1, 500), "context": {"diagnostics": []}})
    titles = [a["title"] for a in reply["result"]]
    assert "Finch: Fix" in titles, reply
    fix = next(a for a in reply["result"] if a["title"] == "Finch: Fix")
    fix["data"]["range"] = range_of(0, 0, 1, 9999)  # a client may send any range back
    resolved = raw.request("codeAction/resolve", fix, timeout=180)
    assert "result" in resolved, resolved
