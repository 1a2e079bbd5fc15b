"""One progress count for a whole download: bytes done and total, speed, time left.

``TransferProgress`` is fed from the download threads (through ``tqdm_class``, the hook
huggingface_hub's ``http_get`` reports bytes through) and read by whoever shows progress.
The formatting is pure, for the CLI bar and the editor's ``$/progress`` messages alike.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from finch_lsp.models.catalog import format_size

RATE_WINDOW_S = 5.0
RATE_MIN_SPAN_S = 1.0  # no speed (nor time left) from less than this much measuring


@dataclass(frozen=True)
class ProgressSnapshot:
    """The state of a download at one moment."""

    done: int
    total: int
    rate: float | None
    """Bytes per second over the last few seconds; None before there is a measure."""
    elapsed_s: float

    @property
    def percentage(self) -> int:
        if self.total <= 0:
            return 100
        return max(0, min(100, int(self.done * 100 / self.total)))

    @property
    def seconds_left(self) -> float | None:
        if self.done >= self.total:
            return 0.0
        if not self.rate:
            return None
        return (self.total - self.done) / self.rate


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``1 h 12 min``."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_progress(snapshot: ProgressSnapshot) -> str:
    """``412.0 MiB / 942.3 MiB (43%), 11.2 MiB/s, 47 s left``."""
    text = f"{format_size(snapshot.done)} / {format_size(snapshot.total)} ({snapshot.percentage}%)"
    if snapshot.rate:
        text += f", {format_size(snapshot.rate)}/s"
    left = snapshot.seconds_left
    if left is not None and snapshot.done < snapshot.total:
        text += f", {format_duration(left)} left"
    return text


def format_bar(snapshot: ProgressSnapshot, width: int = 24) -> str:
    """``[#########---------------] 412.0 MiB / 942.3 MiB (43%), 11.2 MiB/s, 47 s left``."""
    filled = width * snapshot.percentage // 100
    return f"[{'#' * filled}{'-' * (width - filled)}] {format_progress(snapshot)}"


class TransferProgress:
    """Thread-safe byte count of one download made of many files."""

    def __init__(
        self,
        total: int,
        done: int = 0,
        listener: Callable[[ProgressSnapshot], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self._done, self._clock, self._listener = total, done, clock, listener
        self.received = 0
        """Bytes that arrived over the network (what ``tqdm_class`` bars reported)."""
        self._started = clock()
        self._samples: deque[tuple[float, int]] = deque([(self._started, done)])
        self._lock = threading.Lock()

    def advance(self, count: int) -> None:
        """``count`` more bytes arrived (negative when a file restarts from zero)."""
        with self._lock:
            self._done += count
            now = self._clock()
            self._samples.append((now, self._done))
            while len(self._samples) > 2 and now - self._samples[1][0] > RATE_WINDOW_S:
                self._samples.popleft()
        if self._listener is not None:
            self._listener(self.snapshot())

    def receive(self, count: int) -> None:
        """``count`` bytes arrived over the network."""
        with self._lock:
            self.received += count
        self.advance(count)

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            now = self._clock()
            first_time, first_done = self._samples[0]
            span = now - first_time
            moved = self._done - first_done
            rate = moved / span if span >= RATE_MIN_SPAN_S and moved > 0 else None
            return ProgressSnapshot(self._done, self.total, rate, now - self._started)

    def tqdm_class(self, counted: int = 0) -> type:
        """A class ``http_get`` can use as ``tqdm_class``: it forwards bytes to this count.

        ``counted`` is how many bytes of the file were already counted as done (a resumed
        partial file); when ``http_get`` starts from another offset (the server ignored the
        Range request) the count is corrected by the difference.
        """
        progress = self

        class ForwardingBar:
            def __init__(self, *args, initial: int = 0, **kwargs) -> None:
                if initial != counted:
                    progress.advance(initial - counted)

            def __enter__(self) -> ForwardingBar:
                return self

            def __exit__(self, *exc_info) -> None:
                return None

            def update(self, n: int | float | None = 1) -> None:
                progress.receive(int(n or 0))

            def close(self) -> None:
                return None

            def set_postfix_str(self, *args, **kwargs) -> None:
                return None

            def refresh(self) -> None:
                return None

        return ForwardingBar


class Throttle:
    """True at most every ``interval_s`` (and whenever the percentage moved by ``step``)."""

    def __init__(self, interval_s: float = 0.5, step: int = 5, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self.step, self._clock = interval_s, step, clock
        self._last_time: float | None = None
        self._last_percentage = -1

    def due(self, percentage: int) -> bool:
        now = self._clock()
        if (
            self._last_time is None
            or now - self._last_time >= self.interval_s
            or percentage >= self._last_percentage + self.step
        ):
            self._last_time, self._last_percentage = now, percentage
            return True
        return False
