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
