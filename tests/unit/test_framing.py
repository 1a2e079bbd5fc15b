"""Framing: bodies out of any byte stream, bounded memory, recovery on the next header."""

import json

import pytest

from finch_lsp.server.framing import Body, FrameError, FrameReader, Skipped


def frame(body: bytes, header: bytes | None = None) -> bytes:
    return (header if header is not None else b"Content-Length: %d\r\n\r\n" % len(body)) + body


GOOD = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "shutdown"}).encode()


def bodies(events) -> list[bytes]:
    return [e.data for e in events if isinstance(e, Body)]


def errors(events) -> list[FrameError]:
    return [e for e in events if isinstance(e, FrameError)]


def feed_all(data: bytes, reader: FrameReader | None = None, step: int | None = None):
    reader = reader or FrameReader()
    if step is None:
        return reader.feed(data)
    events = []
    for i in range(0, len(data), step):
        events += reader.feed(data[i : i + step])
    return events


@pytest.mark.parametrize("step", [None, 1, 3, 17])
def test_good_frames_in_any_chunking(step):
    events = feed_all(frame(GOOD) + frame(b"{}") + frame(GOOD), step=step)
    assert bodies(events) == [GOOD, b"{}", GOOD] and not errors(events)


@pytest.mark.parametrize(
    "header",
    [
        b"content-length: %d\r\n\r\n",  # lower case
        b"CONTENT-LENGTH:%d\r\n\r\n",  # no space
        b"Content-Length: %d\n\n",  # LF only
        b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n",
        b"Content-Type: application/vscode-jsonrpc\nContent-Length: %d\n\n",
        b"\r\nContent-Length: %d\r\n\r\n",  # a stray empty line before
    ],
)
def test_header_variants(header):
    events = feed_all(frame(GOOD, header % len(GOOD)) + frame(GOOD))
    assert bodies(events) == [GOOD, GOOD] and not errors(events)


@pytest.mark.parametrize(
    "bad,error_part",
    [
        (b"Content-Length: -5\r\n\r\n{}", "non-negative"),
        (b"Content-Length: abc\r\n\r\n{}", "non-negative"),
        (b"Content-Type: x\r\n\r\n{}", "no Content-Length"),
        (b"Content-Length: 2\r\nnot a header\r\n\r\n{}", "malformed header"),
    ],
)
def test_bad_headers_are_reported_once_and_the_next_frame_is_read(bad, error_part):
    events = feed_all(bad + frame(GOOD))
    assert bodies(events)[-1:] == [GOOD]
    (error,) = errors(events)
    assert error_part in error.message


def test_too_short_length_then_the_next_frame():
    events = feed_all(frame(GOOD, b"Content-Length: 10\r\n\r\n") + frame(GOOD))
    assert bodies(events) == [GOOD[:10], GOOD]  # the first is answered as malformed JSON upstream
    assert not errors(events) and any(isinstance(e, Skipped) for e in events)


@pytest.mark.parametrize("length", [len(GOOD) + 1, len(GOOD) + 500, 2_000_000])
@pytest.mark.parametrize("step", [None, 5])
def test_too_long_length_ends_at_the_next_header(length, step):
    events = feed_all(frame(GOOD, b"Content-Length: %d\r\n\r\n" % length) + frame(GOOD), step=step)
    assert bodies(events) == [GOOD, GOOD]


def test_oversized_frame_is_refused_skipped_and_memory_stays_bounded():
    reader = FrameReader(max_frame=1000)
    events = reader.feed(b"Content-Length: 5000\r\n\r\n")
    (error,) = errors(events)
    assert error.code == -32600 and "5000 bytes" in error.message and "1000" in error.message
    for _ in range(5):
        events += reader.feed(b"[" * 1000)
        assert len(reader._buf) <= 1000
    events += reader.feed(frame(GOOD))
    assert bodies(events) == [GOOD]


def test_huge_content_length_with_a_short_body_resynchronises():
    events = feed_all(b"Content-Length: 1000000000000\r\n\r\n{}" + frame(GOOD))
    assert len(errors(events)) == 1 and bodies(events) == [GOOD]


def test_header_bomb_is_bounded():
    reader = FrameReader(max_header=100)
    events = reader.feed(b"X-Pad: " + b"a" * 1000)
    assert len(errors(events)) == 1 and len(reader._buf) <= 100
    events = reader.feed(b"a" * 1000 + b"\r\n\r\n" + frame(GOOD))
    assert bodies(events) == [GOOD]


def test_many_header_lines_are_bounded_too():
    reader = FrameReader(max_header=100)
    events = reader.feed(b"X-Pad: a\r\n" * 1000)
    assert len(errors(events)) == 1 and len(reader._buf) <= 100
    assert bodies(reader.feed(b"\r\n" + frame(GOOD))) == [GOOD]


def test_garbage_between_frames_is_skipped():
    events = feed_all(frame(GOOD) + b"garbage \x00\xff with no header" + frame(GOOD))
    assert bodies(events) == [GOOD, GOOD] and not errors(events)


def test_a_header_inside_a_json_string_does_not_split_the_body():
    body = json.dumps({"text": "Content-Length: 5\r\n\r\nx"}).encode()  # escaped: no raw line feed
    assert bodies(feed_all(frame(body))) == [body]


def test_zero_length_body():
    assert bodies(feed_all(frame(b"") + frame(GOOD))) == [b"", GOOD]
