"""Helpers for driving the real server over stdio, as editors do."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

SERVER = [sys.executable, "-m", "finch_lsp", "--log-level", "INFO"]
VSCODE = "visual-studio-code"
NEOVIM = "neovim@v0.11.0"


def capabilities(client: str = VSCODE, inline: bool = True, encodings: list[str] | None = None) -> types.ClientCapabilities:
    """A real editor's capabilities, with inline completion (LSP 3.18) as VS Code sends it."""
    caps = client_capabilities(client)
    if inline:
        caps.text_document.inline_completion = types.InlineCompletionClientCapabilities(dynamic_registration=True)
    if encodings is not None:
        caps.general = caps.general or types.GeneralClientCapabilities()
        caps.general.position_encodings = encodings
    return caps


async def start(
    data_dir: Path,
    settings: dict | None = None,
    caps: types.ClientCapabilities | None = None,
    extra_args: tuple[str, ...] = (),
    env: dict | None = None,
) -> tuple[LanguageClient, types.InitializeResult]:
    """Start the server on stdio, initialize it with ``settings`` and return the client."""
    client = make_test_lsp_client()
    full_env = {**os.environ, "FINCH_DATA_DIR": str(data_dir), **(env or {})}
    await client.start_io(*SERVER, *extra_args, env=full_env)
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=caps or capabilities(),
            initialization_options={"finch": settings or {}},
            root_uri=data_dir.as_uri(),
        )
    )
    return client, result


async def command(client: LanguageClient, name: str, *args):
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command=name, arguments=list(args)))


async def wait_ready(client: LanguageClient, timeout: float = 180) -> dict:
    """Poll finch.status until the model is loaded (or failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await command(client, "finch.status")
        if status["model"]["state"] != "loading":
            return status
        await asyncio.sleep(0.1)
    raise TimeoutError("the model did not load in time")


TRAINING_LIMIT_S = 1800.0
"""How long a test waits for a training to end: the trainer is niced, and on a busy 2-core
machine it gets a fraction of a core, so the limit only keeps a hung trainer from hanging
the suite."""


async def wait_training(client: LanguageClient, timeout: float = TRAINING_LIMIT_S) -> dict:
    """Poll finch.status until no training runs; the status then."""
    deadline = time.monotonic() + timeout
    while (status := await command(client, "finch.status"))["training"]["state"] == "running":
        if time.monotonic() > deadline:
            raise TimeoutError(f"training did not end within {timeout:.0f} s: {status['training']}")
        await asyncio.sleep(0.2)
    return status


def open_doc(client: LanguageClient, uri: str, text: str, version: int = 1, language: str = "python") -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text))
    )


def replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def inline(client: LanguageClient, uri: str, line: int, character: int):
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri),
            position=types.Position(line, character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
    )


def end_of(text: str) -> tuple[int, int]:
    """(line, character) of the end of an ASCII text."""
    lines = text.split("\n")
    return len(lines) - 1, len(lines[-1])


class RawClient:
    """Bytes on the server's stdin, framed messages from its stdout: for malformed input."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        env = {**os.environ, "FINCH_DATA_DIR": str(data_dir)}
        self.proc = subprocess.Popen([*SERVER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.messages: list[dict] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                if line in (b"\r\n", b"\n"):
                    break
            body = out.read(length or 0)
            with self._cv:
                self.messages.append(json.loads(body))
                self._cv.notify_all()

    def send_bytes(self, body: bytes) -> None:
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def send(self, message: dict) -> None:
        self.send_bytes(json.dumps(message).encode())

    def request(self, id_, method: str, params=None) -> dict:
        self.send({"jsonrpc": "2.0", "id": id_, "method": method, "params": params})
        return self.response(id_)

    def response(self, id_, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for m in self.messages:
                    if m.get("id") == id_ and ("result" in m or "error" in m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no response to {id_!r}")
                self._cv.wait(left)

    def responses_to(self, id_) -> list[dict]:
        with self._cv:
            return [m for m in self.messages if m.get("id") == id_ and ("result" in m or "error" in m)]

    def initialize(self, settings: dict, capabilities: dict | None = None) -> dict:
        result = self.request("init", "initialize", {"processId": None, "capabilities": capabilities or {}, "initializationOptions": {"finch": settings}})
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        return result

    def status(self) -> dict:
        self._status_calls = getattr(self, "_status_calls", 0) + 1
        return self.request(f"status-{self._status_calls}", "workspace/executeCommand", {"command": "finch.status"})["result"]

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

    @staticmethod
    def inline_request(id_, uri: str, line: int, character: int) -> dict:
        params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "context": {"triggerKind": 1}}
        return {"jsonrpc": "2.0", "id": id_, "method": "textDocument/inlineCompletion", "params": params}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
