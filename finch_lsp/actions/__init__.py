"""Code actions: what they act on (``target``), the chat they send (``chat``), the edit they make (``edit``), and the LSP side (``listing``)."""
