"""The trainer's torch threads follow the machine: every core while nothing else uses one.

The training loop and the gate call ``pace()`` between steps, chunks, prompts and decoding
steps, on the thread that runs torch (torch's thread count belongs to it). The installed
``cpu.Pacer`` reads how much CPU the rest of the machine used since the last reading: the busy
time of all cores in ``/proc/stat`` (steal included: a host taking its cores back) less this
process's own. While that is above ``cpu.OTHERS_BUSY_CORES``, and for ``cpu.QUIET_S`` after it
last was (a user typing asks again within that), the trainer keeps to ``child.train_threads()``
and leaves a core to the server's completions, a build, anything; otherwise it takes
``child.idle_train_threads()``.

Why the machine and not only the server: torch's threads wait for each other at every
parallel region, so a trainer with every core beside one busy process ran 28x slower (its
thread on the shared core gets a niced share; docs/benchmarks.md). Work that starts inside a
step shares the machine until that step's end.

Without ``/proc/stat`` (not Linux) the trainer keeps ``train_threads()``. Without a pacer
installed (``install``: the trainer process does it) ``pace()`` does nothing: the benches and
tests that call ``train_adapter`` in their own process keep their threads.
"""

from __future__ import annotations

from finch_lsp.cpu import Pacer

_installed: Pacer | None = None


def install(pacer: Pacer) -> None:
    """Make ``pace()`` follow ``pacer`` (and set its threads now)."""
    global _installed
    _installed = pacer
    pacer.pace()


def pace() -> None:
    """Between two pieces of training work: the threads the machine's load allows now."""
    if _installed is not None:
        _installed.pace()


def threads() -> int | None:
    """The torch threads the trainer trains with now (None without a pacer)."""
    return _installed.threads if _installed is not None else None


def processor():
    """A logits processor that paces at every decoding step and changes nothing."""
    from transformers import LogitsProcessor

    class Pace(LogitsProcessor):
        def __call__(self, input_ids, scores):
            pace()
            return scores

    return Pace()
