"""The /diagnostics level for each state the node can be in, from counter snapshots."""

from __future__ import annotations

import dataclasses

import pytest

from fanet_ros.node.diagnostics_health import (
    ERROR,
    FAILURES_FOR_ERROR,
    LAST_ERROR_CLEAR_S,
    OK,
    WARN,
    Counts,
    FrameCounters,
    HealthMonitor,
    InputState,
)

TOPIC = "/camera/image"


def source(publishers: int = 1, best_effort: int = 0, since: float | None = 0.0,
           reliability: str = "reliable") -> InputState:
    return InputState(TOPIC, publishers, best_effort, since if publishers else None, reliability)


def run(monitor: HealthMonitor, ticks, **fixed):
    """Feed ``(now, counts, last_received)`` ticks; return the last assessment."""
    health = None
    for now, counts, last_received in ticks:
        health = monitor.assess(now, counts, fixed.get("failures", 0), last_received,
                                fixed.get("last_error", ""), fixed.get("source", source()))
    return health


@pytest.fixture
def monitor() -> HealthMonitor:
    m = HealthMonitor(input_timeout=3.0)
    m.started = 0.0
    return m


def test_flowing_frames_are_ok(monitor):
    ticks = [(t, Counts(received=10 * t, processed=10 * t, published=10 * t), t) for t in range(6)]
    health = run(monitor, ticks)
    assert (health.level, health.reason) == (OK, "ok")
    assert health.message.startswith("30 frames published in 3.0 s")


def test_nothing_published_while_frames_arrive_is_a_warning(monitor):
    ticks = [(t, Counts(received=10 * t, processed=10 * t, failed=10 * t), t) for t in range(5)]
    health = run(monitor, ticks, last_error="RuntimeError: boom")
    assert (health.level, health.reason) == (WARN, "nothing_published")
    assert "30 failed" in health.message and "boom" in health.message


def test_all_invalid_is_a_warning_with_the_reason(monitor):
    ticks = [(t, Counts(received=5 * t, processed=5 * t, invalid=5 * t), t) for t in range(5)]
    health = run(monitor, ticks, last_error="unsupported encoding '32FC1'")
    assert (health.level, health.reason) == (WARN, "all_invalid")
    assert "32FC1" in health.message


def test_frames_nobody_asked_for_are_ok(monitor):
    ticks = [(t, Counts(received=10 * t, skipped=10 * t), t) for t in range(5)]
    assert run(monitor, ticks).reason == "no_subscribers"
    assert run(monitor, ticks).level == OK


def test_repeated_worker_failures_are_an_error(monitor):
    health = run(monitor, [(1.0, Counts(received=3, processed=3, failed=3), 1.0)],
                 failures=FAILURES_FOR_ERROR, last_error="InvalidArgument: Gather")
    assert (health.level, health.reason) == (ERROR, "worker_failing")


@pytest.mark.parametrize(
    ("state", "reason", "words"),
    [
        (source(publishers=0), "no_publisher", "nothing publishes /camera/image"),
        (source(best_effort=1, reliability="best_effort"), "best_effort_nothing_arrives",
         "fastdds_large_images.xml"),
        (source(), "reliable_nothing_arrives", "is the camera streaming"),
        (source(since=4.0), "waiting", "no images received yet"),
        (dataclasses.replace(source(publishers=0),
                             other_types=("sensor_msgs/msg/CompressedImage",)),
         "wrong_message_type", "the node reads <image>/compressed, image_transport's name"),
        (dataclasses.replace(source(publishers=0), topic="/cam/image_raw/compressed",
                             other_types=("sensor_msgs/msg/CompressedImage",)),
         "wrong_message_type", "set image_transport:=compressed and remap image to the base "
                               "topic (/cam/image_raw)"),
        (dataclasses.replace(source(publishers=0), expected_type="sensor_msgs/msg/CompressedImage",
                             other_types=("sensor_msgs/msg/Image",)),
         "wrong_message_type", "carries sensor_msgs/msg/Image, not sensor_msgs/msg/Compressed"),
    ],
)
def test_no_frame_at_all_says_why(monitor, state, reason, words):
    health = run(monitor, [(5.0, Counts(), None)], source=state)
    assert (health.level, health.reason) == (WARN, reason)
    assert words in health.message


def test_input_that_stopped_is_a_warning(monitor):
    ticks = [(t, Counts(received=min(t, 2) * 10, processed=min(t, 2) * 10,
                        published=min(t, 2) * 10), min(t, 2)) for t in range(7)]
    health = run(monitor, ticks)
    assert (health.level, health.reason) == (WARN, "input_stopped")
    assert "for 4.0 s" in health.message and "20 received before" in health.message


def test_frames_lost_in_transport_on_a_best_effort_subscription(monitor):
    state = source(best_effort=1, reliability="best_effort")
    ticks = [(t, Counts(received=2 * t, processed=2 * t, published=2 * t, lost=8 * t), t)
             for t in range(4)]
    health = run(monitor, ticks, source=state)
    assert (health.level, health.reason) == (WARN, "frames_lost_in_transport")
    assert "24 of the last 30 frames" in health.message and "reliable" in health.message


def test_last_error_is_kept_with_its_age_then_dropped_after_a_healthy_period():
    counters = FrameCounters()
    counters.error("unsupported encoding '32FC1'", failure=False)
    start = counters.last_error_at
    assert counters.take_last_error(start + 1.0) == ("unsupported encoding '32FC1'", 1.0)
    # no frame published since: the error stays however old it is
    assert counters.take_last_error(start + 2 * LAST_ERROR_CLEAR_S) is not None
    counters.add(received=1, processed=1, published=1)
    assert counters.take_last_error(start + 2 * LAST_ERROR_CLEAR_S) is None
    assert counters.counts() == Counts(received=1, processed=1, published=1, invalid=1)


def test_a_publish_ends_the_failure_streak_but_not_the_count():
    counters = FrameCounters()
    for _ in range(2):
        counters.error("RuntimeError", failure=True)
    assert counters.consecutive_failures == 2
    counters.add(published=1)
    assert counters.consecutive_failures == 0 and counters.counts().failed == 2


def test_stage_times_of_a_frame_still_in_flight_count_with_it():
    """A diagnostics tick between a frame's inference and its publishing keeps its times."""
    from fanet_ros.segmentation_pipeline import StageTimes

    times = StageTimes()
    times.add("convert", 0.002)
    times.add("inference", 0.010)
    assert times.take() == ({}, 0)  # nothing finished yet: nothing reported, nothing lost
    times.add("publish", 0.001)
    times.frames += 1
    means, frames = times.take()
    assert frames == 1
    assert means == pytest.approx({"convert": 2.0, "inference": 10.0, "publish": 1.0})


def test_an_activation_starts_the_judgement_again(monitor):
    """A managed node inactive for a while: on activate, the camera gets its grace period
    (not 'no image arrived in 4 s', nor 'input stopped' from frames before deactivate)."""
    flowing = [(t, Counts(received=10 * t, processed=10 * t, published=10 * t), t)
               for t in range(3)]
    assert run(monitor, flowing).reason == "ok"
    monitor.restart(10.0)  # deactivated at 2 s, activated again at 10 s
    before = Counts(received=20, processed=20, published=20)
    health = run(monitor, [(10.2, before, 2.0)])
    assert (health.level, health.reason) == (WARN, "waiting"), health
    health = run(monitor, [(13.5, before, 2.0)])  # still nothing since the activation
    assert (health.level, health.reason) == (WARN, "reliable_nothing_arrives"), health
    ticks = [(14.0 + t, Counts(received=20 + 5 * t, processed=20 + 5 * t,
                               published=20 + 5 * t), 14.0 + t) for t in range(4)]
    health = run(monitor, ticks)
    assert (health.level, health.reason) == (OK, "ok")
    assert health.message.startswith("15 frames published in 3.0 s")  # not since 2 s


def test_a_restarted_throughput_watch_forgets_the_buckets_before():
    from fanet_ros.node.throughput_watch import ThroughputWatch

    watch = ThroughputWatch(bucket_s=1.0)
    for t in range(5):
        watch.add(float(t), 30 * t, 30 * t, 50.0, 5.0, 0.0)
    assert watch.buckets
    watch.restart()
    assert not watch.buckets and watch._start is None
