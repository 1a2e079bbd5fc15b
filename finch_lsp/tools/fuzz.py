"""``finch-lsp bench --fuzz SECONDS``: random frames, JSON and positions against the real server on stdio.

A seeded generator mixes good requests (random positions and ranges, random params),
notifications (documents with CRLF and surrogates, edits with reversed and out-of-range
ranges, cancellations) and broken input (wrong or huge Content-Length, bad headers,
garbage, random JSON values, bad UTF-8, deep nesting). Every so often a sentinel request
must be answered. At the end every good request must have exactly one response, the output
must be well framed JSON with no traceback, and ``shutdown`` + ``exit`` must end with 0.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

SENTINEL_EVERY = 25
ANSWER_TIMEOUT = 120.0
METHODS = ["textDocument/hover", "finch/nothing", "", "$/unknown", "workspace/symbol"]
COMMANDS = ["finch.status", "finch.adapters.list", "finch.nope", "finch.accept", "finch.feedback"]
TEXTS = ["def f(x):\n    return x\n", "a = 1\r\nb = 2\r\n", "s = '\U0001F600' # 名前\n", "x = '\ud83d'\n", "", "\r\n\r\n\n"]


@dataclass
class FuzzReport:
    seed: int
    seconds: float = 0.0
    frames: int = 0
    broken: int = 0
    requests: int = 0
    unanswered: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)
    bad_output: list = field(default_factory=list)
    exit_status: int | None = None
    aborted: bool = False

    @property
    def ok(self) -> bool:
        return not (self.unanswered or self.duplicates or self.bad_output or self.aborted) and self.exit_status == 0

    def render(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        lines = [
            f"fuzz {verdict}: seed {self.seed}, {self.seconds:.0f} s, {self.frames} frames ({self.broken} broken), {self.requests} good requests",
            f"exit status {self.exit_status}" + (", aborted (terminate called)" if self.aborted else ""),
        ]
        for name in ("unanswered", "duplicates", "bad_output"):
            if getattr(self, name):
                lines.append(f"{name}: {getattr(self, name)[:10]}")
        return "\n".join(lines)


class _Server:
    """The server process, a strict reader of its output, and answers to its requests."""

    def __init__(self, command: list[str], env: dict[str, str], stderr) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)
        self.answers: dict = {}
        self.bad: list[str] = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while (line := out.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            body = out.read(length or 0)
            try:
                message = json.loads(body, parse_constant=lambda c: self.bad.append(f"non-JSON constant {c}"))
            except ValueError:
                self.bad.append(f"unreadable body {body[:120]!r}")
                continue
            if "traceback" in json.dumps(message.get("error", {})).lower():
                self.bad.append(f"a traceback reached the client: {body[:200]!r}")
            if "method" in message:
                if "id" in message:  # the server's own request (progress tokens): answer it
                    self.write(_frame({"jsonrpc": "2.0", "id": message["id"], "result": None}))
                continue
            with self.cv:
                self.answers.setdefault(json.dumps(message.get("id")), []).append(message)
                self.cv.notify_all()

    def write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def wait(self, ids, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        with self.cv:
            while missing := [i for i in ids if json.dumps(i) not in self.answers]:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return missing
                self.cv.wait(min(left, 1.0))
        return []


def _frame(message) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class _Generator:
    """What to send next, from one seeded random source."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.docs: list[str] = []
        self.count = 0

    def number(self) -> int:
        r = self.rng
        return r.choice([0, 1, 2, 3, r.randint(0, 40), r.randint(0, 10**6), 2**31 - 1, -1])

    def position(self) -> dict:
        return {"line": self.number(), "character": self.number()}

    def uri(self) -> str:
        if self.docs and self.rng.random() < 0.85:
            return self.rng.choice(self.docs)
        return f"file:///fuzz/d{self.rng.randint(0, 9)}.py"

    def value(self, depth: int = 0):
        r = self.rng
        kind = r.randint(0, 7 if depth < 4 else 4)
        if kind == 0:
            return None
        if kind == 1:
            return r.choice([True, False])
        if kind == 2:
            return r.choice([0, -1, 2**63, 1.5, 1e308])
        if kind in (3, 4):
            return r.choice(["", "x", "\ud83d", "名前", "Content-Length: 5", "\r\n", "exit"])
        if kind == 5:
            return [self.value(depth + 1) for _ in range(r.randint(0, 3))]
        keys = ["jsonrpc", "id", "method", "params", "result", "error", "textDocument", "position", "range", "x"]
        message = {r.choice(keys): self.value(depth + 1) for _ in range(r.randint(0, 4))}
        if message.get("method") in ("exit", "shutdown"):
            message["method"] = "fuzz/not-exit"
        return message

    def request(self) -> tuple[str, dict]:
        """A good request: an id, a method and params (sometimes random)."""
        self.count += 1
        r, uri = self.rng, self.uri()
        id_ = f"q{self.count}"
        choice = r.randint(0, 6)
        if choice == 0:
            method, params = "textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": self.position(), "context": {"triggerKind": 1}}
        elif choice == 1:
            method, params = "textDocument/completion", {"textDocument": {"uri": uri}, "position": self.position()}
        elif choice == 2:
            rng_ = {"start": self.position(), "end": self.position()}
            method, params = "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": rng_, "context": {"diagnostics": []}}
        elif choice == 3:
            data = {"uri": uri, "version": r.randint(0, 3), "range": {"start": self.position(), "end": self.position()}, "action": r.choice(["fix", "zap"])}
            method, params = "codeAction/resolve", {"title": "Finch: Fix", "data": r.choice([data, self.value()])}
        elif choice == 4:
            method, params = "workspace/executeCommand", {"command": r.choice(COMMANDS), "arguments": r.choice([[], [self.value()], self.value()])}
        elif choice == 5:
            method, params = r.choice(METHODS), self.value()
        else:
            method, params = "textDocument/inlineCompletion", self.value()
        return id_, {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}

    def notification(self) -> dict:
        r = self.rng
        choice = r.randint(0, 4)
        if choice == 0 or not self.docs:
            uri = f"file:///fuzz/d{r.randint(0, 9)}.py"
            self.docs.append(uri)
            doc = {"uri": uri, "languageId": "python", "version": 1, "text": r.choice(TEXTS) * r.randint(1, 4)}
            return {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": doc}}
        if choice in (1, 2):
            changes = [{"range": {"start": self.position(), "end": self.position()}, "text": r.choice(["", "x", "\n", "\r\n", "\ud83d", "\ude00", "\U0001F600"])}
                       for _ in range(r.randint(1, 3))]
            params = {"textDocument": {"uri": self.uri(), "version": r.randint(2, 99)}, "contentChanges": changes}
            return {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": params}
        if choice == 3:
            return {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": f"q{r.randint(1, max(1, self.count))}"}}
        return {"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {"textDocument": {"uri": self.uri()}}}

    def broken(self) -> bytes:
        """Input the server must survive without an answer owed to a known id."""
        r = self.rng
        self.count += 1
        body = json.dumps({"jsonrpc": "2.0", "id": f"x{self.count}", "method": "workspace/executeCommand", "params": {"command": "finch.status"}}).encode()
        choice = r.randint(0, 9)
        if choice == 0:
            return b"Content-Length: %d\r\n\r\n" % (len(body) + r.randint(1, 300)) + body
        if choice == 1:
            return b"Content-Length: %d\r\n\r\n" % r.randint(0, len(body) - 1) + body
        if choice == 2:
            return b"Content-Length: %d\r\n\r\n{}" % r.choice([10**12, 2 * 10**9, 70 * 2**20])
        if choice == 3:
            return r.choice([b"Content-Length: -3\r\n\r\n{}", b"Content-Type: x\r\n\r\n{}", b"Content-Length: 1e9\r\n\r\n", b"X: y\r\nbad line\r\n\r\n"])
        if choice == 4:
            return bytes(r.choice(b"{}[]\":,ab \r\n\x00\xff") for _ in range(r.randint(1, 80)))
        if choice == 5:
            return _frame(json.dumps(self.value()).encode())
        if choice == 6:
            return _frame(b'{"jsonrpc": "2.0", "method": "\xff\xfe"}')
        if choice == 7:
            return _frame(r.choice([b"[", b'{"a":']) * r.randint(1000, 200_000))
        if choice == 8:
            return r.choice([b"content-length: %d\r\n\r\n", b"Content-Length: %d\n\n"]) % len(body) + body
        return _frame(body[: r.randint(0, len(body))])


def run_fuzz(seconds: float, seed: int = 0, model: str = "tiny-qwen2", progress=None) -> FuzzReport:
    """Drive one server for about ``seconds`` with input from ``seed``; the report."""
    rng, report = random.Random(seed), FuzzReport(seed)
    gen = _Generator(rng)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="finch-fuzz-") as tmp, tempfile.TemporaryFile() as stderr:
        env = {**os.environ, "FINCH_DATA_DIR": tmp}
        server = _Server([sys.executable, "-m", "finch_lsp", "--log-level", "WARNING"], env, stderr)
        init = {"processId": None, "capabilities": {}, "initializationOptions": {"finch": {"model": model, "completion": {"maxNewTokens": 4}, "training": {"autoTrain": False}}}}
        server.write(_frame({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": init}))
        server.write(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        expected = ["init"]
        try:
            while time.monotonic() - started < seconds:
                for _ in range(SENTINEL_EVERY):
                    kind = rng.random()
                    if kind < 0.45:
                        id_, message = gen.request()
                        expected.append(id_)
                        server.write(_frame(message))
                    elif kind < 0.75:
                        server.write(_frame(gen.notification()))
                    else:
                        report.broken += 1
                        server.write(gen.broken())
                    report.frames += 1
                sentinel = f"s{report.frames}"
                expected.append(sentinel)
                server.write(_frame({"jsonrpc": "2.0", "id": sentinel, "method": "workspace/executeCommand", "params": {"command": "finch.status"}}))
                if server.wait([sentinel], ANSWER_TIMEOUT):
                    break
                if progress is not None:
                    progress(f"{time.monotonic() - started:.0f} s: {report.frames} frames")
            report.unanswered = server.wait(expected, ANSWER_TIMEOUT)
            server.write(_frame({"jsonrpc": "2.0", "id": "bye", "method": "shutdown"}))
            server.wait(["bye"], ANSWER_TIMEOUT)
            server.write(_frame({"jsonrpc": "2.0", "method": "exit"}))
            report.exit_status = server.proc.wait(timeout=ANSWER_TIMEOUT)
        finally:
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait()
        stderr.seek(0)
        report.aborted = b"terminate called" in stderr.read()
    with server.cv:
        report.duplicates = [i for i in expected if len(server.answers.get(json.dumps(i), [])) > 1]
        report.duplicates += [k for k, v in server.answers.items() if re.fullmatch(r'"x\d+"', k) and len(v) > 1]
    report.requests = len(expected)
    report.bad_output = list(server.bad)
    report.seconds = time.monotonic() - started
    return report


def run_fuzz_bench(args) -> int:
    """The ``bench --fuzz`` command: print the report; exit status 1 when it failed."""
    report = run_fuzz(args.fuzz, seed=args.seed, model=args.model or "tiny-qwen2", progress=lambda line: print(line, flush=True))
    print(report.render())
    return 0 if report.ok else 1
