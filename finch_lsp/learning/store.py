"""The durable feedback store: append-only JSONL of msgspec records.

One complete line per write, fsynced, under a file lock, so two editor windows sharing
the data dir never interleave or tear a record. A torn last line (a crash mid-write) is
skipped on read. A record is never rewritten: a later line with the same ``id`` (a
pending example whose correction became known) supersedes the earlier one.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from typing import Iterator

import msgspec
from filelock import FileLock

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


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Example)


def _private_file(path: Path) -> None:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
    os.chmod(path, 0o600)


class FeedbackStore:
    """Append-only examples file in the data dir (dirs 0700, files 0600)."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "feedback"
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        self.path = self.dir / "examples.jsonl"
        self._lock = FileLock(str(self.dir / "examples.lock"), timeout=30)
        with self._lock:
            _private_file(self.path)
        os.chmod(self.dir / "examples.lock", 0o600)

    def append(self, example: Example) -> None:
        """Write one complete line and fsync it before returning (the acknowledgement)."""
        line = _encoder.encode(example) + b"\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                _repair_torn_tail(fd, self.path)
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> Iterator[Example]:
        """Every readable record in file order; torn or foreign lines are skipped with a log line."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                yield _decoder.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("%s line %d skipped (unreadable: %s)", self.path, number, exc)

    def latest(self) -> list[Example]:
        """The latest record of every example id, oldest first by creation."""
        by_id: dict[str, Example] = {}
        for record in self.records():
            by_id[record.id] = record
        return sorted(by_id.values(), key=lambda e: e.created_at)


def _repair_torn_tail(fd: int, path: Path) -> None:
    """If the file does not end in a newline (a torn write), end it so the next line is whole."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    with open(path, "rb") as f:
        f.seek(size - 1)
        if f.read(1) != b"\n":
            os.write(fd, b"\n")
