"""Render a World into (RGB, labels) frames: single scenes and forward drives."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from fanet_ros.synthetic.camera import Camera
from fanet_ros.synthetic.canvas import Canvas
from fanet_ros.synthetic.objects import (
    BUILDING,
    PAVEMENT,
    ROAD,
    SKY,
    Tree,
    quad_ground,
    quad_x,
    quad_z,
)
from fanet_ros.synthetic.world import Street, World, sample_world

REACH = 5.0
"""Largest sideways extent of a thing from its anchor (tree crowns, lamp arms), metres."""
DRAW_DISTANCE = 90.0
"""Things (not buildings) farther ahead than this are left out: a few pixels tall, costly."""
VIEW_AHEAD = 80.0
"""Markings and paving joints are drawn this far ahead of the camera (metres)."""


def check_size(height: int, width: int) -> None:
    """Refuse frame sizes the generator cannot draw sensibly."""
    if height < 16 or width < 16:
        raise ValueError(f"frame size {height}x{width} is too small; use at least 16x16")


def _rng(rng_or_seed) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(rng_or_seed)


def generate_scene(rng_or_seed, height: int = 360, width: int = 480
                   ) -> tuple[np.ndarray, np.ndarray]:
    """One random street scene: RGB ``[H, W, 3]`` uint8 and CamVid labels ``[H, W]`` uint8.

    Labels are class ids 0..10 of fanet_ros.labels.CAMVID and 255 for void.
    The same seed always gives the same scene.
    """
    check_size(height, width)
    rng = _rng(rng_or_seed)
    world = sample_world(rng)
    return render(world, 0.0, height, width, rng)


def generate_drive(seed, num_frames: int, height: int = 360, width: int = 480,
                   fps: float = 10.0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames (RGB, labels) of a camera driving down one street at ``fps`` frames per second.

    Consecutive frames are coherent: the camera moves forward at a steady
    speed (5-10 m/s), cars, people and cyclists move smoothly. The same seed
    always gives the same drive.
    """
    check_size(height, width)
    if num_frames < 0 or fps <= 0:
        raise ValueError(f"need num_frames >= 0 and fps > 0, got {num_frames} and {fps}")
    rng = _rng(seed)
    world = sample_world(rng, duration=num_frames / fps)
    noise_seed = int(rng.integers(2**62))
    return (render(world, frame / fps, height, width, np.random.default_rng([noise_seed, frame]))
            for frame in range(num_frames))


def camera_at(world: World, t: float, height: int, width: int) -> Camera:
    """The camera of ``world`` after driving for ``t`` seconds (with a little pitch sway)."""
    sway = np.radians(0.3) * np.sin(2.0 * t)
    return Camera(height=height, width=width, focal=world.focal_ratio * width,
                  position=np.array([world.camera_x, world.camera_height, world.speed * t]),
                  yaw=world.yaw, pitch=world.pitch + sway, roll=world.roll)


def render(world: World, t: float, height: int, width: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``world`` as seen at time ``t``; ``rng`` only varies the image noise."""
    camera = camera_at(world, t, height, width)
    canvas = Canvas(camera, world.face_light)
    canvas.fill_sky(world.sky, world.sky_top, SKY)
    cam_z = float(camera.position[2])
    _draw_backdrop(canvas, world)
    _draw_ground(canvas, world.street, cam_z)
    if len(world.building_shadows):
        canvas.shadow(world.building_shadows)
    visible = _in_view(camera, world, t)
    for thing in visible:
        if isinstance(thing, Tree):
            thing.cast_shadow(canvas, t)
    for building in sorted(world.buildings, key=lambda b: -b.z0):
        if building.z1 > cam_z:
            building.draw(canvas)
    for thing in sorted(visible, key=lambda thing: -thing.anchor(t)[1]):
        thing.draw(canvas, t)
    return canvas.finish(world.lighting, rng)


def _in_view(camera: Camera, world: World, t: float) -> list:
    """The things that may show in the frame: near enough ahead, within REACH of the view."""
    anchors = np.array([thing.anchor(t) for thing in world.things]).reshape(-1, 2)
    points = np.stack([anchors[:, 0], np.zeros(len(anchors)), anchors[:, 1]], -1)
    cam = camera.to_camera(points)
    half_view = cam[:, 2] * camera.width / (2 * camera.focal)
    ahead = anchors[:, 1] - camera.position[2]
    keep = ((ahead > -8.0) & (ahead < DRAW_DISTANCE) & (anchors[:, 1] < world.street.end)
            & ((cam[:, 2] < 3.0) | (np.abs(cam[:, 0]) - REACH < half_view)))
    return [world.things[i] for i in np.flatnonzero(keep)]


def _draw_backdrop(canvas: Canvas, world: World) -> None:
    z = world.street.end
    for x0, x1, height, colour in world.backdrop:
        wall = canvas.lit_material(colour, "-z", BUILDING, "wall")
        canvas.polygons(quad_z(z, x0, x1, 0.0, height)[None], wall)


def _draw_ground(canvas: Canvas, street: Street, cam_z: float) -> None:
    near, far = cam_z - 2.0, street.end
    ahead = min(far, cam_z + VIEW_AHEAD)
    half = street.half_width
    for side, paving in ((-1, street.pavement_colours[0]), (1, street.pavement_colours[1])):
        canvas.polygons(quad_ground(0.0, side * 150.0, near, far)[None],
                        canvas.material(paving, PAVEMENT, "paving"))
        joints = np.arange(np.ceil(near / 1.5) * 1.5, ahead, 1.5)
        corners = quad_ground(side * half, street.facade_x(side), 0.0, 0.05)
        canvas.polygons(corners + np.outer(joints, [0, 0, 1]).reshape(-1, 1, 3),
                        canvas.material(paving * 0.8, PAVEMENT, "paving"))
    asphalt = canvas.material(street.asphalt, ROAD, "asphalt")
    canvas.polygons(quad_ground(-half, half, near, far)[None], asphalt)
    for c0, c1 in street.crossings:
        canvas.polygons(quad_ground(-150.0, 150.0, c0, c1)[None], asphalt)
    if len(street.patches):
        canvas.polygons(street.patches, canvas.material(street.asphalt * 0.8, ROAD, "asphalt"))
    _draw_markings(canvas, street, near, ahead)
    kerb_top, kerb_face = [], []
    for z0, z1 in _open_stretches(street, near, far):
        for side in (-1, 1):
            x = side * half
            kerb_top.append(quad_ground(x, x + side * 0.2, z0, z1, 0.12))
            kerb_face.append(quad_x(x, z0, z1, 0.0, 0.12))
    canvas.polygons(np.array(kerb_face), canvas.lit_material(street.kerb, "-z", PAVEMENT, "paving"))
    canvas.polygons(np.array(kerb_top), canvas.material(street.kerb * 1.1, PAVEMENT, "paving"))


def _open_stretches(street: Street, near: float, far: float) -> list[tuple[float, float]]:
    """Z ranges between near and far without a side street."""
    stretches, z = [], near
    for c0, c1 in sorted(street.crossings):
        if c0 > z:
            stretches.append((z, min(c0, far)))
        z = max(z, c1)
    if z < far:
        stretches.append((z, far))
    return [(a, b) for a, b in stretches if b > a]


def _draw_markings(canvas: Canvas, street: Street, near: float, ahead: float) -> None:
    """Dashed lane lines, a stop line and a zebra crossing before each side street (Road class)."""
    quads = []
    lines = [street.lane_width * k * s for k in range(street.lanes) for s in (-1, 1)
             if k or s > 0]
    dashes = np.arange(np.floor(near / 9.0) * 9.0, ahead, 9.0)
    for x in lines:
        for z in dashes:
            if not street.in_crossing(z, z + 3.0, 4.0):
                quads.append(quad_ground(x - 0.06, x + 0.06, z, z + 3.0))
    half = street.lanes * street.lane_width
    for c0, _ in street.crossings:
        if near < c0 < ahead + 5:
            quads += [quad_ground(x, x + 0.5, c0 - 3.5, c0 - 0.5)
                      for x in np.arange(-half + 0.2, half - 0.5, 1.0)]
    if quads:
        canvas.polygons(np.array(quads), canvas.material(street.marking, ROAD, "marking"))
