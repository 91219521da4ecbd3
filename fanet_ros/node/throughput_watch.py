"""WARN when the output rate or the latency drifts well off what the node did a while ago.

The frame counters say what is wrong when frames stop; a node that still publishes, but at a
third of its rate or with three times its latency, stays OK by them. :class:`ThroughputWatch`
keeps the rates and median latencies of the last minutes in :data:`BUCKET_S` buckets and
compares the newest bucket with the best ones (after :data:`SETTLE_BUCKETS` buckets, so a
test or a camera's first seconds never count):

- ``output_behind_input``: the worker publishes well under the rate frames arrive at (the
  model or the outputs are too slow for the input; frames_dropped_stale counts the rest);
- ``output_rate_dropped``: the output rate fell well below its recent best while the
  publishers stayed: when the input fell with it, the camera's connection is the cause;
- ``latency_rising``: the median latency rose well above its recent best; the message says
  whether the transport (stamp to receipt) or the node (receipt to publish) took the time.

In 5-minute soaks (30 Hz 640x480 reliable rclpy camera, every output subscribed) the output
fell to 9-14 Hz and the p95 latency from ~38 to 110-175 ms after 3.5-4 minutes while the node's
CPU fell and a fresh camera process restored 30 Hz at once: an input-side slowdown, which the
second and third checks report.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

BUCKET_S = 10.0
"""Seconds per bucket."""
MEMORY_S = 300.0
"""How far back the best bucket is looked for."""
SETTLE_BUCKETS = 3
"""Buckets with frames before any comparison."""
RATE_FRACTION = 0.6
"""A rate under this fraction of its reference is "well below"."""
LATENCY_FACTOR = 2.0
LATENCY_MARGIN_MS = 30.0
"""A latency over ``LATENCY_FACTOR`` x its best and ``LATENCY_MARGIN_MS`` above it is "well
above"."""
MIN_RATE_HZ = 2.0
"""Rates under this are too few frames to judge."""
BURST_GAP_FRACTION = 0.25
"""A frame that arrives within this fraction of the mean period after the one before it
arrives in a burst."""
BURSTY_SHARE = 0.2
"""With at least this share of frames arriving in bursts, output behind input is the input's
timing: the newest-frame slot keeps one frame of each burst."""
MAX_ARRIVALS = 10_000
"""Arrivals kept between two diagnostics ticks (a bound for very slow ticks)."""


@dataclass(frozen=True)
class Bucket:
    input_hz: float
    output_hz: float
    latency_ms: float | None
    """Median stamp-to-publish latency of the diagnostics ticks in the bucket."""
    input_delay_ms: float | None
    """Median stamp-to-receipt delay: the camera's and the transport's share."""
    bursty: float | None = None
    """Median share of frames that arrived in bursts (:class:`ArrivalWindow`)."""


@dataclass(frozen=True)
class Drift:
    reason: str
    message: str


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def burst_share(times: list[float]) -> float | None:
    """Share of the gaps between ascending arrival ``times`` shorter than
    :data:`BURST_GAP_FRACTION` of their mean; ``None`` for fewer than two arrivals."""
    if len(times) < 2:
        return None
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    mean_gap = (times[-1] - times[0]) / len(gaps)
    return sum(gap < BURST_GAP_FRACTION * mean_gap for gap in gaps) / len(gaps)


class ArrivalWindow:
    """Every received frame's arrival, between two diagnostics ticks: how regular the input
    is and its stamp-to-receipt delay (the processed frames' ``input_delay`` misses the
    frames a burst makes stale). Thread-safe: the subscription adds, the tick takes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._delays: list[float] = []

    def add(self, arrival_s: float, delay_s: float | None) -> None:
        """A frame arrived at monotonic ``arrival_s``, ``delay_s`` after its stamp
        (``None``: no usable stamp)."""
        with self._lock:
            if len(self._times) < MAX_ARRIVALS:
                self._times.append(arrival_s)
                if delay_s is not None and delay_s >= 0.0:
                    self._delays.append(delay_s)

    def take(self) -> tuple[float | None, float | None]:
        """``(median delay in ms, share of frames that arrived in bursts)`` since the last
        call; ``None`` for what too few frames cannot tell."""
        with self._lock:
            times, delays = self._times, self._delays
            self._times, self._delays = [], []
        median = _median(delays)
        if len(times) < 5:
            return (None if median is None else 1000.0 * median), None
        return (None if median is None else 1000.0 * median), burst_share(times)


class ThroughputWatch:
    """Feed it each diagnostics tick; :meth:`assess` says when throughput drifted."""

    def __init__(self, bucket_s: float = BUCKET_S, memory_s: float = MEMORY_S) -> None:
        self.bucket_s, self.memory_s = bucket_s, memory_s
        self.buckets: deque[tuple[float, Bucket]] = deque()
        self._start: tuple[float, int, int] | None = None
        """(time, frames taken, frames published) when the open bucket began."""
        self._latencies: list[float] = []
        self._delays: list[float] = []
        self._bursty: list[float] = []

    def restart(self) -> None:
        """Forget what came before (a lifecycle activation): no bucket spans inactive time."""
        self.buckets.clear()
        self._start = None
        self._latencies, self._delays, self._bursty = [], [], []

    def add(self, now: float, taken: int, published: int, latency_ms: float | None,
            input_delay_ms: float | None, bursty: float | None = None) -> None:
        """One tick: totals of frames taken (received, not skipped) and published, the
        tick's median latency and input delay (``None`` when no frame was published), and
        the share of its frames that arrived in bursts (``None``: too few to tell)."""
        if self._start is None:
            self._start = (now, taken, published)
            return
        if latency_ms is not None:
            self._latencies.append(latency_ms)
        if input_delay_ms is not None:
            self._delays.append(input_delay_ms)
        if bursty is not None:
            self._bursty.append(bursty)
        since, taken0, published0 = self._start
        if now - since < self.bucket_s:
            return
        span = now - since
        bucket = Bucket((taken - taken0) / span, (published - published0) / span,
                        _median(self._latencies), _median(self._delays),
                        _median(self._bursty))
        self.buckets.append((now, bucket))
        while self.buckets and now - self.buckets[0][0] > self.memory_s:
            self.buckets.popleft()
        self._start = (now, taken, published)
        self._latencies, self._delays, self._bursty = [], [], []

    def assess(self, topic: str, publishers: int) -> Drift | None:
        """A drift of the newest bucket from the best of the others, or ``None``."""
        flowing = [b for _, b in self.buckets if b.input_hz >= MIN_RATE_HZ]
        if len(flowing) < SETTLE_BUCKETS or not publishers:
            return None
        now = self.buckets[-1][1]
        if now.input_hz < MIN_RATE_HZ:
            return None  # stopped or nearly: the silence checks speak for that
        earlier = flowing[:-1]
        bursts = self._bursts(now, earlier, topic)
        if now.output_hz < RATE_FRACTION * now.input_hz:
            if bursts:
                return bursts
            return Drift("output_behind_input", (
                f"output {now.output_hz:.1f} Hz of {now.input_hz:.1f} Hz taken from {topic}: "
                "the model and outputs take longer than the frames come (frames_dropped_stale "
                "counts the rest): fewer outputs, a smaller input size or a faster backend"
            ))
        best_out = max(b.output_hz for b in earlier)
        best_in = max(b.input_hz for b in earlier)
        if now.output_hz < RATE_FRACTION * best_out:
            if now.input_hz < RATE_FRACTION * best_in:
                cause = (f"the input fell with it ({now.input_hz:.1f} of {best_in:.1f} Hz) "
                         f"while {publishers} publisher(s) stay: the camera or its connection "
                         "slowed (reliable large frames backing up in DDS; a fresh camera "
                         "connection restores the rate)")
            elif bursts:
                return bursts
            else:
                cause = "the input did not: the node itself slowed (CPU contention?)"
            return Drift("output_rate_dropped", (
                f"output rate fell to {now.output_hz:.1f} Hz from {best_out:.1f} Hz in the "
                f"last {self.memory_s / 60:.0f} min; {cause}"
            ))
        latencies = [b.latency_ms for b in earlier if b.latency_ms is not None]
        if now.latency_ms is None or not latencies:
            return None
        best = min(latencies)
        if now.latency_ms > max(LATENCY_FACTOR * best, best + LATENCY_MARGIN_MS):
            delays = [b.input_delay_ms for b in earlier if b.input_delay_ms is not None]
            rise = now.latency_ms - best
            delay_rise = (now.input_delay_ms - min(delays)
                          if delays and now.input_delay_ms is not None else 0.0)
            cause = (f"the transport: frames reach the node {delay_rise:.0f} ms later than "
                     "before (input_delay; a camera connection backing up)"
                     if delay_rise >= rise / 2 else
                     "the node: receipt to publish takes longer (processing; CPU contention?)")
            return Drift("latency_rising", (
                f"median latency {now.latency_ms:.0f} ms, up from {best:.0f} ms in the last "
                f"{self.memory_s / 60:.0f} min; most of the rise is {cause}"
            ))
        return None

    def _bursts(self, now: Bucket, earlier: list[Bucket], topic: str) -> Drift | None:
        """``input_bursty`` when the newest bucket's frames arrive in bursts."""
        if now.bursty is None or now.bursty < BURSTY_SHARE:
            return None
        delays = [b.input_delay_ms for b in earlier if b.input_delay_ms is not None]
        delay = (f"; stamp to receipt {now.input_delay_ms:.0f} ms, {min(delays):.0f} ms at best"
                 if delays and now.input_delay_ms is not None else "")
        return Drift("input_bursty", (
            f"output {now.output_hz:.1f} Hz of {now.input_hz:.1f} Hz from {topic}: "
            f"{100 * now.bursty:.0f} % of the frames arrive in bursts{delay}. Frames are held "
            "back before they reach the node and come together; the node keeps the newest of "
            "each burst (frames_dropped_stale). Likely the camera's publisher or the "
            "transport: with frames over 512 KiB on Fast DDS's default shared memory, start "
            "the camera driver and the node with config/fastdds_large_images.xml "
            "(dds_profile:=large_images); a fresh camera connection restores the rate for a "
            "while"
        ))
