"""The durable feedback store: append-only JSONL of msgspec records.

One complete line per write, fsynced, under a file lock, so two editor windows sharing
the data dir never interleave or tear a record. A torn last line (a crash mid-write) is
skipped on read. A record is never rewritten: a later line with the same ``id`` (a
pending example whose correction became known) supersedes the earlier one.

The file is opened without following links: a symlinked ``examples.jsonl`` is refused
(``problem`` says so, ``append`` raises StoreRefused) and its target is never touched.
Weights are finite (an Infinity would be written as null and lost on read); a line an
older version wrote with a null weight reads back with its rating's default weight.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from pathlib import Path
from typing import Iterator

import msgspec
from filelock import FileLock

from finch_lsp.paths import OutsideDataDir, check_inside, open_private, private_subdir

log = logging.getLogger(__name__)

SCHEMA = 1


class Example(msgspec.Struct, rename="camel", kw_only=True):
    """One rated suggestion, the unit of training data."""

    schema: int = SCHEMA
    id: str = msgspec.field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = msgspec.field(default_factory=time.time)
    rating: str
    weight: float
    note: str | None = None
    suggestion_id: str
    kind: str = "completion"
    uri: str = ""
    language: str | None = None
    model: str = ""
    adapter_version: int | None = None
    prefix: str = ""
    suffix: str = ""
    prompt: str = ""  # the model input as rendered when the suggestion was made
    suggestion: str = ""  # the text shown
    kept: str | None = None  # the text as it stands in the document, when accepted
    correction: str | None = None
    correction_source: str | None = None  # "argument" | "edit" | "teacher" | "kept"
    rejected: str | None = None  # a negative: the suggestion the user rejected
    pending: bool = False  # no correction known yet: not trainable

    @property
    def target(self) -> str | None:
        """What training teaches for this example (None while pending)."""
        if self.pending:
            return None
        return self.correction if self.correction is not None else self.kept if self.kept is not None else self.suggestion


DEFAULT_WEIGHTS = {"critical": 10.0, "medium": 3.0, "good": 1.0}

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Example)


class StoreRefused(OSError):
    """The store cannot be written safely (a link out of the data dir); the message says what to do."""


class FeedbackStore:
    """Append-only examples file in the data dir (dirs 0700, files 0600, no links followed)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir)
        self.dir = self.root / "feedback"
        self.path = self.dir / "examples.jsonl"
        self.problem: str | None = None
        lock_path = self.dir / "examples.lock"
        self._lock = FileLock(str(lock_path), timeout=30, mode=0o600)  # touches the disk only when taken
        try:
            private_subdir(self.root, "feedback")
            check_inside(self.root, lock_path)
            with self._lock:
                os.close(self._open(os.O_WRONLY | os.O_CREAT | os.O_APPEND))
        except OutsideDataDir as exc:
            self.problem = f"feedback is not recorded: {exc}"
            log.warning("%s", self.problem)

    def _open(self, flags: int) -> int:
        return open_private(self.root, self.path, flags)

    def append(self, example: Example) -> None:
        """Write one complete line and fsync it before returning (the acknowledgement)."""
        if not math.isfinite(example.weight):
            raise ValueError(f"weight {example.weight!r} is not a finite number; nothing was recorded")
        if self.problem is not None:
            raise StoreRefused(self.problem)
        line = _encoder.encode(example) + b"\n"
        with self._lock:
            try:
                fd = self._open(os.O_RDWR | os.O_APPEND | os.O_CREAT)
            except OutsideDataDir as exc:
                raise StoreRefused(f"the rating was not recorded: {exc}") from None
            try:
                _repair_torn_tail(fd)
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> Iterator[Example]:
        """Every readable record in file order; torn or foreign lines are skipped with a log line."""
        try:
            fd = self._open(os.O_RDONLY)
        except FileNotFoundError:
            return
        except OutsideDataDir as exc:
            log.warning("feedback not read: %s", exc)
            return
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                yield _decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("%s line %d skipped (unreadable: %s)", self.path, number, exc)

    def latest(self) -> list[Example]:
        """The latest record of every example id, oldest first by creation."""
        by_id: dict[str, Example] = {}
        for record in self.records():
            by_id[record.id] = record
        return sorted(by_id.values(), key=lambda e: e.created_at)


def _decode(raw: bytes) -> Example:
    """One line; a null or non-finite weight (written by an older version) takes its rating's default."""
    try:
        return _decoder.decode(raw)
    except msgspec.ValidationError:
        record = msgspec.json.decode(raw)
        if not isinstance(record, dict) or record.get("rating") not in DEFAULT_WEIGHTS:
            raise
        weight = record.get("weight")
        if isinstance(weight, (int, float)) and not isinstance(weight, bool) and math.isfinite(weight):
            raise
        record["weight"] = DEFAULT_WEIGHTS[record["rating"]]
        return msgspec.convert(record, Example)


def _repair_torn_tail(fd: int) -> None:
    """If the file does not end in a newline (a torn write), end it so the next line is whole."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    if os.pread(fd, 1, size - 1) != b"\n":
        os.write(fd, b"\n")
