"""FinchLanguageServer: the state every feature shares, and the services of ``finch_lsp.host.Host``.

It holds the settings, the inference engine, the suggestion registry and the features
(built and wired by ``finch_lsp.server.wiring``); it loads the model and reports status.
LSP methods live in ``finch_lsp.server.handlers``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from finch_lsp import __version__
from finch_lsp.completion.engine import InferenceEngine, ModelState
from finch_lsp.config import FinchConfig, parse_settings
from finch_lsp.documents.changes import ChangeTracker
from finch_lsp.documents.suggestions import SuggestionRegistry
from finch_lsp.progress import ProgressReporter
from finch_lsp.server.jsonrpc import FinchProtocol

if TYPE_CHECKING:
    from finch_lsp.actions.listing import CodeActions
    from finch_lsp.completion.service import CompletionService
    from finch_lsp.learning.coordinator import LearningCoordinator
    from finch_lsp.models.serving import ModelDownloads

log = logging.getLogger(__name__)


@dataclass
class ServerOptions:
    """What the command line (and environment) fixed; they win over editor settings."""

    model: str | None = None
    device: str | None = None
    data_dir: str | None = None


class FinchLanguageServer(LanguageServer):
    """The finch language server: owns the state every feature shares."""

    completions: "CompletionService"
    actions: "CodeActions"
    learning: "LearningCoordinator"
    model_downloads: "ModelDownloads"

    def __init__(self, options: ServerOptions | None = None) -> None:
        super().__init__("finch-lsp", __version__, protocol_cls=FinchProtocol, max_workers=4)
        self.options = options or ServerOptions()
        self.config = FinchConfig()
        self.engine = InferenceEngine()
        self.suggestions = SuggestionRegistry()
        self.changes = ChangeTracker(self.suggestions)
        self.model_name = "unknown"
        self.model_reason = ""
        self.event_loop: asyncio.AbstractEventLoop | None = None
        self.workspace_trusted = True
        self.learning_thread = ThreadPoolExecutor(1, thread_name_prefix="finch-learning")
        self._closers: list[Callable[[], None]] = []
        self._closed = False

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
        if self.event_loop is not None and not self.event_loop.is_closed():
            self.event_loop.call_soon_threadsafe(fn, *args)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """window/showMessage, safe from any thread; also logged."""
        log.log(logging.WARNING if kind <= types.MessageType.Warning else logging.INFO, "%s", message)
        self.call_soon(self.window_show_message, types.ShowMessageParams(kind, f"finch: {message}"))

    def on_exit(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def close(self, wait: float = 0.0) -> None:
        """Stop in order: closers, then the engine (a running generation is cancelled); with
        ``wait``, give the learning thread that long to finish what it was doing."""
        if not self._closed:
            self._closed = True
            for closer in reversed(self._closers):
                try:
                    closer()
                except Exception:  # noqa: BLE001 - closing must go on
                    log.exception("error while closing")
            self.engine.close()
            self._drained = self.learning_thread.submit(lambda: None)
            self.learning_thread.shutdown(wait=False)
        if wait:
            try:
                self._drained.result(timeout=wait)
            except Exception:  # noqa: BLE001 - still busy: the process ends anyway
                log.warning("the learning thread was still busy after %.0f s", wait)

    # -- configuration and the model --------------------------------------------------------
    def apply_settings(self, raw: Any, base: FinchConfig | None = None) -> None:
        config, problems = parse_settings(raw, base)
        self.config = config
        self.learning.settings_changed()
        for problem in problems:
            self.show(f"setting {problem}", types.MessageType.Warning)

    def requested_model(self) -> tuple[str, str]:
        """(model name, device) with the command line and FINCH_MODEL over editor settings."""
        name = self.options.model or os.environ.get("FINCH_MODEL") or self.config.model
        return name, self.options.device or self.config.device

    def start_loading(self) -> None:
        """Load the model in the background; requests answer empty until it is ready.

        When a model is already serving and the new one cannot be loaded (a bad name or
        directory, a device the machine lacks), the working model stays, with a message.
        """
        from finch_lsp.models import load_model

        name, device = self.requested_model()
        name, reason = self.model_downloads.choose(name, device)
        previous, previous_name, previous_reason = self.engine.loaded, self.model_name, self.model_reason
        self.model_name, self.model_reason = name, reason
        self.engine.state = ModelState.LOADING
        progress = ProgressReporter(self, f"finch: loading {name}")
        progress.start()
        kept: list[str] = []  # why the previous model was kept

        def loader():
            from finch_lsp.completion.generate import token_index, warm_up

            try:
                loaded = load_model(name, device, on_progress=progress.report)
            except Exception as exc:
                if previous is None:
                    raise
                log.exception("model %s could not be loaded; %s stays", name, previous_name)
                kept.append(str(exc) or type(exc).__name__)
                self.model_name, self.model_reason = previous_name, previous_reason
                return previous
            if self.learning.opened:
                progress.report("loading the current adapter")
                self.learning.on_model_ready(loaded)
            progress.report("indexing the vocabulary for token healing")
            token_index(loaded.tokenizer)
            if loaded.device == "cuda":
                progress.report("compiling for the GPU (about a minute, once per start)")
                warm_up(loaded)
            return loaded

        def done():
            if kept:
                progress.finish("failed")
                self.show(f"could not load model {name}: {kept[0]}; still using {previous_name}", types.MessageType.Error)
            elif self.engine.state is ModelState.READY:
                progress.finish(f"{name} ready on {self.engine.loaded.device}")
                log.info("model %s ready on %s", name, self.engine.loaded.device)
            else:
                progress.finish("failed")
                self.show(f"could not load model {name}: {self.engine.error}", types.MessageType.Error)

        self.engine.load(loader, done)

    def status(self) -> dict[str, Any]:
        loaded = self.engine.loaded
        return {
            **self.learning.status(),
            "model": {
                "name": self.model_name,
                "device": loaded.device if loaded is not None else None,
                "state": self.engine.state.value,
                "error": self.engine.error,
                "source": getattr(loaded, "source", None),
                "reason": self.model_reason or None,
            },
            "positionEncoding": self.position_encoding,
            "engine": {"recent": list(self.engine.recent), "running": self.engine.running_key, "threads": self.engine.threads},
            "lastSuggestion": _describe(self.suggestions.last()),
        }

    def watch_parent(self, pid) -> None:
        """Exit when the editor process dies (``processId`` from initialize).

        Not watched: null, 0, negative (os.kill would signal a process group), this
        process, a pid too large for the system, or one not alive now (another pid
        namespace, or a wrong value): each is logged.
        """
        if pid is None:
            return
        if not isinstance(pid, int) or pid <= 0 or pid == os.getpid() or not _alive(pid):
            log.warning("processId %r is not a live editor process here: the editor's exit will not be watched", pid)
            return

        def watch() -> None:
            while _alive(pid):
                threading.Event().wait(2.0)
            log.warning("editor process %d is gone: exiting", pid)
            self.close()
            hard_exit(0)

        threading.Thread(target=watch, name="finch-parent-watch", daemon=True).start()


def hard_exit(code: int) -> None:
    """End the process now, after flushing output and the log.

    Skips the interpreter's teardown, where torch's threads abort the process
    ("terminate called without an active exception") if a generation is still running.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed pipe: nothing more to say
            pass
    logging.shutdown()
    os._exit(code)


def _describe(suggestion) -> dict | None:
    """A short view of a suggestion for status: id, text and the end of its prefix."""
    if suggestion is None:
        return None
    return {"id": suggestion.id, "text": suggestion.text, "prefixTail": suggestion.prefix[-60:], "accepted": suggestion.accepted}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:
        return True
    return True
