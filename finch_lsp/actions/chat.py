"""Code-action prompts and replies: pure functions from code to chat and from reply to code.

A prompt is a chat: a system line, one worked example of the action (Python only: an
example in another language would mislead more than it helps), then the request: the
instruction, the file path and language, and the code in a fence. The assistant's turn is
opened with the fence, so the reply starts as code and ends when the model closes it;
``clean_reply`` keeps what lies between the fences and drops any chatter around them.

For Python the reply's first words are also given (``forced``): ``Document`` starts with
the function's own header and a docstring's opening quotes, ``Write test`` with ``def test_``.
Small models then write the documentation or the test asked for instead of drifting, and
``Document`` takes only that docstring, so the code it documents is left exactly as it was.
The prompt kept for training ends at the fence, so the example's target is the whole code.
"""

from __future__ import annotations

from dataclasses import dataclass

from finch_lsp.actions.target import python_header
from finch_lsp.replies import clean_reply

SYSTEM = "You are a careful {language} programmer. You answer with code only, in one fenced code block."

INSTRUCTIONS = {
    "fix": "Fix the bugs in this {language} code. Keep its names and everything that already works. Reply with the corrected code only.",
    "document": (
        "Add documentation to this {language} code: a docstring or doc comment that says what it does, "
        "its parameters and what it returns. Do not change the code itself. Reply with the documented code only."
    ),
    "simplify": "Simplify this {language} code: the same behaviour in fewer, clearer lines. Reply with the simplified code only.",
    "test": "Write a unit test for this {language} code{framework}. Reply with the test code only; do not repeat the code under test.",
}

LANGUAGES = {
    "python": "Python", "javascript": "JavaScript", "javascriptreact": "JavaScript", "typescript": "TypeScript",
    "typescriptreact": "TypeScript", "c": "C", "cpp": "C++", "csharp": "C#", "java": "Java", "go": "Go",
    "rust": "Rust", "kotlin": "Kotlin", "swift": "Swift", "php": "PHP", "ruby": "Ruby", "scala": "Scala", "dart": "Dart",
}
FENCE_TAGS = {"javascriptreact": "jsx", "typescriptreact": "tsx"}
TEST_FRAMEWORKS = {
    "python": " with pytest (plain assert statements)",
    "javascript": " with Jest",
    "typescript": " with Jest",
    "go": " with the testing package",
    "rust": " as a #[test] function",
    "java": " with JUnit 5",
}

_SQUARE = "def square(x):\n    return x * x"
EXAMPLES = {
    "fix": ("def is_even(n):\n    return n % 2 == 1", "def is_even(n):\n    return n % 2 == 0"),
    "document": (_SQUARE, 'def square(x):\n    """Return x multiplied by itself."""\n    return x * x'),
    "simplify": (
        "def is_positive(n):\n    if n > 0:\n        return True\n    else:\n        return False",
        "def is_positive(n):\n    return n > 0",
    ),
    "test": (_SQUARE, "def test_square():\n    assert square(3) == 9\n    assert square(-2) == 4"),
}

@dataclass(frozen=True)
class ActionPrompt:
    """What the model is asked: the chat messages and the text its reply starts with."""

    messages: list[dict[str, str]]
    fence: str
    """The opened code fence the reply starts after."""
    forced: str = ""
    """Code the reply is made to start with (it is part of the reply, not of the prompt)."""


def language_name(language: str | None) -> str:
    """A person's name for an LSP language id ("python" -> "Python")."""
    if not language:
        return "source"
    return LANGUAGES.get(language, language[:1].upper() + language[1:])


def fence_tag(language: str | None) -> str:
    """The tag after ``` for a language id."""
    return FENCE_TAGS.get(language or "", language or "")


def user_message(action: str, code: str, path: str | None, language: str | None) -> str:
    """The request: instruction, file and language, and the code in a fence."""
    instruction = INSTRUCTIONS[action].format(language=language_name(language), framework=TEST_FRAMEWORKS.get(language or "", ""))
    where = f"File: {path} ({language_name(language)})\n" if path else f"Language: {language_name(language)}\n"
    return f"{instruction}\n\n{where}```{fence_tag(language)}\n{code}\n```"


def build_prompt(action: str, code: str, path: str | None, language: str | None) -> ActionPrompt:
    """The chat for ``action`` on ``code``; a worked example first when the code is Python."""
    messages = [{"role": "system", "content": SYSTEM.format(language=language_name(language))}]
    if language == "python":
        before, after = EXAMPLES[action]
        messages.append({"role": "user", "content": user_message(action, before, "example.py", language)})
        messages.append({"role": "assistant", "content": f"```python\n{after}\n```"})
    messages.append({"role": "user", "content": user_message(action, code, path, language)})
    return ActionPrompt(messages, f"```{fence_tag(language)}\n", forced_start(action, code, language))


def forced_start(action: str, code: str, language: str | None) -> str:
    """The code a Python reply starts with: a documented header, or a test function's name."""
    if language != "python":
        return ""
    if action == "test":
        return "def test_"
    header = python_header(code) if action == "document" else None
    if header is None:
        return ""
    lines, indent = header
    return f'{lines}{indent}"""'


def render_plain(messages: list[dict[str, str]]) -> str:
    """An instruction-style prompt for models without a chat template."""
    parts = []
    for message in messages:
        heading = {"system": "### System", "user": "### Instruction", "assistant": "### Response"}[message["role"]]
        parts.append(f"{heading}\n{message['content']}\n\n")
    return "".join(parts) + "### Response\n"


def render_prompt(tokenizer, prompt: ActionPrompt, has_chat_template: bool) -> str:
    """The prompt: the chat in the model's template (or plain) and the opened fence."""
    if has_chat_template:
        chat = tokenizer.apply_chat_template(prompt.messages, add_generation_prompt=True, tokenize=False)
    else:
        chat = render_plain(prompt.messages)
    return chat + prompt.fence


def reply_to_code(action: str, reply: str, original: str, language: str | None) -> str:
    """The code a reply gives for ``action`` on ``original``: cleaned, and for Python's
    ``Document`` only the new docstring is taken, so the code itself stays as it was."""
    code = clean_reply(reply)
    if action == "document" and language == "python":
        return with_new_docstring(code, original) or code
    return code


def with_new_docstring(code: str, original: str) -> str | None:
    """``original`` with the docstring that opens ``code``'s body in place of its own, if any.

    None when ``code`` does not start with ``original``'s header and a closed docstring.
    """
    header = python_header(original)
    if header is None:
        return None
    head, indent = header
    opened = head + indent
    quote = code[len(opened) : len(opened) + 3]
    if not code.startswith(opened) or quote not in ('"""', "'''"):
        return None
    close = code.find(quote, len(opened) + 3)
    if close < 0:
        return None
    docstring = code[len(opened) : close + 3]
    body = _without_docstring(original.lstrip("\r\n")[len(head) :])
    return f"{opened}{docstring}\n{body}".rstrip()


def _without_docstring(body: str) -> str:
    """A function body without the docstring it opens with."""
    stripped = body.lstrip()
    quote = stripped[:3]
    if quote not in ('"""', "'''"):
        return body
    close = stripped.find(quote, 3)
    if close < 0:
        return body
    rest = stripped[close + 3 :]
    return rest.split("\n", 1)[1] if "\n" in rest else ""
