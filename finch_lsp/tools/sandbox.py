"""Running untrusted Python (model-written code and its tests): one process, a timeout, no network.

Each program runs in its own ``python -I -S -B`` process (no user site, no site-packages, no
``PYTHON*`` variables) in a fresh scratch directory that is deleted afterwards, with an
environment holding no proxies and ``HOME``/``TMPDIR`` in the scratch directory. A guard
script starts first: it sets resource limits (memory, CPU time, file size, no core files) and
installs an audit hook, which cannot be removed, refusing sockets, new processes, signals to
other processes, ctypes, and file writes outside the scratch directory. The process and its
group are killed when the timeout passes.

A program passes when it exits with status 0 after running to its end: the guard then writes
a random token as its last line on stderr, so ``sys.exit(0)`` or ``os._exit(0)`` half-way
does not count as a pass.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MEMORY_LIMIT = 2 << 30  # bytes of address space
FILE_LIMIT = 16 << 20  # bytes one file may grow to (stderr included)
STDERR_TAIL = 2000  # characters of stderr kept for the report

GUARD = r'''
import os, resource, runpy, sys

SCRATCH = os.path.realpath(os.getcwd())
NETWORK = {
    "socket.__new__", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
    "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo",
}
PROCESSES = {
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
}
FILE_CHANGES = {
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.truncate", "os.chmod", "os.chown",
    "os.symlink", "os.link", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile",
}
NO_IMPORT = {"ctypes", "_ctypes"}


def limit(kind, value):
    soft, hard = resource.getrlimit(kind)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, hard))


def outside(path):
    if isinstance(path, int):
        return False
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return True
    return real != SCRATCH and not real.startswith(SCRATCH + os.sep)


def refuse(event):
    raise PermissionError(f"sandbox: {event} is refused (no network, no processes, no writes outside the scratch directory)")


def hook(event, args):
    if event in NETWORK or event in PROCESSES:
        refuse(event)
    if event == "import" and args[0].split(".")[0] in NO_IMPORT:
        refuse(f"import {args[0]}")
    if event in FILE_CHANGES and any(outside(a) for a in args if isinstance(a, (str, bytes, os.PathLike))):
        refuse(event)
    if event == "open" and len(args) > 2 and outside(args[0]):
        mode, flags = args[1] or "", args[2] or 0
        writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        if any(c in str(mode) for c in "wax+") or flags & writes:
            refuse(f"writing {os.fsdecode(args[0])}")


token, program, cpu_seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
limit(resource.RLIMIT_AS, MEMORY_LIMIT)
limit(resource.RLIMIT_FSIZE, FILE_LIMIT)
limit(resource.RLIMIT_CPU, cpu_seconds)
limit(resource.RLIMIT_CORE, 0)
sys.argv = [program]
sys.addaudithook(hook)
try:
    runpy.run_path(program, run_name="__main__")
except SystemExit as stop:
    print(f"sandbox: the program called exit({stop.code!r}) before its end", file=sys.stderr)
    sys.stderr.flush()
    os._exit(3)
print(token, file=sys.stderr)
'''


@dataclass(frozen=True)
class RunOutcome:
    """How one program ended: ``passed``, ``failed`` or ``timeout``, and why."""

    status: str
    detail: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def sandbox_env(scratch: str) -> dict[str, str]:
    """The whole environment of a sandboxed process: no proxies, nothing inherited."""
    return {"PATH": os.defpath, "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def run_python(source: str, timeout: float) -> RunOutcome:
    """Run ``source`` as a Python program in the sandbox; killed after ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="finch-sandbox-") as scratch:
        program, guard, errors = Path(scratch, "program.py"), Path(scratch, "guard.py"), Path(scratch, "stderr.txt")
        program.write_text(source, encoding="utf-8")
        guard.write_text(f"MEMORY_LIMIT = {MEMORY_LIMIT}\nFILE_LIMIT = {FILE_LIMIT}\n{GUARD}", encoding="utf-8")
        token = secrets.token_hex(16)
        command = [sys.executable, "-I", "-S", "-B", str(guard), token, str(program), str(int(timeout) + 2)]
        started = time.perf_counter()
        with open(errors, "wb") as stderr:
            proc = subprocess.Popen(
                command, cwd=scratch, env=sandbox_env(scratch), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
            )
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return RunOutcome("timeout", f"still running after {timeout:g} s (killed)", time.perf_counter() - started)
        seconds = time.perf_counter() - started
        tail = errors.read_bytes()[-STDERR_TAIL:].decode("utf-8", "replace")
    lines = [line for line in tail.splitlines() if line.strip()]
    if code == 0 and lines and lines[-1] == token:
        return RunOutcome("passed", "", seconds)
    detail = lines[-1] if lines and lines[-1] != token else f"exit status {code}"
    if code == 0:
        detail = "exited with status 0 before its end (os._exit)"
    elif code < 0:
        detail = f"killed by {_signal_name(-code)}" + (f" ({detail})" if lines else "")
    return RunOutcome("failed", detail, seconds)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the process and anything it started (its own session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def turned_wrong(right_before: str, program_after: str, timeout: float = 10.0) -> bool:
    """Whether a program that passed (``right_before``) fails once the completion changed
    (``program_after``): the one rule for a completion turned from right to wrong."""
    return run_python(right_before, timeout).passed and not run_python(program_after, timeout).passed
