"""Base-protocol framing (pure): bytes in, message bodies and framing errors out.

``FrameReader.feed`` takes whatever the transport read and returns the complete bodies and
the framing problems found so far. Memory is bounded: a header block over
``MAX_HEADER_BYTES`` or a frame over ``MAX_FRAME_BYTES`` is reported and skipped, never
buffered. Header names are case-insensitive and lines may end in ``\\r\\n`` or ``\\n``.

Recovery: after a bad header, or a body that runs into the next frame (a Content-Length
too long), reading resumes at the next ``Content-Length:`` header. A header line followed
by a raw line feed can never occur inside valid JSON (``Content-Length`` would have to be
inside a string, and a string cannot hold a raw line feed), so finding one inside a body
means the body ended there. Bytes between frames that are not headers (what is left of a
body whose Content-Length was too short) are skipped with a log line only: the frame they
belonged to was already answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024

# where a frame starts: the resynchronisation anchor
_START = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
# a complete Content-Length line: never inside valid JSON (see the module docstring)
_HEADER_LINE = re.compile(rb"content-length[ \t]*:[ \t]*\d{1,20}[ \t]*\r?\n", re.IGNORECASE)
_WORD = b"content-length"
_HEADER_REST = re.compile(rb"[ \t]*(:[ \t]*(\d{1,20}[ \t]*\r?)?)?")  # what may follow it before the line feed
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OVERLAP = 64  # bytes kept between scans so an anchor split across reads is still found


@dataclass(frozen=True)
class Body:
    """One message body, as bytes (decoding is the protocol's job)."""

    data: bytes


@dataclass(frozen=True)
class FrameError:
    """A framing problem: ``message`` says what failed and what to do; ``code`` is the JSON-RPC error."""

    message: str
    code: int = -32700


@dataclass(frozen=True)
class Skipped:
    """Bytes that were neither a header nor a body (logged, not answered)."""

    count: int


Event = Body | FrameError | Skipped


def _header_starts_in(buf: bytearray, length: int) -> bool:
    """Whether the next header could begin before ``length`` (seen only in part so far)."""
    for start in range(max(0, length - len(_WORD) - 24), length):
        tail = bytes(buf[start:]).lower()
        if tail[: len(_WORD)] == _WORD[: len(tail)] and (
            len(tail) <= len(_WORD) or _HEADER_REST.fullmatch(tail[len(_WORD) :]) is not None
        ):
            return True
    return False


class FrameReader:
    """Incremental parser of ``Content-Length`` framed messages."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES, max_header: int = MAX_HEADER_BYTES) -> None:
        self.max_frame = max_frame
        self.max_header = max_header
        self._buf = bytearray()
        self._length: int | None = None  # reading a body of this many bytes
        self._scanned = 0  # body bytes already searched for a header line
        self._skip = 0  # bytes of an oversized frame still to discard
        self._searching = False  # resynchronising: looking for the next Content-Length

    def feed(self, data: bytes) -> list[Event]:
        """Add ``data``; return the bodies and problems it completed, in order."""
        self._buf += data
        events: list[Event] = []
        while True:
            if self._skip:
                progressed = self._skip_oversized(events)
            elif self._length is not None:
                progressed = self._body(events)
            elif self._searching:
                progressed = self._search(events)
            else:
                progressed = self._headers(events)
            if not progressed:
                return events

    # -- states ---------------------------------------------------------------------------
    def _headers(self, events: list[Event]) -> bool:
        length: int | None = None
        pos, seen = 0, 0
        while True:
            nl = self._buf.find(b"\n", pos)
            if nl < 0 or nl > self.max_header:
                if len(self._buf) > self.max_header:
                    events.append(FrameError(f"a header block is over {self.max_header} bytes: send 'Content-Length: N' then an empty line"))
                    self._resync(1)
                    return True
                return False
            line = bytes(self._buf[pos:nl]).rstrip(b"\r")
            pos = nl + 1
            if not line:
                if seen == 0:  # a stray empty line between frames
                    del self._buf[:pos]
                    return True
                if length is None:
                    events.append(FrameError("a message had no Content-Length header: every message needs 'Content-Length: N'"))
                    self._resync(1)
                    return True
                del self._buf[:pos]
                return self._start_body(length, events)
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name.strip()):
                if seen:
                    events.append(FrameError(f"malformed header line {line[:80]!r}: headers are 'Name: value'"))
                self._resync(1)
                return True
            seen += 1
            if name.strip().lower() == b"content-length":
                value = value.strip()
                if not value.isdigit() or len(value) > 20:
                    events.append(FrameError(f"bad Content-Length {value[:40]!r}: it must be the body's size in bytes, a non-negative integer"))
                    self._resync(1)
                    return True
                length = int(value)

    def _start_body(self, length: int, events: list[Event]) -> bool:
        if length > self.max_frame:
            events.append(
                FrameError(f"a message of {length} bytes is over the {self.max_frame}-byte limit: it was skipped; send smaller messages", -32600)
            )
            self._skip, self._scanned = length, 0
            return True
        self._length, self._scanned = length, 0
        return True

    def _body(self, events: list[Event]) -> bool:
        length = self._length
        assert length is not None
        base = max(0, self._scanned - _OVERLAP)
        found = _HEADER_LINE.search(bytes(self._buf[base : length + _OVERLAP]))
        if found is not None and base + found.start() < length:  # the body ran into the next frame
            self._emit(base + found.start(), events)
            return True
        if len(self._buf) < length:
            self._scanned = len(self._buf)
            return False
        if len(self._buf) - length < _OVERLAP and _header_starts_in(self._buf, length):
            return False  # the body's end may be the start of the next header: wait for more
        self._emit(length, events)
        return True

    def _emit(self, end: int, events: list[Event]) -> None:
        events.append(Body(bytes(self._buf[:end])))
        del self._buf[:end]
        self._length, self._scanned = None, 0

    def _skip_oversized(self, events: list[Event]) -> bool:
        window_start = max(0, self._scanned - _OVERLAP)
        limit = min(len(self._buf), self._skip)
        found = _HEADER_LINE.search(bytes(self._buf[window_start:limit]))
        if found is not None:  # a short oversized body: the next frame starts here
            del self._buf[: window_start + found.start()]
            self._skip, self._scanned = 0, 0
            return True
        if len(self._buf) >= self._skip:
            del self._buf[: self._skip]
            self._skip, self._scanned = 0, 0
            return True
        # drop what was read, keeping a tail so an anchor split across reads is found
        keep = min(_OVERLAP, len(self._buf))
        dropped = len(self._buf) - keep
        del self._buf[:dropped]
        self._skip -= dropped
        self._scanned = len(self._buf)
        return False

    def _search(self, events: list[Event]) -> bool:
        found = _START.search(self._buf)
        if found is None:
            keep = min(_OVERLAP, len(self._buf))
            if len(self._buf) > keep:
                events.append(Skipped(len(self._buf) - keep))
                del self._buf[: len(self._buf) - keep]
            return False
        if found.start():
            events.append(Skipped(found.start()))
            del self._buf[: found.start()]
        self._searching = False
        return True

    def _resync(self, start: int) -> None:
        """Drop ``start`` bytes and look for the next Content-Length header."""
        del self._buf[:start]
        self._searching = True
