"""The trainer child asks the kernel to kill it when its server goes (Linux)."""

import os
import signal
import subprocess
import sys
import time

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A stand-in server: spawns a child that calls die_with_parent and then never writes or exits.
SERVER = """
import os, subprocess, sys
env = {**os.environ, "FINCH_PARENT_PID": str(os.getpid())}
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=env, stdin=subprocess.DEVNULL)
print(child.pid, flush=True)
child.wait()
"""
CHILD = """
import sys, time
from finch_lsp.learning.child import die_with_parent
die_with_parent()
print("ready", file=sys.stderr, flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_child_dies_when_its_parent_is_killed(how):
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    server = subprocess.Popen([sys.executable, "-c", SERVER, CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    child = None
    try:
        child = int(server.stdout.readline())
        assert server.stderr.readline().strip() == "ready"  # die_with_parent has run
        os.kill(server.pid, how)
        server.wait(timeout=60)
        deadline = time.monotonic() + 60  # generous: the kernel signals at once
        while not gone(child):
            assert time.monotonic() < deadline, f"the child {child} outlived its parent"
            time.sleep(0.05)
    finally:
        if child is not None and not gone(child):
            os.kill(child, signal.SIGKILL)
        if server.poll() is None:
            server.kill()


def test_the_pacer_leaves_the_server_a_core_while_it_serves_and_quiet_seconds_after():
    from finch_lsp.learning.child import BUSY, IDLE
    from finch_lsp.learning.training.pacing import QUIET_S, Pacer

    now = [100.0]
    pacer = Pacer(busy_threads=1, idle_threads=2, clock=lambda: now[0])
    assert pacer.wanted() == 2  # nothing served yet: every core
    pacer.feed(BUSY)
    now[0] += 30  # a long completion: still serving
    assert pacer.wanted() == 1
    pacer.feed(IDLE)
    assert pacer.wanted() == 1  # the user is typing: the next request comes soon
    now[0] += QUIET_S + 0.01
    assert pacer.wanted() == 2
    pacer.feed(b"x" + BUSY + IDLE + BUSY)  # a burst, the last byte counts; others are ignored
    assert pacer.wanted() == 1 and pacer.serving


def test_serving_reaches_the_trainer_on_stdin_and_is_ignored_once_it_is_gone(tmp_path):
    from finch_lsp.learning.child import TrainerProcess

    trainer = TrainerProcess(tmp_path)
    trainer.serving(True)  # no trainer yet: nothing happens
    out = tmp_path / "got"
    proc = subprocess.Popen([sys.executable, "-c", f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())"], stdin=subprocess.PIPE)
    os.set_blocking(proc.stdin.fileno(), False)
    trainer._proc = proc
    trainer.serving(True)
    trainer.serving(False)
    proc.stdin.close()  # as the watcher does when the trainer exits
    assert proc.wait(timeout=60) == 0 and out.read_bytes() == b"bi"
    trainer.serving(True)  # closed: never written to a reused descriptor, never raises
