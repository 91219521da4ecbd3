"""Health WARNs when the output rate or latency drifts well off its recent best.

The timelines are those of the 5-minute soaks (30 Hz 640x480, every output subscribed):
after about 4 minutes the output fell to 9-14 Hz and the latency from ~38 to 110-175 ms
while /diagnostics said OK.
"""

from __future__ import annotations

from fanet_ros.throughput_watch import ThroughputWatch

TOPIC = "/camera/image"


def feed(watch: ThroughputWatch, start: float, seconds: int, input_hz: float,
         output_hz: float, latency_ms: float, delay_ms: float, totals: list[float]) -> float:
    """One diagnostics tick a second; ``totals`` = [taken, published], updated."""
    for i in range(1, seconds + 1):
        totals[0] += input_hz
        totals[1] += output_hz
        watch.add(start + i, int(totals[0]), int(totals[1]), latency_ms, delay_ms)
    return start + seconds


def test_a_steady_stream_is_fine_and_the_first_buckets_never_warn():
    watch, totals = ThroughputWatch(), [0.0, 0.0]
    now = feed(watch, 0.0, 25, 30.0, 5.0, 400.0, 10.0, totals)  # settling: nothing said
    assert watch.assess(TOPIC, 1) is None
    watch = ThroughputWatch()
    feed(watch, now, 240, 30.0, 30.0, 38.0, 8.0, [0.0, 0.0])
    assert watch.assess(TOPIC, 1) is None


def test_the_soak_slowdown_warns_and_names_the_camera_connection():
    watch, totals = ThroughputWatch(), [0.0, 0.0]
    now = feed(watch, 0.0, 220, 30.0, 30.0, 38.0, 8.0, totals)
    assert watch.assess(TOPIC, 1) is None
    feed(watch, now, 11, 11.0, 11.0, 140.0, 105.0, totals)
    drift = watch.assess(TOPIC, 1)
    assert drift is not None and drift.reason == "output_rate_dropped", drift
    assert "11.0 Hz from 30.0 Hz" in drift.message and "camera" in drift.message


def test_a_worker_that_cannot_keep_up_warns():
    watch, totals = ThroughputWatch(), [0.0, 0.0]
    feed(watch, 0.0, 60, 30.0, 9.0, 60.0, 8.0, totals)
    drift = watch.assess(TOPIC, 1)
    assert drift is not None and drift.reason == "output_behind_input", drift


def test_latency_rising_at_full_rate_warns_and_says_where():
    watch, totals = ThroughputWatch(), [0.0, 0.0]
    now = feed(watch, 0.0, 120, 30.0, 30.0, 38.0, 8.0, totals)
    feed(watch, now, 11, 30.0, 30.0, 130.0, 100.0, totals)
    drift = watch.assess(TOPIC, 1)
    assert drift is not None and drift.reason == "latency_rising", drift
    assert "transport" in drift.message
    watch, totals = ThroughputWatch(), [0.0, 0.0]
    now = feed(watch, 0.0, 120, 30.0, 30.0, 38.0, 8.0, totals)
    feed(watch, now, 11, 30.0, 30.0, 130.0, 9.0, totals)
    drift = watch.assess(TOPIC, 1)
    assert drift is not None and "the node" in drift.message


def test_a_camera_that_stops_or_leaves_is_left_to_the_silence_checks():
    watch, totals = ThroughputWatch(), [0.0, 0.0]
    now = feed(watch, 0.0, 120, 30.0, 30.0, 38.0, 8.0, totals)
    feed(watch, now, 11, 0.0, 0.0, 38.0, 8.0, totals)
    assert watch.assess(TOPIC, 1) is None
    assert watch.assess(TOPIC, 0) is None
