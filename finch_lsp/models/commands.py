"""``finch.models.list`` and ``finch.models.pull``: glue from workspace commands to ModelDownloads."""

from __future__ import annotations

import asyncio

from pygls.exceptions import JsonRpcInvalidParams

from finch_lsp import protocol
from finch_lsp.models.catalog import HUB_MODELS, hub_model
from finch_lsp.models.serving import ModelDownloads

PULL_USAGE = f"[name] with name one of {', '.join(model.name for model in HUB_MODELS)}"


def register(server) -> None:
    """Give ``server`` its ModelDownloads (``server.model_downloads``) and the two commands."""
    server.model_downloads = ModelDownloads(server)

    @server.command(protocol.MODELS_LIST)
    async def models_list(ls, *args) -> list:
        _convert(args, tuple[()], protocol.MODELS_LIST, "[] (no arguments)")
        return await asyncio.get_running_loop().run_in_executor(None, ls.model_downloads.rows)

    @server.command(protocol.MODELS_PULL)
    def models_pull(ls, *args) -> dict:
        (name,) = _convert(args, tuple[str], protocol.MODELS_PULL, PULL_USAGE)
        model = hub_model(name)
        if model is None:
            raise JsonRpcInvalidParams(
                f"{protocol.MODELS_PULL}: {name!r} is not a model finch can download; "
                f"send {PULL_USAGE} (finch.models.list shows them with their sizes)"
            )
        return ls.model_downloads.pull(model)


def _convert(args, shape, command: str, usage: str):
    try:
        return protocol.convert_args(args, shape, command, usage)
    except protocol.InvalidArguments as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
