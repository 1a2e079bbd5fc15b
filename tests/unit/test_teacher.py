"""The teacher through the real anthropic client, pointed at a fake Messages API on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import random
import threading

import pytest

from finch_lsp.config import TeacherConfig
from finch_lsp.learning.teacher.claude import CURSOR, PREFIX_BUDGET, Teacher, TeacherContext, clean_code
from tests.e2e.fake_anthropic import FakeAnthropic, Reply

KEY = "sk-ant-test-5f1c0ffee0ddba11"
ON = TeacherConfig(enabled=True, model="claude-test-model", sample_rate=0.1)

CTX = TeacherContext(
    path="/work/project/calc.py",
    language="python",
    prefix="import os\n\n\ndef add(a, b):\n    ",
    suffix="\n\n\nprint(add(1, 2))\n",
    suggestion="return a - b",
    note="add must add, not subtract",
    rating="critical",
)
SECURE = TeacherContext(path="/w/run.py", language="python", prefix="import subprocess\n\ndef run(cmd):\n    ", suffix="", suggestion="subprocess.call(cmd, shell=True)")
DESIGN = TeacherContext(path="/w/store.py", language="python", prefix="from abc import ABC\n\nclass Store(ABC):\n    ", suffix="", suggestion="pass")
PLAIN = TeacherContext(path="/w/m.py", language="python", prefix="def mean(xs):\n    ", suffix="", suggestion="return sum(xs) / len(xs)")


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


def make_teacher(fake: FakeAnthropic, config: TeacherConfig = ON, **kwargs) -> Teacher:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake.url}
    return Teacher(config, env=kwargs.pop("env", env), **kwargs)


def sent_key(request) -> str | None:
    """The key a request carried (the SDK sends X-Api-Key or a Bearer Authorization)."""
    return request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ") or None


def assert_key_absent(caplog, teacher: Teacher) -> None:
    assert KEY not in caplog.text
    assert all(KEY not in record.getMessage() for record in caplog.records)
    assert KEY not in json.dumps(teacher.status)


# -- corrections -----------------------------------------------------------------------------
async def test_correction_sends_the_full_context_and_returns_clean_code(fake):
    fake.answer("```python\nreturn a + b\n```")
    teacher = make_teacher(fake)
    try:
        assert await teacher.correction(CTX) == "return a + b"
    finally:
        await teacher.aclose()
    (request,) = fake.requests
    assert request.path == "/v1/messages" and sent_key(request) == KEY
    assert request.body["model"] == "claude-test-model" and 0 < request.body["max_tokens"] <= 2048
    (message,) = request.body["messages"]
    content = message["content"]
    assert message["role"] == "user"
    for part in ("/work/project/calc.py", "python", CTX.prefix + CURSOR + CTX.suffix, "return a - b", "add must add, not subtract", "critical"):
        assert part in content
    assert "only" in request.body["system"] and CURSOR in request.body["system"]
    assert teacher.status == teacher.status | {"enabled": True, "requests": 1, "errors": 0, "lastError": None}


async def test_long_files_are_trimmed_keeping_the_text_nearest_the_cursor(fake):
    far = "FAR_AWAY_MARKER = 1\n"
    prefix = far + "".join(f"value_{i} = {i}\n" for i in range(2000)) + "def f():\n    "
    suffix = "\n" + "".join(f"after_{i} = {i}\n" for i in range(2000)) + "FAR_BELOW_MARKER = 2\n"
    teacher = make_teacher(fake)
    await teacher.correction(TeacherContext("/w/big.py", "python", prefix, suffix, "pass"))
    await teacher.aclose()
    content = fake.requests[0].body["messages"][0]["content"]
    assert "value_1999 = 1999\ndef f():\n    " + CURSOR + "\nafter_0 = 0\n" in content
    assert "FAR_AWAY_MARKER" not in content and "FAR_BELOW_MARKER" not in content
    assert "lines above omitted" in content and len(content) < PREFIX_BUDGET * 2


async def test_base_url_comes_from_the_process_environment_as_the_sdk_reads_it(fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    teacher = Teacher(ON)
    assert await teacher.correction(CTX) == "pass"
    await teacher.aclose()
    assert len(fake.requests) == 1


async def test_the_client_is_made_off_the_event_loop(fake, monkeypatch):
    threads = []
    original = Teacher._make_client
    monkeypatch.setattr(Teacher, "_make_client", lambda self, key: threads.append(threading.current_thread()) or original(self, key))
    teacher = make_teacher(fake)
    await teacher.correction(CTX)
    await teacher.correction(CTX)
    await teacher.aclose()
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


# -- reviews ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"verdict": "agree"}', None),
        ('{"verdict": "disagree", "reason": "subtracts", "correction": "return a + b"}', "return a + b"),
        ('I checked it.\n```json\n{"verdict": "Disagree", "correction": "```python\\nreturn a + b\\n```"}\n```', "return a + b"),
        ('{"verdict": "disagree", "correction": "return  a - b"}', None),  # the same code
        ('{"verdict": "disagree"}', None),
        ("The suggestion looks wrong to me.", None),
        ('{"verdict": "disagree", "correction": ', None),
    ],
)
async def test_review_returns_a_correction_only_on_a_clear_disagreement(fake, answer, expected):
    fake.answer(answer)
    teacher = make_teacher(fake)
    assert await teacher.review(CTX) == expected
    await teacher.aclose()
    content = fake.requests[0].body["messages"][0]["content"]
    assert CTX.prefix + CURSOR + CTX.suffix in content and CTX.suggestion in content and CTX.path in content
    assert "verdict" in fake.requests[0].body["system"]
    assert teacher.status["disagreements"] == (expected is not None)


# -- failures --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("replies", "kwargs", "error_words", "attempts"),
    [
        ([Reply(status=429), Reply(status=429)], {}, "rate limited", 2),
        ([Reply(status=500), Reply(status=500)], {}, "HTTP 500", 2),
        ([Reply(status=401)], {}, "refused the key", 1),
        ([Reply(delay=2.0)], {"timeout": 0.3, "max_retries": 0}, "no answer within 0.3 s", 1),
        ([Reply("x" * 50, stop_reason="max_tokens")], {}, "cut off", 1),
    ],
    ids=["429", "500", "401", "timeout", "truncated"],
)
async def test_failures_are_counted_and_logged_without_the_key(fake, caplog, replies, kwargs, error_words, attempts):
    caplog.set_level(logging.DEBUG)
    fake.then(*replies)
    teacher = make_teacher(fake, **kwargs)
    assert await teacher.correction(CTX) is None
    assert await teacher.review(CTX) in (None, "pass")  # the queue is spent: the default answer
    await teacher.aclose()
    status = teacher.status
    assert status["errors"] == 1 and error_words in status["lastError"]
    assert any(error_words in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert len(fake.requests) == attempts + 1
    assert_key_absent(caplog, teacher)


async def test_one_rate_limit_is_retried(fake):
    fake.then(Reply(status=429))
    fake.answer("return a + b")
    teacher = make_teacher(fake)
    assert await teacher.correction(CTX) == "return a + b"
    await teacher.aclose()
    assert len(fake.requests) == 2 and teacher.status["errors"] == 0


async def test_an_unreachable_api_is_an_error_not_an_exception(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeAnthropic() as closed:
        url = closed.url
    teacher = Teacher(ON, env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url}, max_retries=0)
    assert await teacher.correction(CTX) is None
    await teacher.aclose()
    assert "could not reach" in teacher.status["lastError"]
    assert_key_absent(caplog, teacher)


# -- off means off ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "env_key", "trusted", "reason"),
    [
        (TeacherConfig(enabled=False), KEY, True, "teacher.enabled is false"),
        (ON, None, True, "ANTHROPIC_API_KEY is not set"),
        (ON, "", True, "ANTHROPIC_API_KEY is not set"),
        (ON, KEY, False, "not trusted"),
    ],
)
async def test_disabled_teacher_never_connects(fake, monkeypatch, config, env_key, trusted, reason):
    import anthropic

    def refuse(*args, **kwargs):
        raise AssertionError("a client was constructed while the teacher is off")

    monkeypatch.setattr(anthropic, "AsyncAnthropic", refuse)
    env = {"ANTHROPIC_BASE_URL": fake.url} | ({"ANTHROPIC_API_KEY": env_key} if env_key is not None else {})
    rng = random.Random(1)
    teacher = Teacher(config, env=env, trusted=trusted, rng=rng)
    state = rng.getstate()
    assert not teacher.enabled and reason in teacher.status["reason"]
    assert await teacher.correction(CTX) is None and await teacher.review(CTX) is None
    assert not any(teacher.should_sample(SECURE) for _ in range(100))
    assert rng.getstate() == state
    await teacher.aclose()
    assert fake.requests == [] and teacher.status["requests"] == 0


async def test_update_switches_the_teacher_on_and_off(fake):
    teacher = make_teacher(fake, TeacherConfig())
    assert await teacher.correction(CTX) is None
    teacher.update(ON)
    assert teacher.enabled and await teacher.correction(CTX) == "pass"
    teacher.update(ON, trusted=False)
    assert not teacher.enabled and await teacher.correction(CTX) is None
    teacher.update(ON)  # trust is kept when not given
    assert not teacher.enabled
    teacher.update(ON, trusted=True)
    assert teacher.enabled and teacher._client is None  # the old client was closed
    await teacher.aclose()
    assert len(fake.requests) == 1


# -- sampling --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ctx", "category"),
    [
        (SECURE, "security"),
        (DESIGN, "architecture"),
        (PLAIN, "general"),
        (TeacherContext(None, "python", "cfg = ", "", "yaml.load(open(path))"), "security"),
        (TeacherContext(None, "python", "def check(user, ", "", "password):"), "security"),
        (TeacherContext(None, "typescript", "const headers = { Authorization: ", "", "`Bearer ${accessToken}`"), "security"),
        (TeacherContext(None, "python", 'cur.execute("SELECT * FROM users WHERE id = " + ', "", "uid)"), "security"),
        (TeacherContext(None, "python", "data = ", "", "pickle.loads(blob)"), "security"),
        (TeacherContext(None, "go", "type Store ", "", "interface {\n\tGet(id string) Item\n}"), "architecture"),
        (TeacherContext(None, "python", "def app(", "", "db: Session = Depends(get_db)):"), "architecture"),
        (TeacherContext(None, "python", "container.register(", "", "Repository, SqlRepository)"), "architecture"),
        (TeacherContext(None, "python", "tokenizer = ", "", "load_tokenizer(author)"), "general"),
    ],
)
def test_category(ctx, category):
    assert Teacher(ON, env={"ANTHROPIC_API_KEY": KEY}).category(ctx) == category


@pytest.mark.parametrize(
    ("rate", "ctx", "expected"),
    [(0.1, PLAIN, 0.1), (0.1, SECURE, 0.5), (0.1, DESIGN, 0.3), (0.3, SECURE, 1.0), (0.5, DESIGN, 1.0), (0.0, SECURE, 0.0)],
)
def test_should_sample_rates_with_a_seeded_rng(rate, ctx, expected):
    teacher = Teacher(TeacherConfig(enabled=True, sample_rate=rate), env={"ANTHROPIC_API_KEY": KEY}, rng=random.Random(7))
    trials = 4000
    share = sum(teacher.should_sample(ctx) for _ in range(trials)) / trials
    assert abs(share - expected) < 0.03
    assert teacher.sample_probability(ctx) == pytest.approx(expected)


# -- cleaning answers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "prefix", "suffix", "expected"),
    [
        ("return a + b", "    ", "", "return a + b"),
        ("    return a + b", "    ", "", "return a + b"),
        ("    return a + b", "", "", "    return a + b"),
        ("```python\nreturn a + b\n```\nThis adds the numbers.", "    ", "", "return a + b"),
        ("Here is the corrected code:\n\nreturn a + b\n", "    ", "", "return a + b"),
        ("```\nreturn a + b", "    ", "", "return a + b"),
        ("    return a + b", "def f(a, b):\n    return ", "", "a + b"),
        ("x = 5", "x = ", "", "5"),
        (f"a + b{CURSOR}", "    return ", "", "a + b"),
        ("total = a + b\nreturn total\n\nprint(add(1, 2))", "    ", "\n\nprint(add(1, 2))\n", "total = a + b\nreturn total"),
        ("if x:\n    y()\n}", "", "\n}", "if x:\n    y()\n}"),
    ],
)
def test_clean_code(answer, prefix, suffix, expected):
    assert clean_code(answer, TeacherContext("/w/f.py", "python", prefix, suffix, "")) == expected
