"""``$/progress`` for long work (model loading, training), safe to call from any thread."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from finch_lsp.host import Host

log = logging.getLogger(__name__)


class ProgressReporter:
    """``$/progress`` for one long task; safe to call from any thread; a no-op without client support."""

    def __init__(self, server: "Host", title: str) -> None:
        self.server, self.title = server, title
        self.token = f"finch-{uuid.uuid4().hex[:12]}"
        self._created: asyncio.Future | None = None
        self.enabled = server.client_has_progress

    def start(self, message: str | None = None) -> None:
        if self.enabled:
            self.server.call_soon(self._begin, message)

    def _begin(self, message: str | None) -> None:
        async def begin() -> None:
            try:
                await self.server.work_done_progress.create_async(self.token)
            except Exception as exc:  # noqa: BLE001 - a client may refuse progress
                log.info("client refused progress %s: %s", self.token, exc)
                self.enabled = False
                return
            self.server.work_done_progress.begin(
                self.token, types.WorkDoneProgressBegin(title=self.title, message=message, percentage=0, cancellable=False)
            )

        self._created = asyncio.ensure_future(begin())

    def report(self, message: str, percentage: int | None = None) -> None:
        log.info("%s: %s", self.title, message)
        if self.enabled:
            self.server.call_soon(self._after_begin, self._report, message, percentage)

    def finish(self, message: str | None = None) -> None:
        if self.enabled:
            self.server.call_soon(self._after_begin, self._end, message)

    def _after_begin(self, fn, *args) -> None:
        if self._created is None:
            return
        self._created.add_done_callback(lambda _f: self.enabled and fn(*args))

    def _report(self, message: str, percentage: int | None) -> None:
        self.server.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=message, percentage=percentage))

    def _end(self, message: str | None) -> None:
        self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
