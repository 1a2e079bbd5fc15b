"""Code actions' pure parts: finding the target, prompts, cleaning replies, placing the result."""

import ast

import pytest

from finch_lsp.actions.listing import ActionData, model_problem, parse_data, wanted
from finch_lsp.actions.chat import build_prompt, forced_start, render_plain, reply_to_code, user_message
from finch_lsp.replies import clean_reply
from finch_lsp.actions.edit import fit_indentation, insertion_text, plan_change
from finch_lsp.actions.target import brace_function, find_target, mask_c_like, python_function, python_header, whole_lines
from pygls.exceptions import JsonRpcInvalidParams

from finch_lsp.completion.engine import ModelState

PY = '''import os


@decorator(
    arg=1)
def add(a, b):
    """Add.

unindented docstring line
    """
    total = (a +
b)
# a comment at column 0 does not end the function

    return total


class Box:
    size = 1

    def grow(self, by):
        self.size += by
        return self.size

    def one(self): return 1


def last(): pass
'''

ADD = PY[PY.index("@decorator") : PY.index("    return total") + len("    return total")]
GROW = PY[PY.index("    def grow") : PY.index("        return self.size") + len("        return self.size")]
BOX = PY[PY.index("class Box") : PY.index("def one(self): return 1") + len("def one(self): return 1")]


def at(text: str, needle: str, skip: int = 0) -> int:
    return text.index(needle) + skip


@pytest.mark.parametrize(
    "cursor, expected, top",
    [
        ("total = (a", ADD, True),
        ("b)\n", ADD, True),  # inside brackets, at column 0
        ("unindented", ADD, True),  # inside the docstring, at column 0
        ("# a comment", ADD, True),
        ("    return total", ADD, True),
        ("@decorator", ADD, True),
        ("arg=1", ADD, True),
        ("def add", ADD, True),
        ("self.size +=", GROW, False),
        ("    def grow", GROW, False),
        ("size = 1", BOX, True),
        ("return 1", "    def one(self): return 1", False),
        ("def last", "def last(): pass", True),
        ("import os", None, None),
    ],
)
def test_python_function(cursor, expected, top):
    target = python_function(PY, at(PY, cursor))
    if expected is None:
        assert target is None
        return
    assert PY[target.start : target.end] == expected
    assert target.top_level is top


def test_python_function_on_blank_line_between_functions_is_none():
    text = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    assert python_function(text, text.index("\n\n\n") + 2) is None
    assert python_function("", 0) is None


def test_python_function_with_crlf_line_endings():
    text = "def a():\r\n    return 1\r\n\r\nx = 2\r\n"
    target = python_function(text, text.index("return"))
    assert text[target.start : target.end] == "def a():\r\n    return 1"


def test_python_nested_function_after_inner_block_is_outer():
    text = "def outer():\n    def inner():\n        pass\n    x = 1\n"
    target = python_function(text, text.index("x = 1"))
    assert text[target.start : target.end] == text.rstrip("\n")
    inner = python_function(text, text.index("pass"))
    assert text[inner.start : inner.end] == "    def inner():\n        pass"


C = r'''#include <stdio.h>

/* not { a block */
static int add(int a, int b) {
    if (a > b) {
        return a; // "}"
    }
    char c = '}';
    return a + b;
}

int main(void)
{
    for (int i = 0; i < 3; i++) { printf("%d\n", add(i, 1)); }
    return 0;
}
'''
C_ADD = C[C.index("static") : C.index("return a + b;\n}") + len("return a + b;\n}")]
C_MAIN = C[C.index("int main") : C.rindex("}") + 1]
JS = "class A {\n  foo(x) {\n    return x;\n  }\n}\nconst f = (a) => {\n  return a;\n};\nif (ok) {\n  go();\n}\n"
GO = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hi {")\n}\n'
RS = "#[test]\nfn it<'a>(x: &'a str) -> Result<(), E> {\n    Ok(())\n}\n"


@pytest.mark.parametrize(
    "text, cursor, expected, top",
    [
        (C, "return a;", C_ADD, True),
        (C, "static", C_ADD, True),
        (C, "char c", C_ADD, True),
        (C, "printf", C_MAIN, True),  # the for loop's braces are no function
        (C, "{\n    for", C_MAIN, True),  # Allman braces
        (C, "#include", None, None),
        (C, "not { a block", None, None),
        (JS, "return x", "  foo(x) {\n    return x;\n  }", False),
        (JS, "return a", "const f = (a) => {\n  return a;\n};", True),
        (JS, "go()", None, None),
        (GO, "fmt.P", 'func main() {\n\tfmt.Println("hi {")\n}', True),
        ("x();\n  int f() {\n  return 1; } // end\n", "  int", "  int f() {\n  return 1; } // end", True),  # whole lines
        (RS, "Ok(", RS.rstrip("\n"), True),
    ],
)
def test_brace_function(text, cursor, expected, top):
    target = brace_function(text, at(text, cursor))
    if expected is None:
        assert target is None
        return
    assert text[target.start : target.end] == expected
    assert target.top_level is top


@pytest.mark.parametrize(
    "text, expected",
    [
        ('a = "x{y}"; b', "a = " + " " * 6 + "; b"),
        ("a // c {\nb", "a       \nb"),
        ("a /* {\n} */ b", "a     \n     b"),
        ("x = '}'", "x =    "),
        ("fn f<'a>(x: &'a T) {", "fn f<'a>(x: &'a T) {"),  # lifetimes are no literals
        ("#include <a.h>\nint", "              \nint"),
        ("`a\n{`", "  \n  "),
    ],
)
def test_mask_c_like(text, expected):
    assert mask_c_like(text) == expected


@pytest.mark.parametrize(
    "text, start, end, expected",
    [
        ("ab\ncd\nef\n", 1, 4, (0, 5)),  # partial lines widen to whole lines
        ("ab\ncd\nef\n", 0, 3, (0, 2)),  # an end at a line start stays on the line before
        ("ab\r\ncd\r\n", 0, 4, (0, 2)),
        ("ab", 1, 1, (0, 2)),
        ("ab\ncd", 3, 5, (3, 5)),
    ],
)
def test_whole_lines(text, start, end, expected):
    assert whole_lines(text, start, end) == expected


def test_find_target_selection_and_cursor():
    text = "def f():\n    x = 1\n    return x\n"
    sel = find_target(text, text.index("x = 1"), text.index("return") + 2, "python")
    assert text[sel.start : sel.end] == "    x = 1\n    return x" and not sel.top_level
    assert find_target(text, 0, 0, "python").end == len(text) - 1
    assert find_target("\n\n\n", 0, 2, "python") is None  # only blank lines selected
    assert find_target("int f() {\n  return 1;\n}\n", 12, 12, "c").start == 0
    assert find_target(text, 0, 0, None, "/w/a.py").start == 0  # language from the extension


@pytest.mark.parametrize(
    "reply, code",
    [
        ("def f():\n    return 1\n```\n\nThis function returns one.", "def f():\n    return 1"),
        ("def f():\n    return 1\n```", "def f():\n    return 1"),
        ("\n\ndef f():\n    return 1   \n\n", "def f():\n    return 1"),
        ("Here is the fixed code:\n```python\ndef f():\n    return 1\n```\nDone.", "def f():\n    return 1"),
        ("Sure!\n```js\nlet a = 1;\n", "let a = 1;"),  # the closing fence never came
        ("def f():\n    return 1\n\nThis code returns one.", "def f():\n    return 1"),
        ("def f():\n    # The code below is fine\n    return 1", "def f():\n    # The code below is fine\n    return 1"),
        ("```\nThe end", ""),  # the model closed the block at once
        ("\n```python\nx = 1\n```", "x = 1"),
        ("", ""),
    ],
)
def test_clean_reply(reply, code):
    assert clean_reply(reply) == code


SCALE = "def scale(values, factor):\n    result = []\n    for v in values:\n        result.append(v * factor)\n    return result"
SCALE_BODY = SCALE.split("\n", 1)[1]


@pytest.mark.parametrize(
    "action, reply, original, expected",
    [
        (  # Document keeps the code and takes only the new docstring
            "document",
            'def scale(values, factor):\n    """Scale each value.\n\n    Returns a list.\n    """\n    return [v * factor for v in values]\n```\nDone.',
            SCALE,
            'def scale(values, factor):\n    """Scale each value.\n\n    Returns a list.\n    """\n' + SCALE_BODY,
        ),
        (  # an old docstring is replaced, not doubled
            "document",
            'def f():\n    """New."""\n    return 1\n```',
            "def f():\n    \'\'\'Old,\n    two lines.\'\'\'\n    return 1",
            'def f():\n    """New."""\n    return 1',
        ),
        (  # a docstring never closed: the reply as it is
            "document",
            'def f():\n    """New',
            "def f():\n    return 1",
            'def f():\n    """New',
        ),
        ("simplify", "def f():\n    return 1\n```", "def f():\n    x = 1\n    return x", "def f():\n    return 1"),
        ("document", "/** Doc. */\nint f() { return 1; }\n```", "int f() { return 1; }", "/** Doc. */\nint f() { return 1; }"),
    ],
)
def test_reply_to_code(action, reply, original, expected):
    language = "c" if original.startswith("int") else "python"
    assert reply_to_code(action, reply, original, language) == expected


@pytest.mark.parametrize(
    "code, original, expected",
    [
        ("def m(self):\n    return 1", "    def m(self):\n        pass", "    def m(self):\n        return 1"),
        ("    def m(self):\n        return 1", "    def m(self):\n        pass", "    def m(self):\n        return 1"),
        ("x = 1\n\ny = 2", "\tx = 0", "\tx = 1\n\n\ty = 2"),
        ("  a\n  b", "a", "a\nb"),
    ],
)
def test_fit_indentation(code, original, expected):
    assert fit_indentation(code, original) == expected


@pytest.mark.parametrize(
    "before, after, blank_lines, expected",
    [
        ("def f():\n    pass", "\n\ndef g(): pass\n", 2, ("\n\n\n", "")),
        ("def f():\n    pass\n", "", 2, ("\n\n", "\n")),
        ("def f():\n    pass", "", 2, ("\n\n\n", "")),
        ("int f() {}\n\n\n", "", 1, ("", "\n")),
        ("", "", 2, ("", "")),
    ],
)
def test_insertion_text(before, after, blank_lines, expected):
    assert insertion_text(before, after, blank_lines) == expected


def test_plan_change_replaces_target_and_result_parses():
    text = "class A:\n    def m(self):\n        return 1\n\n    def n(self):\n        return 2\n"
    target = python_function(text, text.index("return 1"))
    change = plan_change(text, target, "document", 'def m(self):\n    """One."""\n    return 1', python=True)
    after = text[: change.start] + change.new_text + text[change.end :]
    assert 'def m(self):\n        """One."""\n        return 1\n\n    def n' in after
    ast.parse(after)


@pytest.mark.parametrize(
    "text, expected",
    [
        (  # after a top-level function
            "def f():\n    return 1\n\n\ndef g():\n    return 2\n",
            "def f():\n    return 1\n\n\ndef test_f():\n    assert f() == 1\n\n\ndef g():\n    return 2\n",
        ),
        (  # a method: at the end of the file, outside the class
            "class A:\n    def f(self):\n        return 1\n\n    x = 2\n",
            "class A:\n    def f(self):\n        return 1\n\n    x = 2\n\n\ndef test_f():\n    assert f() == 1\n",
        ),
    ],
)
def test_plan_change_inserts_test_after_top_level_function_else_at_end(text, expected):
    target = python_function(text, text.index("return 1"))
    change = plan_change(text, target, "test", "def test_f():\n    assert f() == 1", python=True)
    assert change.start == change.end and change.code == "def test_f():\n    assert f() == 1"
    assert text[: change.start] + change.new_text + text[change.end :] == expected
    ast.parse(expected)


def test_build_prompt_carries_instruction_path_language_and_code():
    prompt = build_prompt("document", "def f():\n    pass", "/w/m.py", "python")
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user", "assistant", "user"]  # one worked example for Python
    request = prompt.messages[-1]["content"]
    assert "documentation" in request and "/w/m.py (Python)" in request and "```python\ndef f():\n    pass\n```" in request
    assert prompt.fence == "```python\n" and prompt.forced == 'def f():\n    """'
    rust = build_prompt("test", "fn f() {}", None, "rust")
    assert [m["role"] for m in rust.messages] == ["system", "user"]
    assert "#[test]" in rust.messages[-1]["content"] and "Language: Rust" in rust.messages[-1]["content"]


@pytest.mark.parametrize(
    "code, expected",
    [
        ("def f(x):\n    return x", ("def f(x):\n", "    ")),
        ("@dec(\n  1)\nasync def f(a,\n      b) -> int:  # why\n\treturn a", ("@dec(\n  1)\nasync def f(a,\n      b) -> int:  # why\n", "\t")),
        ("    def m(self):\n\n        pass\n", ("    def m(self):\n", "        ")),
        ("class A:", ("class A:\n", "    ")),
        ("def f(): return 1", None),
        ("x = 1\ndef f():\n    pass", None),
    ],
)
def test_python_header(code, expected):
    assert python_header(code) == expected


@pytest.mark.parametrize(
    "action, code, language, expected",
    [
        ("document", "def f(x):\n    return x", "python", 'def f(x):\n    """'),
        ("document", "x = 1", "python", ""),
        ("test", "def f(x):\n    return x", "python", "def test_"),
        ("fix", "def f(x):\n    return x", "python", ""),
        ("document", "int f() { return 1; }", "c", ""),
    ],
)
def test_forced_start(action, code, language, expected):
    assert forced_start(action, code, language) == expected


def test_render_plain_ends_in_response_heading():
    messages = build_prompt("fix", "x = 1", "a.py", "python").messages
    text = render_plain(messages)
    assert text.count("### Instruction") == 2 and text.endswith("### Response\n")
    assert user_message("fix", "x = 1", "a.py", "python") in text


@pytest.mark.parametrize(
    "kind, only, expected",
    [
        ("refactor.rewrite", None, True),
        ("refactor.rewrite", ["refactor"], True),
        ("refactor", ["refactor.rewrite"], False),
        ("quickfix", ["refactor"], False),
        ("quickfix", ["quickfix", "source"], True),
        ("refactor.rewriteX", ["refactor.rewrite"], False),
    ],
)
def test_wanted(kind, only, expected):
    assert wanted(kind, only) is expected


def test_model_problem_messages():
    assert "still loading" in model_problem(ModelState.LOADING, "m", None)
    assert "failed to load (boom)" in model_problem(ModelState.FAILED, "m", "boom")
    assert model_problem(ModelState.READY, "m", None) is None


def test_parse_data():
    data = {"uri": "file:///a.py", "version": 3, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 2}}, "action": "fix"}
    parsed = parse_data(data)
    assert isinstance(parsed, ActionData) and parsed.range.end.character == 2 and parsed.suggestion_id is None
    for bad in (None, {**data, "action": "delete"}, {**data, "range": "0:0"}):
        with pytest.raises(JsonRpcInvalidParams):
            parse_data(bad)


@pytest.mark.parametrize(
    "reply,complete",
    [
        ("def f():\n    return 1\n", False),
        ("def f():\n    return 1\n```\n", True),  # the opened block was closed
        ("def f():\n    return 1\n```", False),  # the fence line is not finished yet
        ("Here it is:\n```python\ndef f():\n", False),  # a block of its own, still open
        ("Here it is:\n```python\ndef f():\n```\n", True),
    ],
)
def test_reply_complete(reply, complete):
    from finch_lsp.replies import reply_complete

    assert reply_complete(reply) is complete
