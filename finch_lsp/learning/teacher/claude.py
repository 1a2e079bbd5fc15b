"""The optional Claude teacher: corrections for rejected suggestions, reviews of sampled ones.

Off by default. It is on only when ``teacher.enabled`` is set, ``ANTHROPIC_API_KEY`` is in
the environment and the workspace is trusted; until then the anthropic SDK is not even
imported, so nothing can open a socket. ``ANTHROPIC_BASE_URL`` is honoured as the SDK
honours it (tests and proxies point the teacher elsewhere with it).

Every request carries the full context of the suggestion: file path and language, the
code before and after the cursor (trimmed to a budget, nearest the cursor kept, the
cursor marked), the suggestion and the user's rating and note. The teacher answers with
code only; the answer is cleaned of fences and chatter before it becomes a correction.

Nothing here raises to the caller or blocks the event loop: the SDK import and client
construction run in a worker thread, requests are asyncio, failures (time-outs, 429s,
HTTP errors) are logged without the key, counted in ``status`` and answered with None.

The server owns one ``Teacher`` (``update`` it on every settings change and with the
workspace's trust) and calls it from background tasks on its event loop, never on a
completion's path: ``correction`` for a critical or medium rating that has no correction
(the answer resolves the pending example), ``review`` for the suggestions ``should_sample``
picks (a non-None answer becomes a medium-weight example), ``aclose`` at shutdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import traceback
from typing import Any, Mapping

import msgspec

from finch_lsp.config import TeacherConfig
from finch_lsp.replies import clean_reply

log = logging.getLogger(__name__)

KEY_VARIABLE = "ANTHROPIC_API_KEY"
BASE_URL_VARIABLE = "ANTHROPIC_BASE_URL"
TIMEOUT_S = 20.0
MAX_RETRIES = 1
MAX_TOKENS = 1024
MAX_IN_FLIGHT = 4
PREFIX_BUDGET = 6000  # characters of code before the cursor sent to the teacher
SUFFIX_BUDGET = 2000  # characters after it
CURSOR = "<CURSOR>"
MULTIPLIERS = {"security": 5.0, "architecture": 3.0, "general": 1.0}

CORRECTION_SYSTEM = f"""\
You correct a code-completion model. You are shown a source file with the cursor marked \
{CURSOR}, the suggestion the model made there, and the user's rating and note on it: the \
user rejected that suggestion. Write the code that should be inserted at {CURSOR} instead.
Answer with only that code, exactly as it should be inserted: no explanation, no Markdown \
fences, and do not repeat the code before or after the cursor."""

REVIEW_SYSTEM = f"""\
You review a code-completion model. You are shown a source file with the cursor marked \
{CURSOR} and the suggestion the model made there. Decide whether the suggestion is right.
Answer with only a JSON object, no other text:
{{"verdict": "agree"}} when it is correct and fits the code, or
{{"verdict": "disagree", "reason": "<one sentence>", "correction": "<the code to insert at \
{CURSOR} instead>"}} only when it is clearly wrong: a bug, a security flaw, or code that \
does not fit. A matter of taste or style is not a disagreement."""

SECURITY_WORDS = frozenset(
    "subprocess popen eval exec pickle unpickle marshal shelve password passwords passwd passphrase "
    "secret secrets token tokens credential credentials apikey auth oauth authenticate authentication "
    "authorize authorization authz authn login logout jwt csrf xss crypto "
    "cryptography cipher encrypt decrypt hashlib hmac bcrypt scrypt argon ssl tls certificate "
    "sanitize injection permission permissions privilege chmod setuid sudo deserialize unsafe".split()
)
SECURITY_PATTERNS = re.compile(
    r"\bos\.(?:system|popen|exec\w*|spawn\w*)\b|\byaml\.(?:unsafe_)?load\b|shell\s*=\s*True|"
    r"\b(?:eval|exec)\s*\(|\.execute(?:many|script)?\s*\(|api[_-]?key|private[_-]?key|innerHTML|"
    r"\bmd5\b|\bsha1\b|verify\s*=\s*False|"
    r"[\"'`]\s*(?:SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|DROP\s+TABLE)\b",
    re.IGNORECASE,
)
ARCHITECTURE_WORDS = frozenset(
    "abc abstract abstractmethod protocol interface interfaces inject injector injectable dependency "
    "dependencies container provider factory registry singleton adapter facade strategy observer "
    "repository middleware plugin metaclass".split()
)
ARCHITECTURE_PATTERNS = re.compile(
    r"^\s*(?:export\s+)?(?:(?:public|abstract|sealed|data|final)\s+)*"
    r"(?:class|interface|trait|protocol|struct|enum)\s+\w+|"
    r"^\s*type\s+\w+\s+(?:struct|interface)\b|^\s*impl\b|@(?:Inject|Component|Service|Module)\b|\bDepends\(",
    re.MULTILINE,
)
IDENTIFIER_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


class TeacherContext(msgspec.Struct, rename="camel"):
    """Everything the teacher sees about one suggestion (the server passes what it has)."""

    path: str | None
    language: str | None
    prefix: str  # the text before the cursor, as much as the server has
    suffix: str  # the text after it
    suggestion: str  # what the model suggested at the cursor
    note: str | None = None  # the user's note with the rating
    rating: str | None = None  # "critical" | "medium" | "good", None when sampled
    kind: str = "completion"  # or "action:fix", "action:document", ...


class Teacher:
    """The Claude teacher: opt-in, lazy, failure-tolerant; see the module docstring."""

    def __init__(self, config: TeacherConfig, *, trusted: bool = True, env: Mapping[str, str] = os.environ,
                 rng: random.Random | None = None, timeout: float = TIMEOUT_S, max_retries: int = MAX_RETRIES) -> None:
        self.config, self.trusted, self.env, self.rng = config, trusted, env, rng or random.Random()
        self.timeout, self.max_retries = timeout, max_retries
        self.requests = self.errors = self.disagreements = 0
        self.last_error: str | None = None
        self._client: Any = None  # anthropic.AsyncAnthropic, made on first use
        self._client_key: str | None = None
        self._client_lock: asyncio.Lock | None = None
        self._in_flight = 0

    # -- state ------------------------------------------------------------------------------
    def update(self, config: TeacherConfig, *, trusted: bool | None = None) -> None:
        """New settings (and trust, when given); a client no longer wanted is closed."""
        self.config = config
        if trusted is not None:
            self.trusted = trusted
        if not self.enabled:
            self._retire_client()

    @property
    def enabled(self) -> bool:
        """True when switched on, given a key, and in a trusted workspace."""
        return self.reason is None

    @property
    def reason(self) -> str | None:
        """Why the teacher is off (None when it is on): a sentence the user can act on."""
        if not self.config.enabled:
            return "teacher.enabled is false"
        if not self.env.get(KEY_VARIABLE):
            return f"{KEY_VARIABLE} is not set in the server's environment"
        if not self.trusted:
            return "the workspace is not trusted"
        return None

    @property
    def status(self) -> dict[str, Any]:
        """What ``finch.status`` shows of the teacher; never the key."""
        return {"enabled": self.enabled, "reason": self.reason, "model": self.config.model, "requests": self.requests,
                "errors": self.errors, "disagreements": self.disagreements, "lastError": self.last_error}

    # -- sampling ---------------------------------------------------------------------------
    def category(self, ctx: TeacherContext) -> str:
        """The suggestion's category ("security", "architecture", "general"), from the code near it."""
        window = _nearby(ctx)
        words = {w.lower() for w in IDENTIFIER_WORDS.findall(window)}
        if words & SECURITY_WORDS or SECURITY_PATTERNS.search(window):
            return "security"
        if words & ARCHITECTURE_WORDS or ARCHITECTURE_PATTERNS.search(window):
            return "architecture"
        return "general"

    def sample_probability(self, ctx: TeacherContext) -> float:
        """``sampleRate`` times the category's multiplier, capped at 1 (0 when off)."""
        if not self.enabled:
            return 0.0
        return min(1.0, self.config.sample_rate * MULTIPLIERS[self.category(ctx)])

    def should_sample(self, ctx: TeacherContext) -> bool:
        """Whether this shown or accepted suggestion goes to the teacher for review."""
        probability = self.sample_probability(ctx)
        return probability > 0 and self.rng.random() < probability

    # -- requests ---------------------------------------------------------------------------
    async def correction(self, ctx: TeacherContext) -> str | None:
        """The code the teacher would insert at the cursor instead, or None (off or failed)."""
        if not self.enabled:
            return None
        answer = await self._ask(CORRECTION_SYSTEM, render_request(ctx, review=False))
        code = clean_code(answer, ctx) if answer is not None else None
        return code or None

    async def review(self, ctx: TeacherContext) -> str | None:
        """The teacher's correction when it clearly disagrees with the suggestion, else None."""
        if not self.enabled or self._in_flight >= MAX_IN_FLIGHT:
            return None
        answer = await self._ask(REVIEW_SYSTEM, render_request(ctx, review=True))
        correction = parse_review(answer, ctx) if answer is not None else None
        if correction is not None:
            self.disagreements += 1
        return correction

    async def aclose(self) -> None:
        """Close the HTTP client, if one was ever made."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def _ask(self, system: str, prompt: str) -> str | None:
        """One Messages API call; the answer's text, or None after logging why not."""
        self._in_flight += 1
        try:
            client = await self._ensure_client()
            self.requests += 1
            request = client.messages.create(
                model=self.config.model, max_tokens=MAX_TOKENS, system=system, messages=[{"role": "user", "content": prompt}]
            )
            # One deadline over the retries too: a long Retry-After must not park the task.
            return _answer_text(await asyncio.wait_for(request, self.timeout * (self.max_retries + 1) + 5.0))
        except Exception as exc:  # the teacher is optional: nothing reaches the caller
            self._record_failure(exc)
            return None
        finally:
            self._in_flight -= 1

    async def _ensure_client(self) -> Any:
        """The AsyncAnthropic client, made on first use in a worker thread (the import is slow)."""
        key = self.env.get(KEY_VARIABLE, "")
        if self._client is not None and self._client_key != key:
            self._retire_client()
        if self._client_lock is None:
            self._client_lock = asyncio.Lock()
        async with self._client_lock:
            if self._client is None:
                self._client = await asyncio.to_thread(self._make_client, key)
                self._client_key = key
        return self._client

    def _make_client(self, key: str) -> Any:
        import anthropic

        base_url = self.env.get(BASE_URL_VARIABLE) or None  # None: the SDK reads the variable itself
        return anthropic.AsyncAnthropic(api_key=key, base_url=base_url, timeout=self.timeout, max_retries=self.max_retries)

    def _retire_client(self) -> None:
        """Forget the client; close it on the running loop when there is one."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            asyncio.get_running_loop().create_task(client.close())
        except RuntimeError:
            pass  # no loop: the client's connections are released with it

    def _record_failure(self, exc: BaseException) -> None:
        """Count and log a failed call in words the user can act on; the key is scrubbed."""
        self.errors += 1
        self.last_error = self._scrub(describe_error(exc, self.timeout))
        log.warning("teacher (%s): %s", self.config.model, self.last_error)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("teacher failure detail:\n%s", self._scrub("".join(traceback.format_exception(exc))))

    def _scrub(self, text: str) -> str:
        key = self.env.get(KEY_VARIABLE)
        return text.replace(key, "[redacted]") if key else text


# -- the request ---------------------------------------------------------------------------
def render_request(ctx: TeacherContext, *, review: bool) -> str:
    """The user message: where, what kind, the code with the cursor, the suggestion, the note."""
    parts = [
        f"File: {ctx.path or '(unsaved buffer)'}",
        f"Language: {ctx.language or 'unknown'}",
        f"Request: {describe_kind(ctx.kind)}",
        f"Code ({CURSOR} marks the cursor):\n<code>\n{trim_prefix(ctx.prefix)}{CURSOR}{trim_suffix(ctx.suffix)}\n</code>",
        f"The model's suggestion at {CURSOR}:\n<suggestion>\n{ctx.suggestion}\n</suggestion>",
    ]
    if ctx.rating:
        parts.append(f"The user rated the suggestion {ctx.rating}.")
    if ctx.note:
        parts.append(f"The user's note:\n<note>\n{ctx.note}\n</note>")
    ask = "Is the suggestion right? Answer with the JSON object only." if review else (
        f"Write the code to insert at {CURSOR} instead, and nothing else."
    )
    return "\n\n".join([*parts, ask])


def describe_kind(kind: str) -> str:
    """What produced the suggestion, in words."""
    if kind.startswith("action:"):
        return f"the code action '{kind.split(':', 1)[1]}', whose result replaces the code at the cursor"
    return "an inline code completion at the cursor"


def trim_prefix(prefix: str, budget: int = PREFIX_BUDGET) -> str:
    """The end of ``prefix`` within ``budget`` characters, cut at a line start."""
    if len(prefix) <= budget:
        return prefix
    kept = prefix[-budget:]
    kept = kept[kept.find("\n") + 1 :] if "\n" in kept else kept
    omitted = prefix[: len(prefix) - len(kept)].count("\n")
    return f"[... {omitted} lines above omitted ...]\n{kept}"


def trim_suffix(suffix: str, budget: int = SUFFIX_BUDGET) -> str:
    """The start of ``suffix`` within ``budget`` characters, cut at a line end."""
    if len(suffix) <= budget:
        return suffix
    kept = suffix[:budget]
    kept = kept[: kept.rfind("\n")] if "\n" in kept else kept
    omitted = suffix[len(kept) :].count("\n")
    return f"{kept}\n[... {omitted} lines below omitted ...]"


def _nearby(ctx: TeacherContext) -> str:
    """The code that decides the category: a few lines either side and the suggestion."""
    before = "\n".join(ctx.prefix[-4000:].split("\n")[-12:])
    after = "\n".join(ctx.suffix[:2000].split("\n")[:4])
    return f"{before}{ctx.suggestion}{after}"


# -- the answer ----------------------------------------------------------------------------
def _answer_text(response: Any) -> str:
    """The text of a Messages API response (an error when max_tokens cut it off)."""
    if response.stop_reason == "max_tokens":
        raise ValueError(f"the answer exceeded {MAX_TOKENS} tokens and was cut off; not used")
    return "".join(getattr(block, "text", "") for block in response.content if block.type == "text")


def clean_code(answer: str, ctx: TeacherContext) -> str:
    """The code in an answer: fences, chatter, the cursor marker and echoed context removed."""
    text = clean_reply(answer, fence_open=False).replace(CURSOR, "")
    text = re.sub(r"\A(?:[ \t]*\n)+", "", text).rstrip()
    if ctx.kind == "completion":
        text = _drop_suffix_echo(_drop_line_echo(text, ctx.prefix), ctx.suffix)
    return text


def _drop_line_echo(code: str, prefix: str) -> str:
    """Remove a repeat of the cursor line (``x = `` before ``x = 5``, or just its indentation)."""
    line = prefix.rsplit("\n", 1)[-1]
    typed = line.lstrip()
    if typed and code.lstrip().startswith(typed) and len(code.lstrip()) > len(typed):
        return code.lstrip()[len(typed) :]
    if line and not typed and code.startswith(line):
        return code[len(line) :]
    return code


def _drop_suffix_echo(code: str, suffix: str) -> str:
    """Remove trailing lines that only repeat the code after the cursor."""
    after = suffix.strip()
    lines = code.split("\n")
    for i in range(1, len(lines)):
        tail = "\n".join(lines[i:]).strip()
        if after and len(tail) >= 8 and (after.startswith(tail) or tail.startswith(after)):
            return "\n".join(lines[:i]).rstrip()
    return code


def parse_review(answer: str, ctx: TeacherContext) -> str | None:
    """The correction of a clear disagreement in a review answer, else None."""
    verdict = _first_json_object(answer)
    if not verdict or str(verdict.get("verdict", "")).strip().lower() != "disagree":
        return None
    correction = verdict.get("correction")
    if not isinstance(correction, str):
        return None
    code = clean_code(correction, ctx)
    if not code.strip() or _same_code(code, ctx.suggestion):
        return None
    return code


def _first_json_object(text: str) -> dict | None:
    """The first JSON object with a "verdict" in ``text`` (fenced or surrounded by prose)."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "verdict" in value:
            return value
    return None


def _same_code(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def describe_error(exc: BaseException, timeout: float) -> str:
    """A failed teacher call in words: what happened and what to do."""
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if isinstance(exc, asyncio.TimeoutError) or name == "APITimeoutError":
        return f"no answer within {timeout:g} s (the teacher's time-out); the suggestion stays as it was"
    if status == 429:
        return "rate limited by the Anthropic API (429); lower teacher.sampleRate or wait"
    if status in (401, 403):
        return f"the API refused the key ({status}); check {KEY_VARIABLE}"
    if status is not None:
        return f"HTTP {status} from the Anthropic API: {_api_message(exc)}"
    if name == "APIConnectionError":
        return f"could not reach the Anthropic API ({exc.__cause__ or exc}); check the network or {BASE_URL_VARIABLE}"
    return f"{name}: {exc}"


def _api_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:200]
    return str(exc)[:200]
