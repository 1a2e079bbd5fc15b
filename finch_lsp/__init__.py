"""finch-lsp: a code-completion language server that learns from its user."""

__version__ = "0.1.0"
