"""Random frames, JSON and positions against the real server for a bounded time (fixed seed).

The longer run is ``finch-lsp bench --fuzz SECONDS [--seed N]``.
"""

from finch_lsp.tools.fuzz import run_fuzz

SEED = 20240611
SECONDS = 30


def test_fuzz_every_good_request_is_answered_once_and_the_server_exits_cleanly():
    report = run_fuzz(SECONDS, seed=SEED)
    assert report.frames > 0 and report.broken > 0
    assert report.ok, report.render()
