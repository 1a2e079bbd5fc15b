"""A minimal synchronous LSP client over a server's stdio, as editors drive it.

Used by ``finch-lsp demo`` and ``finch-lsp bench``. A request waits for its response;
meanwhile server requests are answered (null result) and every notification is handed
to ``on_message`` (progress, showMessage, logs).
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any, Callable

MessageHandler = Callable[[dict], None]


class StdioClient:
    """JSON-RPC over the stdin and stdout of a server process."""

    def __init__(self, command: list[str], env: dict[str, str], stderr=None, on_message: MessageHandler | None = None) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)
        self.on_message = on_message or (lambda message: None)
        self._next_id = 0

    def _write(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> dict:
        out, length = self.proc.stdout, None
        while True:
            line = out.readline()
            if not line:
                raise ConnectionError(f"the server closed its output (exit status {self.proc.poll()})")
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            elif line in (b"\r\n", b"\n"):
                return json.loads(out.read(length or 0))

    def notify(self, method: str, params: Any = None) -> None:
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any = None) -> Any:
        """Send a request and return its result; a JSON-RPC error raises RuntimeError."""
        self._next_id += 1
        request_id = self._next_id
        self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        while True:
            message = self._read()
            if "method" in message:
                if "id" in message:  # a request from the server (progress tokens, ...)
                    self._write({"jsonrpc": "2.0", "id": message["id"], "result": None})
                self.on_message(message)
            elif message.get("id") == request_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error'].get('message')}")
                return message.get("result")

    def command(self, name: str, *args: Any) -> Any:
        return self.request("workspace/executeCommand", {"command": name, "arguments": list(args)})

    def wait_for_status(self, done: Callable[[dict], bool], timeout: float = 1800.0, what: str = "the server") -> dict:
        """``finch.status``, asked again until ``done(status)`` holds; TimeoutError naming ``what``.

        The limits are generous: a busy 2-core machine loads a model or trains an adapter
        many times slower than a quiet one.
        """
        deadline = time.monotonic() + timeout
        while not done(status := self.command("finch.status")):
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.3)
        return status

    def close(self, timeout: float = 20.0) -> None:
        """shutdown, exit, and wait for the process (killed if it does not go)."""
        try:
            if self.proc.poll() is None:
                self.request("shutdown")
                self.notify("exit")
                self.proc.stdin.close()
            self.proc.wait(timeout=timeout)
        except (OSError, ConnectionError, RuntimeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
