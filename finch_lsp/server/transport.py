"""The server's read loop on stdio or TCP: bounded chunks -> FrameReader -> FinchProtocol.

Replaces pygls' readers (an unbounded read of whatever Content-Length says, exact-case
headers, no recovery). Replies still go through pygls' writer. The loop ends at end of
input or on ``exit``; ``serve_*`` return the process exit status (0 after ``shutdown``
then ``exit`` or end of input, 1 for ``exit`` without ``shutdown``, as the spec says).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Awaitable, Callable

from pygls.io_ import StdoutWriter

from finch_lsp.server.framing import Body, FrameError, FrameReader, Skipped

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024


async def read_loop(read: Callable[[], Awaitable[bytes]], protocol, frames: FrameReader | None = None) -> int:
    """Feed what ``read`` returns to ``protocol`` until end of input or ``exit``; the exit status."""
    frames = frames or FrameReader()
    while True:
        data = await read()
        if not data:
            log.info("end of input: stopping")
            return 0
        for event in frames.feed(data):
            if isinstance(event, Body):
                try:
                    protocol.handle_body(event.data)
                except SystemExit as exc:  # pygls' exit handler
                    return exc.code if isinstance(exc.code, int) else 0
                except Exception:  # noqa: BLE001 - one bad message never stops the loop
                    log.exception("a message could not be handled")
            elif isinstance(event, FrameError):
                protocol.frame_error(event.message, event.code)
            elif isinstance(event, Skipped):
                log.warning("skipped %d bytes that were not a message header", event.count)


def serve_stdio(server) -> int:
    """Serve on this process' stdin and stdout; the exit status."""
    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    fd = sys.stdin.fileno()

    async def main() -> int:
        loop = asyncio.get_running_loop()
        return await read_loop(lambda: loop.run_in_executor(server.thread_pool, os.read, fd, CHUNK_BYTES), server.protocol)

    return _run(server, main)


def serve_tcp(server, host: str, port: int) -> int:
    """Serve one client on TCP ``host:port`` (as pygls does); the exit status."""

    async def main() -> int:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            server.protocol.set_writer(writer)
            code = await read_loop(lambda: reader.read(CHUNK_BYTES), server.protocol)
            if not done.done():
                done.set_result(code)

        listener = await asyncio.start_server(connection, host, port)
        log.info("serving on %s", ", ".join(str(s.getsockname()) for s in listener.sockets))
        async with listener:
            return await done

    return _run(server, main)


def _run(server, main: Callable[[], Awaitable[int]]) -> int:
    try:
        return asyncio.run(main())
    except BrokenPipeError:
        log.warning("the editor closed its end of the connection: stopping")
        return 0
    except KeyboardInterrupt:
        return 0
    except SystemExit as exc:  # exit on TCP: pygls raises it from the writer's close callback
        return exc.code if isinstance(exc.code, int) else 0
