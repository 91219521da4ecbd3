"""The camera model the node republishes, read as image_geometry's PinholeCameraModel reads
it: an info describes images of its ROI (the full sensor when unset) divided by binning."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from fanet_ros.node.camera_info import camera_info_problem, scaled_camera_info

FX, FY, CX, CY = 500.0, 480.0, 320.0, 240.0


def sensor_info(roi: tuple[int, int, int, int] = (0, 0, 0, 0), binning: int = 0) -> CameraInfo:
    """A 640x480 sensor's calibration, with an ROI (x, y, width, height) and binning."""
    info = CameraInfo(height=480, width=640, distortion_model="plumb_bob",
                      binning_x=binning, binning_y=binning)
    info.k = [FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0]
    info.p = [FX, 0.0, CX, -25.0, 0.0, FY, CY, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.d = [0.0] * 5
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = roi
    return info


def pixels_in_image(info: CameraInfo, points: np.ndarray) -> np.ndarray:
    """Where ``points`` (camera frame) land in the image ``info`` describes: the sensor's
    pixel, minus the ROI's offset, divided by the binning (image_geometry's reading)."""
    k = np.array(info.k).reshape(3, 3)
    uv = (k @ points.T).T
    uv = uv[:, :2] / uv[:, 2:]
    if info.roi.width and info.roi.height:
        uv -= (info.roi.x_offset, info.roi.y_offset)
    return uv / (max(info.binning_x, 1), max(info.binning_y, 1))


POINTS = np.array([[0.0, 0.0, 5.0], [1.0, -0.5, 4.0], [-2.0, 1.0, 10.0]])


def test_an_roi_info_describes_the_roi_not_the_full_sensor():
    """The node passed an ROI's info on with full-sensor frames: image_geometry then
    expects ROI-sized images and places the principal point off by the ROI's offset."""
    info = sensor_info(roi=(16, 12, 160, 120))
    assert "describes 160x120 images (WxH) (its ROI) but the frame is 640x480" in \
        camera_info_problem(info, 480, 640)
    assert camera_info_problem(info, 120, 160) == ""
    assert camera_info_problem(sensor_info(binning=2), 240, 320) == ""
    assert camera_info_problem(sensor_info(roi=(0, 0, 640, 480)), 480, 640) == ""


@pytest.mark.parametrize(("roi", "binning", "image", "output"), [
    ((101, 51, 160, 120), 0, (120, 160), (64, 96)),  # ROI offsets that scale to fractions
    ((0, 0, 0, 0), 2, (240, 320), (96, 128)),
    ((0, 0, 0, 0), 0, (480, 640), (384, 512)),
])
def test_a_scaled_info_projects_points_where_they_land_in_the_output(roi, binning, image,
                                                                     output):
    """Rounding the scaled ROI offsets moved the principal point up to half a pixel."""
    info = sensor_info(roi, binning)
    assert camera_info_problem(info, *image) == ""
    sx, sy = output[1] / image[1], output[0] / image[0]
    out = scaled_camera_info(info, sx, sy, Header(frame_id="cam"))
    assert (out.height, out.width) == output and camera_info_problem(out, *output) == ""
    expected = pixels_in_image(info, POINTS) * (sx, sy)
    np.testing.assert_allclose(pixels_in_image(out, POINTS), expected, atol=1e-9)
    p = np.array(out.p).reshape(3, 4)
    assert p[0, 3] == pytest.approx(-25.0 * sx / max(binning, 1))  # Tx with the x scale
