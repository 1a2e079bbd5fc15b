"""The one place that builds the features and wires them to the server and to each other."""

from __future__ import annotations

from finch_lsp.actions.listing import CodeActions
from finch_lsp.completion.service import CompletionService
from finch_lsp.learning.coordinator import LearningCoordinator
from finch_lsp.models.serving import ModelDownloads
from finch_lsp.server import handlers
from finch_lsp.server.state import FinchLanguageServer, ServerOptions


def create_server(options: ServerOptions | None = None) -> FinchLanguageServer:
    """The server with every feature built and every handler registered."""
    server = FinchLanguageServer(options)
    server.learning = LearningCoordinator(server)
    server.completions = CompletionService(server, on_shown=server.learning.suggestion_shown)
    server.actions = CodeActions(server)
    server.model_downloads = ModelDownloads(server)
    handlers.register(server)
    return server
