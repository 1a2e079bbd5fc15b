"""The language server: its state (``state``), JSON-RPC (``jsonrpc``), LSP glue (``handlers``),
and the one place that builds the features and wires them (``wiring``)."""
