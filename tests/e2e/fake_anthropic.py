"""A fake Anthropic Messages API on 127.0.0.1 for tests of the teacher.

``POST /v1/messages`` answers a valid Messages API response whose text is scripted, or
an error status (429, 500, ...), optionally after a delay. Every request is recorded
(path, headers, parsed body) so tests can assert what the teacher sent.

    with FakeAnthropic() as fake:
        fake.answer("return a + b")            # every later request, until changed
        fake.then(Reply(status=429))           # the next request only, then the answer
        env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-test"}
"""

from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Reply:
    """One scripted answer: text with status 200, or an error status; after ``delay`` seconds."""

    text: str = "pass"
    status: int = 200
    delay: float = 0.0
    stop_reason: str = "end_turn"


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Everything the request asked, as one string (system prompt and messages)."""
        system = self.body.get("system", "")
        system = system if isinstance(system, str) else json.dumps(system)
        messages = [m.get("content") for m in self.body.get("messages", [])]
        return "\n".join([system, *(c if isinstance(c, str) else json.dumps(c) for c in messages)])


class FakeAnthropic:
    """A threaded HTTP server speaking enough of the Messages API for the SDK."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._default = Reply()
        self._queue: collections.deque[Reply] = collections.deque()
        self._cv = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, name="fake-anthropic", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.02)  # a short poll: stop() returns at once

    def start(self) -> "FakeAnthropic":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeAnthropic":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------------------------
    def answer(self, text: str = "pass", **kwargs) -> None:
        """The reply to every request once the queue is empty."""
        with self._cv:
            self._default = Reply(text=text, **kwargs)

    def then(self, *replies: Reply) -> None:
        """Replies for the next requests, in order, before the default one."""
        with self._cv:
            self._queue.extend(replies)

    def next_reply(self) -> Reply:
        with self._cv:
            return self._queue.popleft() if self._queue else self._default

    # -- recording --------------------------------------------------------------------------
    def record(self, request: Recorded) -> None:
        with self._cv:
            self.requests.append(request)
            self._cv.notify_all()

    def wait_for_requests(self, count: int = 1, timeout: float = 30.0) -> list[Recorded]:
        """Block until ``count`` requests arrived (TimeoutError otherwise); return them all."""
        with self._cv:
            if not self._cv.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"the fake Anthropic API got {len(self.requests)} requests, expected {count}")
            return list(self.requests)


def message_body(reply: Reply, model: str) -> dict:
    """A Messages API response carrying ``reply.text``."""
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": max(1, len(reply.text) // 4)},
    }


def error_body(status: int) -> dict:
    """The API's error envelope for ``status``."""
    kind = ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": f"scripted {kind} ({status})"}}


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"unparsed": raw.decode("utf-8", "replace")}
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.record(Recorded("POST", self.path, headers, body))
            if self.path.split("?")[0] != "/v1/messages":
                return self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
            reply = fake.next_reply()
            time.sleep(reply.delay)
            if reply.status != 200:
                return self._send(reply.status, error_body(reply.status), {"retry-after-ms": "10"})
            self._send(200, message_body(reply, str(body.get("model", "fake"))))

        def _send(self, status: int, payload: dict, extra: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", f"req_{uuid.uuid4().hex[:12]}")
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a time-out test)

        def log_message(self, format: str, *args) -> None:
            pass  # keep test output clean

    return Handler
