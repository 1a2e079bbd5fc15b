"""FinchLanguageServer: state and LSP glue. Handlers are a few lines each.

The server owns the config, the inference engine, the suggestion registry and (later
issues) the learning loop; features live in their own modules and are wired here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcParseError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from finch_lsp import __version__
from finch_lsp.completion.engine import InferenceEngine, ModelState
from finch_lsp.completion.service import CompletionService
from finch_lsp.config import FinchConfig, parse_settings
from finch_lsp.learning.suggestions import SuggestionRegistry
from finch_lsp.progress import ProgressReporter

log = logging.getLogger(__name__)


@dataclass
class ServerOptions:
    """What the command line (and environment) fixed; they win over editor settings."""

    model: str | None = None
    device: str | None = None
    data_dir: str | None = None


@dataclass
class _BadMessage:
    """A request whose params could not be read: answered with InvalidParams, not dropped."""

    id: Any
    method: str
    error: JsonRpcException


class FinchProtocol(LanguageServerProtocol):
    """pygls' protocol, made to answer every request exactly once.

    pygls drops a request whose params fail to deserialize (the error is raised before
    the id is known) and silently ignores requests after ``shutdown``; both get an error
    response here. Malformed JSON gets a ParseError response (id null).
    """

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                detail = exc.__cause__ or exc
                error = JsonRpcInvalidParams(f"invalid params for {data['method']}: {detail}".splitlines()[0][:500])
                return _BadMessage(data["id"], data["method"], error)
            raise

    def handle_message(self, message):
        if isinstance(message, _BadMessage):
            log.warning("request %r (%s) has invalid params: %s", message.id, message.method, message.error.message)
            self._send_response(message.id, None, message.error.to_response_error())
            return
        if isinstance(message, dict):
            if "id" in message and "method" in message:
                error = JsonRpcInvalidRequest("not a JSON-RPC 2.0 request (missing \"jsonrpc\": \"2.0\")")
                self._send_response(message["id"], None, error.to_response_error())
            log.warning("ignored a message that is not JSON-RPC 2.0: %.200s", message)
            return
        is_request = hasattr(message, "method") and hasattr(message, "id") and getattr(message, "id", None) is not None
        if self._shutdown and is_request and message.method != types.EXIT:
            error = JsonRpcInvalidRequest("the server is shutting down: no more requests")
            self._send_response(message.id, None, error.to_response_error())
            return
        super().handle_message(message)


class FinchLanguageServer(LanguageServer):
    """The finch language server: owns the state every feature shares."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        super().__init__("finch-lsp", __version__, protocol_cls=FinchProtocol, max_workers=4)
        self.options = options or ServerOptions()
        self.config = FinchConfig()
        self.engine = InferenceEngine()
        self.suggestions = SuggestionRegistry()
        self.completions = CompletionService(self)
        self.model_name = "unknown"
        self.model_reason = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.workspace_trusted = True
        self.learning = None  # LearningLoop, once initialize has named the data dir
        self.teacher = None
        self._closers: list[Callable[[], None]] = []
        self.model_ready_hooks: list[Callable[[], None]] = []
        self.previous_text: dict[str, str] = {}

    # -- small accessors --------------------------------------------------------------------
    @property
    def position_encoding(self) -> str:
        encoding = getattr(self.workspace, "position_encoding", None) or "utf-16"
        return str(getattr(encoding, "value", encoding))

    @property
    def client_has_inline_completion(self) -> bool:
        text_document = self.client_capabilities.text_document
        return bool(text_document and getattr(text_document, "inline_completion", None) is not None)

    @property
    def client_has_progress(self) -> bool:
        window = self.client_capabilities.window
        return bool(window and window.work_done_progress)

    # -- messages and threads ---------------------------------------------------------------
    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the event loop, from any thread."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """window/showMessage, safe from any thread; also logged."""
        log.log(logging.WARNING if kind <= types.MessageType.Warning else logging.INFO, "%s", message)
        self.call_soon(self.window_show_message, types.ShowMessageParams(kind, f"finch: {message}"))

    def report_server_error(self, error: Exception, source) -> None:
        """Malformed JSON gets a ParseError response; other out-of-band errors are logged."""
        if isinstance(error, json.JSONDecodeError):
            log.warning("malformed JSON-RPC message: %s", error)
            self.protocol._send_response(None, None, JsonRpcParseError(f"malformed JSON: {error}").to_response_error())
            return
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)

    def on_exit(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # noqa: BLE001 - closing must go on
                log.exception("error while closing")
        self.engine.close()

    # -- configuration and the model --------------------------------------------------------
    def apply_settings(self, raw: Any, base: FinchConfig | None = None) -> None:
        config, problems = parse_settings(raw, base)
        self.config = config
        if self.learning is not None:
            self.learning.feedback.config = config
        if self.teacher is not None:
            self.teacher.update()
        for problem in problems:
            self.show(f"setting {problem}", types.MessageType.Warning)

    def start_learning(self) -> None:
        """The learning loop over the data dir: --data-dir, else the dataDir setting, else FINCH_DATA_DIR/the default."""
        from finch_lsp.learning.loop import LearningLoop
        from finch_lsp.paths import data_dir

        from finch_lsp.learning.teaching import TeacherBridge

        self.learning = LearningLoop(self, data_dir(self.options.data_dir or self.config.data_dir))
        self.teacher = TeacherBridge(self)

    def ask_teacher_for_correction(self, example) -> None:
        """A pending critical/medium example: ask the teacher (when on) in the background."""
        if self.teacher is None or not self.teacher.enabled:
            return
        self.teacher.request_correction(example)

    def requested_model(self) -> tuple[str, str]:
        """(model name, device) with the command line and FINCH_MODEL over editor settings."""
        name = self.options.model or os.environ.get("FINCH_MODEL") or self.config.model
        return name, self.options.device or self.config.device

    def start_loading(self) -> None:
        """Load the model in the background; requests answer empty until it is ready."""
        from finch_lsp.models import load_model

        name, device = self.requested_model()
        name, self.model_reason = self.model_downloads.choose(name, device)
        self.model_name = name
        self.engine.state = ModelState.LOADING
        progress = ProgressReporter(self, f"finch: loading {name}")
        progress.start()

        def loader():
            from finch_lsp.completion.generate import token_index, warm_up

            loaded = load_model(name, device, on_progress=progress.report)
            if self.learning is not None:
                progress.report("loading the current adapter")
                self.learning.on_model_ready(loaded)
            progress.report("indexing the vocabulary for token healing")
            token_index(loaded.tokenizer)
            if loaded.device == "cuda":
                progress.report("compiling for the GPU (about a minute, once per start)")
                warm_up(loaded)
            return loaded

        def done():
            if self.engine.state is ModelState.READY:
                progress.finish(f"{name} ready on {self.engine.loaded.device}")
                log.info("model %s ready on %s", name, self.engine.loaded.device)
            else:
                progress.finish("failed")
                self.show(f"could not load model {name}: {self.engine.error}", types.MessageType.Error)
            for hook in self.model_ready_hooks:
                hook()

        self.engine.load(loader, done)

    def status(self) -> dict[str, Any]:
        loaded = self.engine.loaded
        learning = self.learning.status() if self.learning is not None else {}
        teacher = {"teacher": self.teacher.status()} if self.teacher is not None else {}
        return {
            **learning,
            **teacher,
            "model": {
                "name": self.model_name,
                "device": loaded.device if loaded is not None else None,
                "state": self.engine.state.value,
                "error": self.engine.error,
                "source": getattr(loaded, "source", None),
                "reason": self.model_reason or None,
            },
            "positionEncoding": self.position_encoding,
            "engine": {"recent": list(self.engine.recent), "running": self.engine.running_key},
            "lastSuggestion": _describe(self.suggestions.last()),
        }

    def watch_parent(self, pid: int | None) -> None:
        """Exit when the editor process dies (``processId`` from initialize)."""
        if not pid or pid == os.getpid():
            return

        def watch() -> None:
            while _alive(pid):
                threading.Event().wait(2.0)
            log.warning("editor process %d is gone: exiting", pid)
            self.close()
            os._exit(0)

        threading.Thread(target=watch, name="finch-parent-watch", daemon=True).start()


def _describe(suggestion) -> dict | None:
    """A short view of a suggestion for status: id, text and the end of its prefix."""
    if suggestion is None:
        return None
    return {"id": suggestion.id, "text": suggestion.text, "prefixTail": suggestion.prefix[-60:], "accepted": suggestion.accepted}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def invalid_params(exc: Exception) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(str(exc))


def create_server(options: ServerOptions | None = None) -> FinchLanguageServer:
    """The server with every feature registered."""
    server = FinchLanguageServer(options)
    from finch_lsp import handlers

    handlers.register(server)
    return server
