"""The teacher through the real server on tiny-qwen2 (stdio, as editors run it).

The server runs with ``tests/e2e/no_network`` on PYTHONPATH: its ``sitecustomize`` appends
every connection to a non-loopback address to ``FINCH_SOCKET_LOG``. With the teacher off
that file must stay empty even though a key and an (unroutable) API address are set; with
it on, a critical rating without a correction is answered by a fake Messages API on
127.0.0.1 and the answer becomes the example's correction.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finch_lsp.learning.teacher.claude import CURSOR
from tests.e2e.fake_anthropic import FakeAnthropic
from tests.e2e.lsp import command, end_of, inline, open_doc, start, wait_ready

NO_NETWORK = Path(__file__).parent / "no_network"
UNROUTABLE = "http://203.0.113.1:9"  # TEST-NET-3: any connection there is a leak
KEY = "sk-ant-e2e-dummy-key"
URI = "file:///w/teacher.py"
SOURCE = "import os\n\n\ndef add(a, b):\n    return "
NOTE = "add must return the sum"
QUIET_S = 6.0  # watched after feedback: a leaking request shows within about 3 s (the SDK import)


def server_env(socket_log: Path, base_url: str, key: str = KEY) -> dict[str, str]:
    """The environment of a watched server: socket log, key and API address."""
    python_path = os.pathsep.join(p for p in (str(NO_NETWORK), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": python_path, "FINCH_SOCKET_LOG": str(socket_log), "ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": base_url}


def settings(teacher: dict) -> dict:
    return {"model": "tiny-qwen2", "completion": {"maxNewTokens": 6}, "training": {"autoTrain": False}, "teacher": teacher}


def outside_connections(socket_log: Path) -> list[str]:
    return socket_log.read_text().splitlines() if socket_log.exists() else []


def latest_examples(data_dir: Path) -> dict[str, dict]:
    """The store as the server reads it: the latest line per example id."""
    path = data_dir / "feedback" / "examples.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return {record["id"]: record for record in map(json.loads, filter(None, lines))}


async def suggest(client, text: str = SOURCE) -> tuple[str, str]:
    """Show a completion at the end of ``text``; (suggestion id, inserted text)."""
    open_doc(client, URI, text)
    item = (await inline(client, URI, *end_of(text))).items[0]
    return item.command.arguments[0], item.insert_text


async def wait_resolved(data_dir: Path, example_id: str, timeout: float = 30.0) -> dict:
    """The example once it is no longer pending (the store is a file: it is polled)."""
    deadline = time.monotonic() + timeout
    while (example := latest_examples(data_dir).get(example_id)) is None or example["pending"]:
        assert time.monotonic() < deadline, f"example {example_id} still pending after {timeout} s: {example}"
        await asyncio.sleep(0.1)
    return example


async def stop(client) -> None:
    await client.shutdown_session()
    await client.stop()


def test_socket_watch_logs_outside_addresses_only(tmp_path):
    """The watch itself, in a subprocess started as the server is: only the outside address is logged."""
    socket_log = tmp_path / "sockets.log"
    script = (
        "import socket, sitecustomize\n"
        "assert sitecustomize.__file__.startswith(%r)\n"
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(('203.0.113.7', 9))\n"  # UDP: no packet sent
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(('127.0.0.1', 9))\n"
        "socket.getaddrinfo('localhost', 9)\n"
    ) % str(NO_NETWORK)
    env = {**os.environ, **server_env(socket_log, UNROUTABLE)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert [line.split(" ", 1)[1] for line in outside_connections(socket_log)] == ["connect 203.0.113.7:9"]


@pytest.mark.parametrize(
    ("teacher", "key"),
    [({"enabled": False, "sampleRate": 1.0}, KEY), ({"enabled": True, "sampleRate": 1.0}, "")],
    ids=["teacher-disabled", "no-api-key"],
)
async def test_teacher_off_opens_no_socket_to_the_outside(tmp_path, teacher, key):
    socket_log, data_dir = tmp_path / "sockets.log", tmp_path / "data"
    client, _ = await start(data_dir, settings(teacher), env=server_env(socket_log, UNROUTABLE, key))
    try:
        await wait_ready(client)
        first, _ = await suggest(client)
        await command(client, "finch.accept", first)
        await suggest(client, SOURCE + "a\n\n\ndef sub(a, b):\n    return ")
        result = await command(client, "finch.feedback", {"rating": "critical", "note": NOTE, "suggestionId": first})
        assert result["recorded"] and result["pending"]
        await command(client, "finch.feedback.medium", "not like this")
        deadline = time.monotonic() + QUIET_S
        while time.monotonic() < deadline and not outside_connections(socket_log):
            await suggest(client, SOURCE + "a\n\n\ndef mul(a, b):\n    return ")  # busy, as an editor is
            await asyncio.sleep(0.2)
        assert latest_examples(data_dir)[result["exampleId"]]["pending"]
    finally:
        await stop(client)
    assert outside_connections(socket_log) == []


async def test_teacher_answer_becomes_the_correction_of_a_critical_rating(tmp_path):
    socket_log, data_dir = tmp_path / "sockets.log", tmp_path / "data"
    with FakeAnthropic() as fake:
        fake.answer("```python\na + b\n```")
        env = server_env(socket_log, fake.url)
        client, _ = await start(data_dir, settings({"enabled": True, "model": "claude-e2e", "sampleRate": 0.0}), env=env)
        try:
            await wait_ready(client)
            suggestion_id, _ = await suggest(client)
            await command(client, "finch.accept", suggestion_id)
            result = await command(client, "finch.feedback", {"rating": "critical", "note": NOTE})
            assert result["pending"] and result["rating"] == "critical"
            example = await wait_resolved(data_dir, result["exampleId"])
        finally:
            await stop(client)
        requests = fake.requests
    assert (example["correction"], example["correctionSource"], example["suggestionId"]) == ("a + b", "teacher", suggestion_id)
    assert len(requests) == 1
    body = requests[0].body
    content = body["messages"][0]["content"]
    assert body["model"] == "claude-e2e"
    assert KEY in (requests[0].headers.get("x-api-key"), requests[0].headers.get("authorization", "").removeprefix("Bearer "))
    for part in ("/w/teacher.py", "python", example["prefix"] + CURSOR + example["suffix"], example["suggestion"], NOTE):
        assert part in content, f"{part!r} missing from the teacher's request"
    assert example["prefix"] == SOURCE and example["suggestion"].strip()
    assert outside_connections(socket_log) == []  # the fake is on 127.0.0.1
