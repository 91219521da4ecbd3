"""The node's topics in one table: README.md and docs/node.md show :func:`topics_markdown`
(tests keep both in sync with it, and with what a running node publishes).

``python -m fanet_ros.node.topics`` prints the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from fanet_ros.image_conversion import CHANNELS, CONVERTED_TO_BGR


@dataclass(frozen=True)
class Topic:
    name: str
    """As the node names it: relative (``image``), private (``~/label``) or absolute."""
    type: str
    """ROS message type, ``package/Name``."""
    qos: str
    what: str
    published: bool
    """True for what the node publishes, False for what it subscribes to."""
    note: str = ""
    """Shown after the type (``, mono8``, `` (JSON)``)."""
    label: str = ""
    """Shown instead of the name (``image`` (remap it))."""


TOPICS: tuple[Topic, ...] = (
    Topic("image", "sensor_msgs/Image", "keep last 5; reliable when every publisher is, else "
          "best effort (`input_reliability`)", f"camera input: {', '.join(CHANNELS)}; "
          f"{', '.join(CONVERTED_TO_BGR)} (converted to bgr8, as cv_bridge does)",
          published=False, label="`image` (remap it)"),
    Topic("image/compressed", "sensor_msgs/CompressedImage", "as `image`", "used instead with "
          "`image_transport:=compressed` (jpeg, png); follows the remapped `image` name as "
          "image_transport does", published=False),
    Topic("~/label", "sensor_msgs/Image", "reliable, keep last 5",
          "class id per pixel, 255 = unknown", published=True, note=", mono8"),
    Topic("~/color", "sensor_msgs/Image", "reliable, keep last 5",
          "class colours (channel order follows the input)", published=True,
          note=", rgb8 or bgr8"),
    Topic("~/overlay", "sensor_msgs/Image", "reliable, keep last 5",
          "input blended with the colours (`overlay_alpha`)", published=True,
          note=", rgb8 or bgr8"),
    Topic("~/color/compressed", "sensor_msgs/CompressedImage", "reliable, keep last 5",
          "`~/color` as JPEG (`jpeg_quality`), for a viewer on another machine (rviz2's "
          "compressed transport); encoded only while subscribed", published=True),
    Topic("~/overlay/compressed", "sensor_msgs/CompressedImage", "reliable, keep last 5",
          "`~/overlay` as JPEG, the same way", published=True),
    Topic("~/confidence", "sensor_msgs/Image", "reliable, keep last 5",
          "255 x the winning class's softmax probability per pixel, so a planner can ignore "
          "uncertain pixels (logits and probabilities models; a labels model publishes none)",
          published=True, note=", mono8"),
    Topic("~/camera_info", "sensor_msgs/CameraInfo", "reliable, keep last 5",
          "the input's `camera_info` (read beside `image`, matched by stamp) with each output's "
          "header, scaled with `output_resolution:=model`", published=True),
    Topic("~/label_info", "std_msgs/String", "reliable, transient local, depth 1",
          "model, dataset, ignore label, class ids, names and colours; sent once, latched",
          published=True, note=" (JSON)"),
    Topic("/diagnostics", "diagnostic_msgs/DiagnosticArray", "reliable, depth 10",
          "health, rates, latency, stage times, counts, every `diagnostics_period` s "
          "(docs/node.md, Behaviour)", published=True),
)


IMAGE_OUTPUTS = tuple(topic.name.removeprefix("~/") for topic in TOPICS
                      if topic.published and topic.type == "sensor_msgs/Image")
"""``label``, ``color``, ``overlay``, ``confidence``: the image outputs, in the table's order
(what the node creates a publisher for, per camera)."""
COMPRESSED_OUTPUTS = tuple(topic.name.removeprefix("~/").removesuffix("/compressed")
                           for topic in TOPICS
                           if topic.published and topic.type == "sensor_msgs/CompressedImage")
"""``color``, ``overlay``: the image outputs also published as ``<name>/compressed``."""


def topics_markdown() -> str:
    """The topics as a Markdown table."""
    rows = ["| topic | type | QoS | what |", "|---|---|---|---|"]
    for topic in TOPICS:
        rows.append(f"| {topic.label or f'`{topic.name}`'} | {topic.type}{topic.note} | "
                    f"{topic.qos} | {topic.what} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(topics_markdown())
