"""Host: what a feature may ask of the server it runs in.

Completions, code actions, learning and progress reports are written against this small
interface, never against the server class, so no feature imports the server. The server
(``finch_lsp.server.state``) provides it; ``finch_lsp.server.wiring`` hands it to the features.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable, Protocol

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.workspace import Workspace

    from finch_lsp.completion.engine import InferenceEngine
    from finch_lsp.config import FinchConfig
    from finch_lsp.documents.suggestions import SuggestionRegistry


class Host(Protocol):
    """The server's state and services, as the features see them."""

    config: "FinchConfig"
    engine: "InferenceEngine"
    suggestions: "SuggestionRegistry"
    model_name: str
    workspace_trusted: bool
    event_loop: asyncio.AbstractEventLoop | None

    @property
    def workspace(self) -> "Workspace": ...

    @property
    def client_capabilities(self) -> types.ClientCapabilities: ...

    @property
    def work_done_progress(self) -> Any: ...

    @property
    def position_encoding(self) -> str: ...

    @property
    def client_has_progress(self) -> bool: ...

    @property
    def client_has_inline_completion(self) -> bool: ...

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the event loop, from any thread."""

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """``window/showMessage``, safe from any thread."""

    def on_exit(self, closer: Callable[[], None]) -> None:
        """Call ``closer`` when the server closes."""
