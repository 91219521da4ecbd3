"""Draws projected 3-D shapes into a material map, then turns it into an image and labels.

Every shape is drawn with a material (colour, class id, texture); the image
and the label map both come from the same material map, so labels are exact
to the pixel. Textures, haze, shadows and lighting change the image only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from fanet_ros.synthetic.camera import NEAR, Camera, clip_near

SHIFT = 4
"""Fractional bits of the pixel coordinates handed to OpenCV."""
SCALE = 1 << SHIFT
SKY_BANDS = 32
"""The sky is drawn as this many horizontal bands from the horizon colour to the zenith colour."""

TEXTURES = {
    # name: (fine grain amplitude, blotch amplitude), in 8-bit grey levels
    "sky": (1.5, 4.0),
    "asphalt": (8.0, 5.0),
    "paving": (7.0, 6.0),
    "marking": (8.0, 10.0),
    "wall": (5.0, 7.0),
    "glass": (3.0, 10.0),
    "foliage": (26.0, 8.0),
    "bark": (12.0, 5.0),
    "metal": (4.0, 4.0),
    "paint": (3.0, 5.0),
    "cloth": (6.0, 5.0),
    "skin": (3.0, 3.0),
}
GROUND_CLASSES = (3, 4)
"""Road and pavement: the surfaces that cast shadows fall on."""


@dataclass(frozen=True)
class Lighting:
    """Per-scene light: haze towards the horizon, global gain, colour cast, gamma, shadows."""

    haze_colour: tuple[float, float, float]
    haze: float
    gain: float
    cast: tuple[float, float, float]
    gamma: float
    shadow: float
    """Brightness factor inside cast shadows (1 = no shadows)."""
    blur: float


@lru_cache(maxsize=4)
def _grain(height: int, width: int) -> np.ndarray:
    """A fixed field of unit Gaussian noise, twice the frame size, cropped at random offsets."""
    return np.random.default_rng(7).standard_normal((2 * height, 2 * width)).astype(np.float32)


class Canvas:
    """Material map of one frame plus the camera that projects onto it."""

    def __init__(self, camera: Camera, face_light: dict[str, float]) -> None:
        self.camera = camera
        self.face_light = face_light
        """Brightness factor of surfaces facing "-x", "+x", "-z", "+z", "+y"."""
        self.materials = np.zeros((camera.height, camera.width), np.uint16)
        self.shade = np.zeros((camera.height, camera.width), np.uint8)
        self._colours: list = []
        self._classes: list[int] = []
        self._textures: list[tuple[float, float]] = []
        self._position = camera.position
        self._rotation_t = camera.rotation.T
        f = camera.focal * SCALE
        self._pixel_scale = np.array([f, -f])
        self._pixel_centre = np.array([camera.width, camera.height]) * (SCALE / 2)
        self._points: list[np.ndarray] = []
        self._ops: list[tuple[str, int, int, int, tuple, tuple[float, ...]]] = []
        """Shapes recorded in drawing order (kind, material, first point, point count, shape,
        sizes); ``_draw`` projects and draws them all at once."""
        self._recorded = 0

    def material(self, colour, class_id: int, texture: str) -> int:
        """Register a material and return its id for the drawing calls."""
        self._colours.append(colour)
        self._classes.append(class_id)
        self._textures.append(TEXTURES[texture])
        return len(self._colours) - 1

    def lit_material(self, colour, face: str, class_id: int, texture: str) -> int:
        """A material whose colour is lit as a surface facing ``face``."""
        return self.material(colour * self.face_light[face], class_id, texture)

    def fill_sky(self, horizon_colour, zenith_colour, class_id: int) -> None:
        """Fill the frame with sky bands from the horizon row (and below) up to the top row."""
        horizon = self.camera.horizon_row()
        rows = np.arange(self.camera.height)
        level = np.clip((horizon - rows) / max(horizon, 1.0), 0.0, 1.0)
        band = np.minimum((level * SKY_BANDS).astype(np.int64), SKY_BANDS - 1)
        first = len(self._colours)
        for k in range(SKY_BANDS):
            a = (k + 0.5) / SKY_BANDS
            self.material(np.asarray(horizon_colour) * (1 - a) + np.asarray(zenith_colour) * a,
                          class_id, "sky")
        self.materials[:] = (first + band)[:, None]

    def _add(self, kind: str, material: int, points: np.ndarray, sizes: tuple[float, ...] = ()
             ) -> None:
        self._points.append(points.reshape(-1, 3))
        count = len(self._points[-1])
        self._ops.append((kind, material, self._recorded, count, points.shape, sizes))
        self._recorded += count

    def polygons(self, polygons: np.ndarray, material: int) -> None:
        """Fill world polygons ``[K, N, 3]`` with a material."""
        if len(polygons):
            self._add("polygons", material, polygons)

    def shadow(self, polygons: np.ndarray) -> None:
        """Mark world polygons (on the ground) as lying in shadow."""
        if len(polygons):
            self._add("shadow", 1, polygons)

    def disc(self, centre, radius: float, material: int) -> None:
        """A disc of ``radius`` metres facing the camera."""
        self._add("disc", material, np.asarray(centre, np.float64), (radius,))

    def ring(self, centre, radius: float, width: float, material: int) -> None:
        """A circle outline (a wheel) of ``radius`` metres and ``width`` facing the camera."""
        self._add("ring", material, np.asarray(centre, np.float64), (radius, width))

    def segments(self, starts: np.ndarray, ends: np.ndarray, width: float, material: int) -> None:
        """Thick lines ``width`` metres wide between world points ``[K, 3]``."""
        self._add("segments", material, np.stack([starts, ends], 1), (width,))

    def _draw(self) -> None:
        """Project every recorded shape at once, then draw them in the order they came."""
        if not self._ops:
            return
        cam = (np.concatenate(self._points) - self._position) @ self._rotation_t
        depth = cam[:, 2]
        inverse = 1.0 / np.maximum(depth, NEAR)
        pixels = (cam[:, :2] * inverse[:, None] * self._pixel_scale
                  + self._pixel_centre).astype(np.int32)
        metres_to_pixels = self.camera.focal * inverse
        nearest = np.minimum.reduceat(depth, [op[2] for op in self._ops]).tolist()
        for (kind, material, start, count, shape, sizes), closest in zip(self._ops, nearest):
            stop = start + count
            if kind in ("polygons", "shadow"):
                target = self.materials if kind == "polygons" else self.shade
                polygons = pixels[start:stop].reshape(shape[:-1] + (2,))
                if closest >= NEAR:
                    cv2.fillPoly(target, polygons, material, cv2.LINE_8, SHIFT)
                else:
                    self._fill_clipped(target, cam[start:stop].reshape(shape), polygons, material)
            elif kind == "segments":
                widths = sizes[0] * metres_to_pixels[start:stop].reshape(-1, 2).min(axis=1)
                ends = pixels[start:stop].reshape(-1, 4).tolist()
                ahead = (depth[start:stop].reshape(-1, 2) >= NEAR).all(axis=1).tolist()
                for (u0, v0, u1, v1), width, in_front, index in zip(ends, widths.tolist(), ahead,
                                                                    range(start, stop, 2)):
                    if in_front:
                        cv2.line(self.materials, (u0, v0), (u1, v1), material,
                                 max(1, round(width)), cv2.LINE_8, SHIFT)
                    else:
                        self._line_clipped(cam[index], cam[index + 1], material, sizes[0])
            elif closest >= NEAR:  # disc or ring
                size = metres_to_pixels[start]
                centre = (int(pixels[start, 0]), int(pixels[start, 1]))
                radius = max(1, int(sizes[0] * size * SCALE))
                thickness = -1 if kind == "disc" else max(1, round(sizes[1] * size))
                cv2.circle(self.materials, centre, radius, material, thickness, cv2.LINE_8, SHIFT)

    def _fill_clipped(self, target: np.ndarray, cam: np.ndarray, pixels: np.ndarray,
                      material: int) -> None:
        """Fill polygons (camera space ``[K, N, 3]``, pixels ``[K, N, 2]``) reaching behind NEAR."""
        closest = cam[:, :, 2].min(axis=1)
        polygons = list(pixels[closest >= NEAR])
        for index in np.flatnonzero((closest < NEAR) & (cam[:, :, 2].max(axis=1) >= NEAR)):
            polygon = clip_near(cam[index])
            if polygon is not None:
                uv = polygon[:, :2] / polygon[:, 2:3] * self._pixel_scale + self._pixel_centre
                polygons.append(uv.astype(np.int32))
        if polygons:
            cv2.fillPoly(target, polygons, material, cv2.LINE_8, SHIFT)

    def _line_clipped(self, p: np.ndarray, q: np.ndarray, material: int, width: float) -> None:
        """A thick line between camera-space points, cut at the near plane."""
        if p[2] < NEAR and q[2] < NEAR:
            return
        cut = p + (NEAR - p[2]) / (q[2] - p[2]) * (q - p)
        p, q = (cut, q) if p[2] < NEAR else (p, cut)
        ends = np.stack([p[:2] / p[2], q[:2] / q[2]]) * self._pixel_scale
        (u0, v0), (u1, v1) = (ends + self._pixel_centre).astype(np.int32).tolist()
        thickness = max(1, round(width * self.camera.focal / min(p[2], q[2])))
        cv2.line(self.materials, (u0, v0), (u1, v1), material, thickness, cv2.LINE_8, SHIFT)

    def finish(self, lighting: Lighting, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
        """Draw the recorded shapes, then colour, texture and light them -> (RGB, labels)."""
        self._draw()
        h, w = self.materials.shape
        light = np.float32(lighting.gain) * np.asarray(lighting.cast, np.float32)
        colours = np.asarray(self._colours, np.float32) * light
        fine_amp, blotch_amp = (np.asarray(self._textures, np.float32) * lighting.gain).T
        if lighting.shadow < 1.0:  # shadowed ground gets its own darker copy of each material
            count = len(colours)
            colours = np.concatenate([colours, colours * lighting.shadow])
            fine_amp, blotch_amp = np.tile(fine_amp, 2), np.tile(blotch_amp, 2)
            on_ground = np.isin(np.asarray(self._classes), GROUND_CLASSES).astype(np.uint16)
            self.materials += self.shade * on_ground[self.materials] * np.uint16(count)
        labels = np.take(np.asarray(self._classes * 2, np.uint8), self.materials)
        image = np.take(colours, self.materials, axis=0)

        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        texture = np.take(fine_amp, self.materials) * _grain(h, w)[y0:y0 + h, x0:x0 + w]
        small = rng.standard_normal((h // 24 + 2, w // 24 + 2)).astype(np.float32)
        texture += np.take(blotch_amp, self.materials) * cv2.resize(small, (w, h),
                                                            interpolation=cv2.INTER_LINEAR)
        horizon = self.camera.horizon_row()
        rows = np.arange(h, dtype=np.float32)
        haze = (lighting.haze * np.exp(-np.abs(rows - horizon) / (0.12 * h)))[:, None, None]
        np.multiply(image, 1.0 - haze, out=image)
        image += haze * (np.asarray(lighting.haze_colour, np.float32) * light)
        image += texture[..., None]
        rgb = np.clip(image, 0, 255).astype(np.uint8)
        gamma_lut = (255.0 * (np.arange(256) / 255.0) ** lighting.gamma).astype(np.uint8)
        rgb = cv2.LUT(rgb, gamma_lut)
        if lighting.blur > 0:
            rgb = cv2.GaussianBlur(rgb, (3, 3), lighting.blur)
        return rgb, labels
