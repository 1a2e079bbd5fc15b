"""A raw-bytes stdio harness: any bytes in, strictly checked frames out, exit status and stderr.

For what an editor library would never send: broken frames, bad JSON, closing stdin mid-way.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.e2e.lsp import SERVER


class RawServer:
    """The real server on stdio; ``messages`` holds what it sent, ``bad_output`` any framing it got wrong."""

    def __init__(self, data_dir: Path, *args: str, env: dict | None = None) -> None:
        self.stderr_file = tempfile.TemporaryFile()
        full_env = {**os.environ, "FINCH_DATA_DIR": str(data_dir), **(env or {})}
        self.proc = subprocess.Popen([*SERVER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr_file, env=full_env)
        self.messages: list[dict] = []
        self.bad_output: list[str] = []
        self._cv = threading.Condition()
        self._ids = 0
        threading.Thread(target=self._read, daemon=True).start()

    # -- output, strictly ---------------------------------------------------------------------
    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                if not line.endswith(b"\r\n") or name.lower() not in (b"content-length", b"content-type"):
                    self.bad_output.append(f"bad header line {line!r}")
                elif name.lower() == b"content-length":
                    length = int(value)
            body = out.read(length or 0)
            try:
                message = json.loads(body, parse_constant=lambda c: self.bad_output.append(f"non-JSON constant {c}"))
            except ValueError as exc:
                self.bad_output.append(f"unreadable body {body[:200]!r}: {exc}")
                continue
            with self._cv:
                self.messages.append(message)
                self._cv.notify_all()

    def responses_to(self, id_) -> list[dict]:
        with self._cv:
            return [m for m in self.messages if "method" not in m and m.get("id") == id_]

    def response(self, id_, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                found = [m for m in self.messages if "method" not in m and m.get("id") == id_]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no response to {id_!r} (server exit status {self.proc.poll()})")
                self._cv.wait(min(left, 1.0))

    def null_id_errors(self) -> list[dict]:
        with self._cv:
            return [m for m in self.messages if "method" not in m and m.get("id") is None and "error" in m]

    def wait_null_errors(self, count: int, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(found := [m for m in self.messages if "method" not in m and m.get("id") is None and "error" in m]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(found)} of {count} id-null errors arrived")
                self._cv.wait(min(left, 1.0))
            return found

    # -- input, as bytes ----------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    @staticmethod
    def frame(body: bytes) -> bytes:
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    @staticmethod
    def encode(message) -> bytes:
        return json.dumps(message).encode()

    def send(self, message) -> None:
        self.write(self.frame(self.encode(message)))

    def next_id(self, prefix: str = "r") -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    def request(self, method: str, params=None, timeout: float = 60) -> dict:
        id_ = self.next_id()
        self.send({"jsonrpc": "2.0", "id": id_, "method": method, "params": params})
        return self.response(id_, timeout)

    def status(self) -> dict:
        return self.request("workspace/executeCommand", {"command": "finch.status"})["result"]

    def initialize(self, settings: dict | None = None, process_id=None, capabilities: dict | None = None) -> dict:
        params = {"processId": process_id, "capabilities": capabilities or {}, "initializationOptions": {"finch": settings or {}}}
        reply = self.request("initialize", params)
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        return reply

    def wait_ready(self, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while (status := self.status())["model"]["state"] == "loading":
            if time.monotonic() > deadline:
                raise TimeoutError("the model did not load in time")
            time.sleep(0.1)
        return status

    def open(self, uri: str, text: str, version: int = 1) -> None:
        doc = {"uri": uri, "languageId": "python", "version": version, "text": text}
        self.send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": doc}})

    def change(self, uri: str, version: int, *changes: dict) -> None:
        params = {"textDocument": {"uri": uri, "version": version}, "contentChanges": list(changes)}
        self.send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": params})

    # -- the end ------------------------------------------------------------------------------
    def close_stdin(self) -> None:
        self.proc.stdin.close()

    def wait_exit(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr_file.close()


def position_params(uri: str, line: int, character: int) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


def inline_params(uri: str, line: int, character: int) -> dict:
    return {**position_params(uri, line, character), "context": {"triggerKind": 1}}


def range_of(a: int, b: int, c: int, d: int) -> dict:
    return {"start": {"line": a, "character": b}, "end": {"line": c, "character": d}}
