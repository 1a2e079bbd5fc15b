"""``python -m finch_lsp``: the same as the ``finch-lsp`` console script."""

from finch_lsp.cli import main

raise SystemExit(main())
