"""Pinhole camera for the synthetic street: world -> image projection and near-plane clipping.

World axes: X to the right of the road, Y up (ground at Y = 0), Z along the road.
Image axes: u to the right, v down.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

NEAR = 0.5
"""Nearest depth (metres) drawn; geometry closer than this is clipped away."""


@dataclass(frozen=True)
class Camera:
    """A camera at ``position`` looking along +Z, turned by yaw, pitch and roll (radians)."""

    height: int
    width: int
    focal: float
    position: np.ndarray
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    @cached_property
    def rotation(self) -> np.ndarray:
        """World -> camera rotation (camera x right, y up, z forward)."""
        cy, sy = np.cos(self.yaw), np.sin(self.yaw)
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        cr, sr = np.cos(self.roll), np.sin(self.roll)
        yaw = np.array([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])
        pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
        roll = np.array([[cr, sr, 0.0], [-sr, cr, 0.0], [0.0, 0.0, 1.0]])
        return roll @ pitch @ yaw

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """``[..., 3]`` world points -> camera coordinates."""
        return (points - self.position) @ self.rotation.T

    def to_pixels(self, cam_points: np.ndarray) -> np.ndarray:
        """``[..., 3]`` camera coordinates (depth >= NEAR) -> ``[..., 2]`` pixel (u, v)."""
        depth = cam_points[..., 2:3]
        uv = cam_points[..., :2] * (self.focal / depth)
        uv[..., 1] *= -1.0
        uv += (self.width / 2.0, self.height / 2.0)
        return uv

    def horizon_row(self) -> float:
        """Image row of the horizon at the image centre."""
        far = self.position + 1e4 * np.array([np.sin(self.yaw), 0.0, np.cos(self.yaw)])
        far[1] = self.position[1]
        return float(self.to_pixels(self.to_camera(far[None]))[0, 1])


def clip_near(polygon: np.ndarray) -> np.ndarray | None:
    """Cut a camera-space polygon ``[N, 3]`` at depth NEAR; None when nothing is left."""
    kept = []
    count = len(polygon)
    for i in range(count):
        a, b = polygon[i], polygon[(i + 1) % count]
        a_in, b_in = a[2] >= NEAR, b[2] >= NEAR
        if a_in:
            kept.append(a)
        if a_in != b_in:
            kept.append(a + (NEAR - a[2]) / (b[2] - a[2]) * (b - a))
    return np.array(kept) if len(kept) >= 3 else None
