"""The public surface of PROTOCOL.md: command names and the Structs they carry.

Editors, docs and tests rely on these names; rename nothing without updating every user.
"""

from __future__ import annotations

from typing import Literal

import msgspec

ACCEPT = "finch.accept"
FEEDBACK = "finch.feedback"
FEEDBACK_CRITICAL = "finch.feedback.critical"
FEEDBACK_MEDIUM = "finch.feedback.medium"
FEEDBACK_GOOD = "finch.feedback.good"
TRAIN = "finch.train"
STATUS = "finch.status"
ADAPTERS_LIST = "finch.adapters.list"
ADAPTERS_USE = "finch.adapters.use"
ADAPTERS_ROLLBACK = "finch.adapters.rollback"
ADAPTERS_DELETE = "finch.adapters.delete"
MODELS_LIST = "finch.models.list"
MODELS_PULL = "finch.models.pull"

COMMANDS = (
    ACCEPT, FEEDBACK, FEEDBACK_CRITICAL, FEEDBACK_MEDIUM, FEEDBACK_GOOD, TRAIN, STATUS,
    ADAPTERS_LIST, ADAPTERS_USE, ADAPTERS_ROLLBACK, ADAPTERS_DELETE, MODELS_LIST, MODELS_PULL,
)

Rating = Literal["critical", "medium", "good"]
RATINGS: tuple[str, ...] = ("critical", "medium", "good")

CODE_ACTION_TITLES = {
    "fix": "Finch: Fix",
    "document": "Finch: Document",
    "simplify": "Finch: Simplify",
    "test": "Finch: Write test",
}


class FeedbackArgs(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """The single argument of ``finch.feedback``."""

    rating: Rating
    note: str | None = None
    suggestion_id: str | None = None
    correction: str | None = None


class InvalidArguments(ValueError):
    """Bad command arguments; the message says what to send instead (becomes InvalidParams)."""


def convert_args(args: tuple, shape: type, command: str, usage: str):
    """``msgspec.convert`` the arguments of ``command`` or raise InvalidArguments with ``usage``."""
    try:
        return msgspec.convert(list(args), type=shape)
    except msgspec.ValidationError as exc:
        raise InvalidArguments(f"{command}: {exc}. Usage: {usage}") from None
