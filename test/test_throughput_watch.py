"""Health WARNs when the output rate or latency drifts well off its recent best.

The timelines are those of the 5-minute soaks (30 Hz 640x480, every output subscribed):
after about 4 minutes the output fell to 9-16 Hz and the latency from ~38 to 110-200 ms
while /diagnostics said OK. bench/soak.py found why: the camera's frames then reach every
subscriber in pairs (45 % within a few ms of the one before), stamp to receipt 14 -> 55 ms,
and the newest-frame slot keeps one of each pair.
"""

from __future__ import annotations

from fanet_ros.node.throughput_watch import ArrivalWindow, ThroughputWatch

TOPIC = "/camera/image"


def feed(watch: ThroughputWatch, start: float, seconds: int, input_hz: float,
         output_hz: float, latency_ms: float, delay_ms: float, totals: list[float],
         bursty: float | None = 0.0) -> float:
    """One diagnostics tick a second; ``totals`` = [taken, published], updated."""
    for i in range(1, seconds + 1):
        totals[0] += input_hz
        totals[1] += output_hz
        watch.add(start + i, int(totals[0]), int(totals[1]), latency_ms, delay_ms, bursty)
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


def test_arrivals_in_pairs_are_a_burst_share_and_even_ones_are_not():
    window = ArrivalWindow()
    for i in range(30):  # 30 Hz with a little jitter, delays 10-14 ms
        window.add(i / 30 + 0.002 * (i % 3), 0.010 + 0.002 * (i % 3))
    delay_ms, share = window.take()
    assert share == 0.0 and 10.0 <= delay_ms <= 14.0
    for i in range(15):  # the soak after 4 minutes: two frames every 66 ms, one held back
        window.add(2 * i / 30, 0.050)
        window.add(2 * i / 30 + 0.001, 0.015)
    delay_ms, share = window.take()
    assert 0.45 <= share <= 0.55 and delay_ms == 50.0
    window.add(1.0, None)  # too few frames to tell, no stamp: nothing claimed
    assert window.take() == (None, None)


def test_output_behind_bursty_input_names_the_bursts_not_the_model():
    watch, totals = ThroughputWatch(), [0.0, 0.0]
    now = feed(watch, 0.0, 220, 30.0, 30.0, 38.0, 14.0, totals)
    feed(watch, now, 11, 30.0, 15.0, 190.0, 55.0, totals, bursty=0.45)
    drift = watch.assess(TOPIC, 1)
    assert drift is not None and drift.reason == "input_bursty", drift
    assert "45 % of the frames arrive in bursts" in drift.message
    assert "stamp to receipt 55 ms, 14 ms at best" in drift.message
    assert "fastdds_large_images.xml" in drift.message
    # the same output with even arrivals is the worker falling behind
    watch, totals = ThroughputWatch(), [0.0, 0.0]
    now = feed(watch, 0.0, 220, 30.0, 30.0, 38.0, 14.0, totals)
    feed(watch, now, 11, 30.0, 15.0, 190.0, 14.0, totals, bursty=0.02)
    assert watch.assess(TOPIC, 1).reason == "output_behind_input"
