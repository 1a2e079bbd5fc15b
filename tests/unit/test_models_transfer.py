"""Progress of a whole download: counting, speed, time left, and the words shown for it."""

from __future__ import annotations

import pytest

from finch_lsp.models.catalog import MIB, format_size
from finch_lsp.models.transfer import ProgressSnapshot, Throttle, TransferProgress, format_bar, format_duration, format_progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (5 * MIB + MIB // 2, "5.5 MiB"), (988_097_824, "942.3 MiB"), (3 << 30, "3.0 GiB")],
)
def test_sizes(size, text):
    assert format_size(size) == text


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (44.6, "45 s"), (60, "1 min 00 s"), (185, "3 min 05 s"), (4320, "1 h 12 min")])
def test_durations(seconds, text):
    assert format_duration(seconds) == text


def test_progress_line():
    snapshot = ProgressSnapshot(done=412 * MIB, total=942 * MIB, rate=10 * MIB, elapsed_s=40)
    assert snapshot.percentage == 43
    assert format_progress(snapshot) == "412.0 MiB / 942.0 MiB (43%), 10.0 MiB/s, 53 s left"
    assert format_bar(snapshot, width=10) == "[####------] 412.0 MiB / 942.0 MiB (43%), 10.0 MiB/s, 53 s left"


def test_progress_line_without_a_speed_yet_and_when_done():
    assert format_progress(ProgressSnapshot(0, 10 * MIB, None, 0)) == "0 B / 10.0 MiB (0%)"
    assert format_progress(ProgressSnapshot(10 * MIB, 10 * MIB, 2 * MIB, 5)) == "10.0 MiB / 10.0 MiB (100%), 2.0 MiB/s"
    assert ProgressSnapshot(0, 0, None, 0).percentage == 100


def test_speed_is_measured_over_the_last_seconds_and_gives_the_time_left():
    clock = Clock()
    progress = TransferProgress(total=100 * MIB, done=20 * MIB, clock=clock)  # 20 MiB resumed
    assert progress.snapshot().rate is None
    clock.now += 0.5
    progress.receive(MIB)
    assert progress.snapshot().rate is None  # under a second of measuring
    for _ in range(9):
        clock.now += 1
        progress.receive(4 * MIB)
    snapshot = progress.snapshot()
    assert snapshot.done == 57 * MIB and progress.received == 37 * MIB
    assert snapshot.rate == pytest.approx(4 * MIB, rel=0.15)  # the window holds the recent seconds only
    assert snapshot.seconds_left == pytest.approx(43 * MIB / snapshot.rate)


def test_listener_sees_every_change():
    seen = []
    progress = TransferProgress(total=10, listener=seen.append)
    progress.receive(4)
    progress.advance(6)
    assert [s.done for s in seen] == [4, 10] and progress.received == 4


def test_tqdm_class_forwards_bytes_and_corrects_a_restart_from_zero():
    progress = TransferProgress(total=1000, done=300)  # 300 bytes of a partial file counted as done
    bar_class = progress.tqdm_class(counted=300)
    with bar_class(desc="model.safetensors", total=1000, initial=300, unit="B") as bar:
        bar.update(200)
    assert progress.snapshot().done == 500
    restarted = TransferProgress(total=1000, done=300)
    with restarted.tqdm_class(counted=300)(total=1000, initial=0) as bar:  # the server ignored Range
        assert restarted.snapshot().done == 0
        bar.update(1000)
    assert restarted.snapshot().done == 1000 and restarted.received == 1000


def test_throttle_lets_through_by_time_or_by_percentage_steps():
    clock = Clock()
    throttle = Throttle(interval_s=1.0, step=5, clock=clock)
    assert throttle.due(0)
    assert not throttle.due(1)
    assert throttle.due(5)
    clock.now += 1.0
    assert throttle.due(6)
    assert not throttle.due(7)
