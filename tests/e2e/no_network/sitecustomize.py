"""Log every attempt to reach outside this machine (put this directory on PYTHONPATH).

Python imports ``sitecustomize`` at start-up, so a subprocess started with
``PYTHONPATH=<this directory>`` and ``FINCH_SOCKET_LOG=<file>`` appends one line to that
file for every connection (``connect``, ``connect_ex``, ``create_connection``), datagram
(``sendto``) or name lookup (``getaddrinfo``) aimed at a non-loopback address. Loopback
and AF_UNIX are allowed silently. Nothing is blocked: the test reads the file.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading

_LOG_PATH = os.environ.get("FINCH_SOCKET_LOG")
_LOCK = threading.Lock()
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}


def is_local(host) -> bool:
    """True for loopback addresses and names, wildcard binds, and anything that is not a host."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return True
    host = host.strip("[]").split("%", 1)[0].lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name other than localhost: resolving it asks a DNS server
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _record(kind: str, address) -> None:
    """Append ``kind host:port`` when ``address`` (an INET tuple) leaves the machine."""
    if not isinstance(address, tuple) or len(address) < 2 or is_local(address[0]):
        return
    line = f"{os.getpid()} {kind} {address[0]}:{address[1]}\n"
    with _LOCK, open(_LOG_PATH, "a", encoding="utf-8") as log:
        log.write(line)


def _watch_method(name: str) -> None:
    original = getattr(socket.socket, name)

    def watched(self, address, *args, **kwargs):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _record(name, address if name != "sendto" or not args else args[-1])
        return original(self, address, *args, **kwargs)

    watched.__wrapped__ = original
    setattr(socket.socket, name, watched)


def _watch_function(name: str, to_address) -> None:
    original = getattr(socket, name)

    def watched(*args, **kwargs):
        _record(name, to_address(*args, **kwargs))
        return original(*args, **kwargs)

    watched.__wrapped__ = original
    setattr(socket, name, watched)


def install() -> None:
    """Wrap the socket calls that reach out; idempotent."""
    if getattr(socket.create_connection, "__wrapped__", None) is not None:
        return
    for method in ("connect", "connect_ex", "sendto"):
        _watch_method(method)
    _watch_function("create_connection", lambda address, *a, **k: tuple(address))
    _watch_function("getaddrinfo", lambda host, port, *a, **k: (host, port))


if _LOG_PATH:
    install()
