"""Header stamps of incoming frames: which are malformed, and which can time latency.

``builtin_interfaces/Time`` allows any int32 ``sec`` (negative too: before 1970) and
``nanosec`` in 0..999999999. A larger ``nanosec`` is malformed: the frame is dropped as
invalid input, since copying its stamp into the outputs would hand the fault downstream
(message_filters and tf would read another time). A zero or negative stamp is legal: the
outputs carry it, and latency is not measured for it (no meaningful time since it). A
stamp ahead of this node's clock says the clocks disagree: the frame is published and
counted, latency is not measured for it, and the node warns about the skew. Under
``use_sim_time`` the node's clock moves only when ``/clock`` does (``ros2 bag play
--clock`` publishes at 40 Hz), so a stamp up to :data:`SIM_CLOCK_STEP_S` ahead is taken
for the clock's step, not skew: it counts as no delay.
"""

from __future__ import annotations

from typing import Any

from fanet_ros.image_conversion import ImageConversionError

NANOSECONDS = 1_000_000_000

SIM_CLOCK_STEP_S = 0.1
"""How far a stamp may be ahead of a ``/clock``-driven clock: a tolerance that covers the
step of ``/clock`` published at 10 Hz or faster (``--clock`` defaults to 40 Hz, 25 ms
steps); skew smaller than that goes unnoticed under sim time."""


def seconds_since_stamp(stamp_ns: int, now_ns: int, sim_time: bool) -> float | None:
    """Seconds from a positive stamp to ``now_ns``: ``None`` for a zero or negative stamp
    or one ahead of the clock (by more than one ``/clock`` step under sim time, where
    less counts as 0)."""
    if stamp_ns <= 0:
        return None
    since = (now_ns - stamp_ns) / NANOSECONDS
    if since >= 0.0:
        return since
    return 0.0 if sim_time and -since <= SIM_CLOCK_STEP_S else None


def stamp_nanoseconds(stamp: Any) -> int:
    """Nanoseconds since the epoch of a valid stamp (negative before 1970)."""
    return int(stamp.sec) * NANOSECONDS + int(stamp.nanosec)


def check_stamp(stamp: Any) -> None:
    """Raise :class:`ImageConversionError` for a malformed header stamp."""
    if not 0 <= stamp.nanosec < NANOSECONDS:
        raise ImageConversionError(
            f"malformed header stamp: nanosec {stamp.nanosec} is not below 1e9 "
            f"(sec {stamp.sec}); the publisher must carry whole seconds into sec"
        )


def clock_skew_note(ahead_s: float, topic: str) -> str:
    """The warning for frames stamped ``ahead_s`` seconds after they arrived."""
    return (
        f"clock skew: frames on {topic} are stamped {ahead_s:.3f} s after this node received "
        "them. The camera's clock and this host's disagree (synchronise them with chrony or "
        "PTP), or only one side uses sim time (use_sim_time). Frames are published; latency "
        "is not measured for them"
    )
