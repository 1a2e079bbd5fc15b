"""TeacherBridge: the server's use of the optional Claude teacher.

Every call runs as a background task on the event loop: a completion never waits for the
teacher. A pending critical/medium example asks for a correction; a sampled shown or
accepted suggestion is reviewed, and a clear disagreement becomes a medium example.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pygls.uris import to_fs_path

from finch_lsp.learning.teacher.claude import Teacher, TeacherContext

if TYPE_CHECKING:
    from finch_lsp.documents.suggestions import Suggestion
    from finch_lsp.host import Host
    from finch_lsp.learning.feedback import FeedbackService
    from finch_lsp.learning.store import Example

log = logging.getLogger(__name__)


def context_of(item: "Example | Suggestion", note: str | None = None, rating: str | None = None) -> TeacherContext:
    """The full context around the cursor of an example or a suggestion."""
    shown = getattr(item, "suggestion", None)
    if not isinstance(shown, str):
        shown = item.text
    return TeacherContext(
        to_fs_path(item.uri) if item.uri else None, item.language, item.prefix, item.suffix,
        shown, note if note is not None else getattr(item, "note", None), rating or getattr(item, "rating", None), item.kind,
    )


class TeacherBridge:
    """Owns the Teacher and its background tasks."""

    def __init__(self, host: "Host") -> None:
        self.host = host
        self.teacher = Teacher(host.config.teacher, trusted=host.workspace_trusted)
        self.feedback: "FeedbackService | None" = None
        self._tasks: set[asyncio.Future] = set()

    def attach(self, feedback: "FeedbackService") -> None:
        """Where the teacher's corrections go: the feedback service of the opened data dir."""
        self.feedback = feedback

    @property
    def enabled(self) -> bool:
        return self.teacher.enabled

    def update(self) -> None:
        self.teacher.update(self.host.config.teacher, trusted=self.host.workspace_trusted)

    def _spawn(self, coro) -> None:
        loop = self.host.event_loop
        if loop is None or loop.is_closed():
            coro.close()
            return
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    def request_correction(self, example: "Example") -> None:
        """Ask for the correction of a pending example; resolve it when the answer comes."""
        if not self.enabled:
            return
        ctx = context_of(example)

        async def ask() -> None:
            correction = await self.teacher.correction(ctx)
            if correction and self.feedback is not None:
                await asyncio.to_thread(self.feedback.resolve, example.id, correction, "teacher")

        self._spawn(ask())

    def maybe_review(self, suggestion: "Suggestion") -> None:
        """Send a sampled suggestion for review; a clear disagreement becomes a medium example."""
        if not self.enabled:
            return
        ctx = context_of(suggestion)
        if not self.teacher.should_sample(ctx):
            return

        async def review() -> None:
            correction = await self.teacher.review(ctx)
            if correction and self.feedback is not None:
                note = f"teacher disagreed ({self.teacher.category(ctx)} sample)"
                await asyncio.to_thread(self.feedback.add_teacher_example, suggestion, correction, note)

        self._spawn(review())

    def status(self) -> dict:
        return self.teacher.status

    async def aclose(self) -> None:
        await self.teacher.aclose()
