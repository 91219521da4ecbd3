"""The node's frame counters and the level they earn on /diagnostics.

:class:`FrameCounters` is written by the worker and the subscription callback
and read by the diagnostics timer, under one lock (the pipeline's stage timers
take the same lock). :class:`HealthMonitor` turns successive snapshots into a
level and a message that says what is wrong and what to do:

- ERROR: the worker failed on :data:`FAILURES_FOR_ERROR` frames in a row (a
  bug or a broken model, counted as ``frames_failed``, apart from bad input);
- WARN: no frame yet (and why, when a publisher is there), input that stopped
  after having flowed, a tenth or more of the frames lost in transport (best
  effort), or frames that arrive while nothing is published for
  ``input_timeout`` seconds (all invalid, or all failing);
- OK otherwise, also while nobody subscribes to an output (frames are skipped).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, replace

FAILURES_FOR_ERROR = 3
"""Consecutive worker failures that turn /diagnostics to ERROR."""
LAST_ERROR_CLEAR_S = 5.0
"""``last_error`` is dropped after this long without a new one, once frames are published."""
LARGE_IMAGES_FIX = (
    "frames larger than the transport carries best-effort are dropped (Fast DDS: 512 KiB "
    "shared-memory segment by default). Start the camera driver with "
    "FASTDDS_DEFAULT_PROFILES_FILE=<fanet_ros share>/config/fastdds_large_images.xml "
    "(FASTRTPS_DEFAULT_PROFILES_FILE on Humble and Jazzy; this node too: "
    "dds_profile:=large_images), or make the camera publish reliable"
)

OK, WARN, ERROR = 0, 1, 2
"""``diagnostic_msgs/DiagnosticStatus`` levels."""


@dataclass(frozen=True)
class Health:
    level: int
    reason: str
    """A stable name for the state (``ok``, ``input_stopped``...), reported as ``health``."""
    message: str


@dataclass(frozen=True)
class Counts:
    """Totals since start-up."""

    received: int = 0
    processed: int = 0
    """Frames the worker took (not skipped for lack of subscribers)."""
    published: int = 0
    invalid: int = 0
    failed: int = 0
    skipped: int = 0
    too_large: int = 0
    """Compressed frames over ``max_decoded_megapixels`` (also counted in ``invalid``)."""
    lost: int = 0
    """Frames the transport reported lost before they reached the node."""


class FrameCounters:
    """Thread-safe frame counts, the worker's failure streak and the last error."""

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self._counts = Counts()
        self.consecutive_failures = 0
        self.last_received: float | None = None
        """``time.monotonic()`` of the newest frame."""
        self.last_error = ""
        self.last_error_at: float | None = None
        self._published_since_error = False

    def add(self, **increments: int) -> None:
        """Add to the named counts (``received=1``...); a publish ends a failure streak."""
        now = time.monotonic()
        with self.lock:
            self._counts = replace(
                self._counts,
                **{k: getattr(self._counts, k) + v for k, v in increments.items()},
            )
            if increments.get("received"):
                self.last_received = now
            if increments.get("published"):
                self.consecutive_failures = 0
                self._published_since_error = True

    def error(self, text: str, failure: bool) -> None:
        """Record a dropped frame's reason; ``failure``: the worker failed, not the input."""
        with self.lock:
            self.last_error, self.last_error_at = text, time.monotonic()
            self._published_since_error = False
            if failure:
                self.consecutive_failures += 1
                self._counts = replace(self._counts, failed=self._counts.failed + 1)
            else:
                self._counts = replace(self._counts, invalid=self._counts.invalid + 1)

    def counts(self) -> Counts:
        with self.lock:
            return self._counts

    def take_last_error(self, now: float) -> tuple[str, float] | None:
        """The last error and its age in seconds; forgotten after a healthy period."""
        with self.lock:
            if self.last_error_at is None:
                return None
            age = now - self.last_error_at
            if age >= LAST_ERROR_CLEAR_S and self._published_since_error:
                self.last_error, self.last_error_at = "", None
                return None
            return self.last_error, age


@dataclass(frozen=True)
class InputState:
    """What the node knows about its input topic at a diagnostics tick."""

    topic: str
    publishers: int
    best_effort_publishers: int
    publishers_since: float | None
    """``time.monotonic()`` since when at least one publisher has been seen."""
    reliability: str
    """The subscription's reliability now."""
    expected_type: str = "sensor_msgs/msg/Image"
    other_types: tuple[str, ...] = ()
    """Types other publishers put on the topic: their frames cannot arrive."""


def wrong_type_message(source: InputState) -> str:
    """What to change when only publishers of another type are on the input topic."""
    found = " and ".join(source.other_types)
    text = f"{source.topic} carries {found}, not {source.expected_type}: nothing arrives"
    compressed = "sensor_msgs/msg/CompressedImage"
    if source.expected_type.endswith("/Image") and compressed in found:
        if source.topic.endswith("/compressed"):
            return (f"{text}. For compressed input set image_transport:=compressed and remap "
                    f"image to the base topic ({source.topic.removesuffix('/compressed')})")
        return (f"{text}. With image_transport:=compressed the node reads <image>/compressed, "
                "image_transport's name: publish the compressed frames there")
    if source.expected_type == compressed and "sensor_msgs/msg/Image" in found:
        return f"{text}. For raw input set image_transport:=raw"
    return f"{text}. Remap image to a camera topic"


class HealthMonitor:
    """Level and message from successive :class:`Counts` snapshots."""

    def __init__(self, input_timeout: float) -> None:
        self.input_timeout = input_timeout
        self.started = time.monotonic()
        self._history: deque[tuple[float, Counts]] = deque()

    def restart(self, now: float) -> None:
        """Judge from ``now`` (``time.monotonic()``, a lifecycle activation) on: the time
        before, when frames were not wanted, counts neither as silence nor in the windows."""
        self.started = now
        self._history.clear()

    def assess(
        self,
        now: float,
        counts: Counts,
        consecutive_failures: int,
        last_received: float | None,
        last_error: str,
        source: InputState,
    ) -> Health:
        """The level, reason and message for this tick."""
        self._history.append((now, counts))
        while len(self._history) > 1 and now - self._history[1][0] >= self.input_timeout:
            self._history.popleft()
        since, before = self._history[0]
        window = now - since
        if consecutive_failures >= FAILURES_FOR_ERROR:
            return Health(ERROR, "worker_failing", (
                f"the worker failed on the last {consecutive_failures} frames "
                f"({counts.failed} failures in all): {last_error}"
            ))
        silence = self._silence(now, counts, last_received, source)
        if silence is not None:
            return silence
        received = counts.received - before.received
        lost = counts.lost - before.lost
        if lost and 10 * lost >= received + lost and source.reliability == "best_effort":
            return Health(WARN, "frames_lost_in_transport", (
                f"{lost} of the last {received + lost} frames on {source.topic} were lost in "
                f"transport (best-effort subscription): {LARGE_IMAGES_FIX}"
            ))
        skipped = counts.skipped - before.skipped
        stalled = counts.published == before.published and received > skipped
        if window >= self.input_timeout and stalled:
            processed = counts.processed - before.processed
            invalid = counts.invalid - before.invalid
            if processed and invalid >= processed:
                return Health(WARN, "all_invalid", (
                    f"all {invalid} frames of the last {window:.0f} s were invalid, none "
                    f"published: {last_error}"
                ))
            return Health(WARN, "nothing_published", (
                f"{received} frames received in the last {window:.0f} s but none published "
                f"({processed} taken by the worker: {counts.failed - before.failed} failed, "
                f"{invalid} invalid){': ' + last_error if last_error else ''}"
            ))
        if received and skipped >= received:
            return Health(OK, "no_subscribers", (
                f"{received} frames received, none asked for: no output has a subscriber"
            ))
        published = counts.published - before.published
        return Health(OK, "ok", f"{published} frames published in {window:.1f} s")

    def _silence(
        self, now: float, counts: Counts, last_received: float | None, source: InputState
    ) -> Health | None:
        """Why no frame has come for ``input_timeout`` seconds, or ``None`` if frames come."""
        if last_received is not None and last_received < self.started:
            last_received = None  # before this activation
        quiet = now - (self.started if last_received is None else last_received)
        if last_received is not None and quiet < self.input_timeout:
            return None
        since = now if source.publishers_since is None else max(source.publishers_since,
                                                                self.started)
        waited = now - since
        if source.publishers and waited < self.input_timeout or quiet < self.input_timeout:
            return Health(WARN, "waiting", (
                f"no images received yet from {source.publishers} publisher(s) on {source.topic}"
            ))
        if source.publishers == 0:
            if source.other_types:
                return Health(WARN, "wrong_message_type", wrong_type_message(source))
            if last_received is None:
                return Health(WARN, "no_publisher", (
                    f"no images received yet: nothing publishes {source.topic}"
                ))
            return Health(WARN, "input_stopped", (
                f"input stopped: no frame for {quiet:.1f} s ({counts.received} received "
                f"before) and nothing publishes {source.topic} now"
            ))
        silent_since_they_came = last_received is None or last_received < since
        if silent_since_they_came and source.best_effort_publishers:
            lost = f" ({counts.lost} frames lost in transport)" if counts.lost else ""
            return Health(WARN, "best_effort_nothing_arrives", (
                f"no image arrived in {waited:.0f} s although {source.best_effort_publishers} "
                f"best-effort publisher(s) are on {source.topic}{lost}: {LARGE_IMAGES_FIX}"
            ))
        if silent_since_they_came:
            return Health(WARN, "reliable_nothing_arrives", (
                f"no image arrived in {waited:.0f} s from {source.publishers} reliable "
                f"publisher(s) on {source.topic}: is the camera streaming?"
            ))
        return Health(WARN, "input_stopped", (
            f"input stopped: no frame on {source.topic} for {quiet:.1f} s "
            f"({counts.received} received before; {source.publishers} publisher(s) still there)"
        ))
