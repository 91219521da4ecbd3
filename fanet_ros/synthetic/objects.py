"""The things standing in the synthetic street, each drawing itself onto a Canvas.

Sizes are in metres, positions in world coordinates (see camera.py); ``t`` is
the time in seconds, so moving things (cars, people, cyclists) move smoothly
between the frames of a drive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fanet_ros.synthetic.canvas import Canvas

SKY, BUILDING, POLE, ROAD, PAVEMENT, TREE, SIGN, FENCE, CAR, PEDESTRIAN, BICYCLIST = range(11)
VOID = 255


def quad_x(x: float, z0: float, z1: float, y0: float, y1: float) -> np.ndarray:
    """A vertical rectangle in the plane X = x (a facade, a fence)."""
    return np.array((x, y0, z0, x, y0, z1, x, y1, z1, x, y1, z0), np.float64).reshape(4, 3)


def quad_z(z: float, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """A vertical rectangle in the plane Z = z (facing the camera)."""
    return np.array((x0, y0, z, x1, y0, z, x1, y1, z, x0, y1, z), np.float64).reshape(4, 3)


def quad_ground(x0: float, x1: float, z0: float, z1: float, y: float = 0.0) -> np.ndarray:
    """A horizontal rectangle at height y."""
    return np.array((x0, y, z0, x1, y, z0, x1, y, z1, x0, y, z1), np.float64).reshape(4, 3)


def grid_x(x: float, zs: np.ndarray, ys: np.ndarray, width: float, height: float) -> np.ndarray:
    """``[len(ys) * len(zs), 4, 3]`` rectangles in the plane X = x with corners at (zs, ys)."""
    z, y = np.tile(zs, len(ys)), np.repeat(ys, len(zs))
    corners = np.array([[0, 0], [0, 1], [1, 1], [1, 0]], np.float64)  # (dz, dy) per corner
    quads = np.empty((len(z), 4, 3))
    quads[:, :, 0] = x
    quads[:, :, 1] = y[:, None] + corners[:, 1] * height
    quads[:, :, 2] = z[:, None] + corners[:, 0] * width
    return quads


def billboard(points, x: float, z: float) -> np.ndarray:
    """Local (lateral, up) points -> world points in the plane Z = z around X = x."""
    points = np.asarray(points, np.float64)
    world = np.empty(points.shape[:-1] + (3,))
    world[..., 0] = points[..., 0] + x
    world[..., 1] = points[..., 1]
    world[..., 2] = z
    return world


def box_faces(viewpoint, lo, hi) -> list[tuple[str, np.ndarray]]:
    """The faces of an axis-aligned box seen from ``viewpoint``, with their direction."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    cx, cy, cz = viewpoint
    faces = []
    if cz < z0:
        faces.append(("-z", quad_z(z0, x0, x1, y0, y1)))
    if cz > z1:
        faces.append(("+z", quad_z(z1, x0, x1, y0, y1)))
    if cx < x0:
        faces.append(("-x", quad_x(x0, z0, z1, y0, y1)))
    if cx > x1:
        faces.append(("+x", quad_x(x1, z0, z1, y0, y1)))
    if cy > y1:
        faces.append(("+y", quad_ground(x0, x1, z0, z1, y1)))
    return faces


def draw_box(canvas: Canvas, lo, hi, colour, class_id: int, texture: str) -> None:
    """The visible faces of an axis-aligned box, each lit by its direction."""
    for face, polygon in box_faces(canvas.camera.position, lo, hi):
        canvas.polygons(polygon[None], canvas.lit_material(colour, face, class_id, texture))


@dataclass
class Building:
    """A block along the street: facade in the plane X = x, windows, maybe a shop front."""

    side: int
    x: float
    z0: float
    z1: float
    height: float
    colour: np.ndarray
    window_colour: np.ndarray
    frame_colour: np.ndarray
    windows: np.ndarray
    """[K, 4, 3] window rectangles on the facade."""
    frames: np.ndarray
    shop: np.ndarray | None = None
    """[K, 4, 3] shop-front glass, or None."""
    shop_sign: np.ndarray | None = None
    sign_colour: np.ndarray | None = None
    depth: float = 12.0

    def draw(self, canvas: Canvas) -> None:
        facing = "-x" if self.side > 0 else "+x"
        wall = canvas.lit_material(self.colour, facing, BUILDING, "wall")
        canvas.polygons(quad_x(self.x, self.z0, self.z1, 0.0, self.height)[None], wall)
        if canvas.camera.position[2] < self.z0:
            end = canvas.lit_material(self.colour, "-z", BUILDING, "wall")
            canvas.polygons(quad_z(self.z0, self.x, self.x + self.side * self.depth, 0.0,
                                   self.height)[None], end)
        canvas.polygons(self.frames, canvas.lit_material(self.frame_colour, facing, BUILDING,
                                                         "paint"))
        canvas.polygons(self.windows, canvas.material(self.window_colour, BUILDING, "glass"))
        if self.shop is not None:
            canvas.polygons(self.shop, canvas.material(self.window_colour * 0.8, BUILDING, "glass"))
            canvas.polygons(self.shop_sign, canvas.lit_material(self.sign_colour, facing, BUILDING,
                                                                "paint"))


@dataclass
class Tree:
    """A trunk with a canopy of overlapping discs, or bare branches."""

    x: float
    z: float
    trunk_height: float
    trunk_width: float
    bark: np.ndarray
    leaves: list[np.ndarray]
    blobs: np.ndarray
    """[K, 4] canopy discs: lateral offset, height, radius, leaf colour index."""
    branches: np.ndarray
    """[K, 5] bare branches: lateral start, start height, lateral end, end height, width."""

    def anchor(self, t: float) -> tuple[float, float]:
        return self.x, self.z

    def cast_shadow(self, canvas: Canvas, t: float) -> None:
        if len(self.blobs):
            radius = float(self.blobs[:, 2].max()) * 1.6
            angles = np.linspace(0, 2 * np.pi, 10, endpoint=False)
            ring = np.stack([self.x + 0.8 + radius * np.cos(angles), np.zeros(10),
                             self.z + 0.6 * radius * np.sin(angles)], -1)
            canvas.shadow(ring[None])

    def draw(self, canvas: Canvas, t: float) -> None:
        bark = canvas.lit_material(self.bark, "-z", TREE, "bark")
        w = self.trunk_width / 2
        canvas.polygons(billboard([[-w, 0], [w, 0], [w * 0.7, self.trunk_height],
                                   [-w * 0.7, self.trunk_height]], self.x, self.z)[None], bark)
        if len(self.branches):
            starts = billboard(self.branches[:, 0:2], self.x, self.z)
            ends = billboard(self.branches[:, 2:4], self.x, self.z)
            for width in np.unique(self.branches[:, 4]):
                pick = self.branches[:, 4] == width
                canvas.segments(starts[pick], ends[pick], float(width), bark)
        materials = [canvas.material(c, TREE, "foliage") for c in self.leaves]
        for dx, y, radius, shade in self.blobs:
            canvas.disc((self.x + dx, y, self.z), radius, materials[int(shade)])


@dataclass
class StreetLight:
    """A lamp post at the kerb with an arm over the road."""

    x: float
    z: float
    side: int
    height: float
    arm: float
    colour: np.ndarray

    def anchor(self, t: float) -> tuple[float, float]:
        return self.x, self.z

    def draw(self, canvas: Canvas, t: float) -> None:
        metal = canvas.lit_material(self.colour, "-z", POLE, "metal")
        h, s, a = self.height, self.side, self.arm
        canvas.polygons(billboard([[-0.09, 0], [0.09, 0], [0.06, h], [-0.06, h]],
                                  self.x, self.z)[None], metal)
        tip = -s * a
        arm = billboard([[0, h - 0.12], [tip, h + 0.1], [tip, h + 0.2], [0, h]], self.x, self.z)
        lamp = billboard([[tip - 0.3, h - 0.05], [tip + 0.3, h - 0.05], [tip + 0.25, h + 0.15],
                          [tip - 0.25, h + 0.15]], self.x, self.z)
        canvas.polygons(np.stack([arm, lamp]), metal)


@dataclass
class Sign:
    """A post with a plate (round, square, triangle) or a traffic light."""

    x: float
    z: float
    post_height: float
    kind: str
    post_colour: np.ndarray
    colours: list[np.ndarray]
    size: float

    def anchor(self, t: float) -> tuple[float, float]:
        return self.x, self.z

    def draw(self, canvas: Canvas, t: float) -> None:
        post = canvas.lit_material(self.post_colour, "-z", POLE, "metal")
        h, r = self.post_height, self.size / 2
        canvas.polygons(billboard([[-0.05, 0], [0.05, 0], [0.05, h], [-0.05, h]],
                                  self.x, self.z)[None], post)
        outer = canvas.material(self.colours[0], SIGN, "paint")
        inner = canvas.material(self.colours[1], SIGN, "paint")
        centre = (self.x, h + r, self.z)
        if self.kind == "round":
            canvas.disc(centre, r, outer)
            canvas.disc(centre, r * 0.72, inner)
        elif self.kind == "triangle":
            canvas.polygons(billboard([[-r, h], [r, h], [0, h + 1.7 * r]], self.x, self.z)[None],
                            outer)
            canvas.polygons(billboard([[-0.6 * r, h + 0.2 * r], [0.6 * r, h + 0.2 * r],
                                       [0, h + 1.25 * r]], self.x, self.z)[None], inner)
        elif self.kind == "square":
            canvas.polygons(billboard([[-r, h], [r, h], [r, h + 1.4 * r], [-r, h + 1.4 * r]],
                                      self.x, self.z)[None], outer)
            canvas.polygons(billboard([[-0.8 * r, h + 0.2 * r], [0.8 * r, h + 0.2 * r],
                                       [0.8 * r, h + 0.5 * r], [-0.8 * r, h + 0.5 * r]],
                                      self.x, self.z)[None], inner)
        else:  # traffic light: dark housing, three lamps, one lit
            housing = canvas.material(self.colours[0], SIGN, "paint")
            canvas.polygons(billboard([[-0.17, h], [0.17, h], [0.17, h + 0.9], [-0.17, h + 0.9]],
                                      self.x, self.z)[None], housing)
            for i, lit in enumerate(self.colours[1:]):
                canvas.disc((self.x, h + 0.15 + 0.3 * i, self.z - 0.01), 0.1,
                            canvas.material(lit, SIGN, "paint"))


@dataclass
class Fence:
    """Railings or a solid fence in the plane X = x between z0 and z1."""

    x: float
    z0: float
    z1: float
    height: float
    solid: bool
    colour: np.ndarray
    side: int

    def anchor(self, t: float) -> tuple[float, float]:
        return self.x, self.z0

    def draw(self, canvas: Canvas, t: float) -> None:
        facing = "-x" if self.side > 0 else "+x"
        main = canvas.lit_material(self.colour, facing, FENCE, "paint")
        h = self.height
        if self.solid:
            canvas.polygons(quad_x(self.x, self.z0, self.z1, 0.0, h)[None], main)
            joints = grid_x(self.x, np.arange(self.z0 + 0.15, self.z1, 0.15), np.zeros(1), 0.025, h)
            canvas.polygons(joints, canvas.lit_material(self.colour * 0.7, facing, FENCE, "paint"))
            return
        rails = grid_x(self.x, np.array([self.z0]), np.array([0.12, h - 0.07]),
                       self.z1 - self.z0, 0.07)
        bars = grid_x(self.x, np.arange(self.z0, self.z1, 0.16), np.zeros(1), 0.025, h)
        posts = grid_x(self.x, np.arange(self.z0, self.z1, 2.0), np.zeros(1), 0.08, h + 0.05)
        canvas.polygons(np.concatenate([rails, bars, posts]), main)


@dataclass
class Car:
    """A car: body, cabin with windows, wheels, lights; drives along Z at ``speed``."""

    x: float
    z: float
    """Rear end (lowest Z) at t = 0."""
    length: float
    width: float
    speed: float
    facing: int
    """+1: drives towards +Z (we see its back), -1: towards the camera (we see its front)."""
    paint: np.ndarray
    glass: np.ndarray
    body_height: float = 0.75
    cabin_height: float = 0.6

    def anchor(self, t: float) -> tuple[float, float]:
        return self.x, self.z + self.speed * t

    def draw(self, canvas: Canvas, t: float) -> None:
        z0 = self.z + self.speed * t
        z1 = z0 + self.length
        x0, x1 = self.x - self.width / 2, self.x + self.width / 2
        under = canvas.material((25, 25, 28), ROAD, "asphalt")
        canvas.polygons(quad_ground(x0 - 0.15, x1 + 0.15, z0 - 0.2, z1 + 0.2)[None], under)
        wheels = [polygon for wz in (z0 + 0.55, z1 - 1.15) for wx in (x0, x1 - 0.24)
                  for _, polygon in box_faces(canvas.camera.position, (wx, 0.0, wz),
                                              (wx + 0.24, 0.62, wz + 0.62))]
        canvas.polygons(np.stack(wheels), canvas.material((28, 28, 30), CAR, "metal"))
        base, top = 0.3, 0.3 + self.body_height
        draw_box(canvas, (x0, base, z0), (x1, top, z1), self.paint, CAR, "paint")
        front, back = (0.9, 1.3) if self.facing > 0 else (1.3, 0.9)
        c0, c1 = z0 + front, z1 - back
        cx0, cx1 = x0 + 0.12, x1 - 0.12
        cabin_top = top + self.cabin_height
        draw_box(canvas, (cx0, top, c0), (cx1, cabin_top, c1), self.paint, CAR, "paint")
        glass = canvas.material(self.glass, CAR, "glass")
        cam_x, _, cam_z = canvas.camera.position
        panes = []
        if cam_z < c0:
            panes.append(quad_z(c0 - 0.01, cx0 + 0.08, cx1 - 0.08, top + 0.05, cabin_top - 0.08))
        if cam_x < cx0 or cam_x > cx1:
            px = cx0 - 0.01 if cam_x < cx0 else cx1 + 0.01
            panes.append(quad_x(px, c0 + 0.1, c1 - 0.1, top + 0.08, cabin_top - 0.08))
        if panes:
            canvas.polygons(np.stack(panes), glass)
        if cam_z < z0:
            self._draw_face_details(canvas, z0 - 0.01, x0, x1, base, top)

    def _draw_face_details(self, canvas: Canvas, z: float, x0: float, x1: float, base: float,
                           top: float) -> None:
        """Lights and number plate on the end that faces the camera."""
        lamp = (235, 230, 200) if self.facing < 0 else (190, 25, 25)
        lamp_material = canvas.material(lamp, CAR, "paint")
        y0, y1 = base + 0.35, base + 0.55
        lights = np.stack([quad_z(z, x0 + 0.08, x0 + 0.38, y0, y1),
                           quad_z(z, x1 - 0.38, x1 - 0.08, y0, y1)])
        canvas.polygons(lights, lamp_material)
        mid = (x0 + x1) / 2
        plate = quad_z(z, mid - 0.26, mid + 0.26, base + 0.1, base + 0.22)
        canvas.polygons(plate[None], canvas.material((225, 220, 170), CAR, "paint"))


@dataclass
class Pedestrian:
    """A person walking at ``velocity`` (x, z) metres per second; seen from the side or front."""

    x: float
    z: float
    velocity: tuple[float, float]
    height: float
    top: np.ndarray
    trousers: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    coat: bool
    phase: float

    def anchor(self, t: float) -> tuple[float, float]:
        return self.x + self.velocity[0] * t, self.z + self.velocity[1] * t

    def draw(self, canvas: Canvas, t: float) -> None:
        x, z = self.anchor(t)
        h = self.height
        speed = float(np.hypot(*self.velocity))
        swing = np.sin(self.phase + 2.2 * speed * t / max(h, 1.0) * 2.0)
        side_view = abs(self.velocity[0]) > abs(self.velocity[1])
        top = canvas.lit_material(self.top, "-z", PEDESTRIAN, "cloth")
        legs = canvas.lit_material(self.trousers, "-z", PEDESTRIAN, "cloth")
        skin = canvas.material(self.skin, PEDESTRIAN, "skin")
        hair = canvas.material(self.hair, PEDESTRIAN, "cloth")
        if side_view:
            feet = [(0.17 * h * swing, 0.03 * h), (-0.17 * h * swing, 0.03 * h)]
            hips = [(0.0, 0.52 * h), (0.0, 0.52 * h)]
            hands = [(-0.13 * h * swing, 0.45 * h), (0.13 * h * swing, 0.45 * h)]
            shoulders = [(0.0, 0.8 * h), (0.0, 0.8 * h)]
            half = 0.07 * h
        else:
            lift = 0.02 * h * swing
            feet = [(-0.06 * h, 0.03 * h + lift), (0.06 * h, 0.03 * h - lift)]
            hips = [(-0.05 * h, 0.52 * h), (0.05 * h, 0.52 * h)]
            hands = [(-0.15 * h, 0.46 * h), (0.15 * h, 0.46 * h)]
            shoulders = [(-0.12 * h, 0.8 * h), (0.12 * h, 0.8 * h)]
            half = 0.12 * h
        canvas.segments(billboard(hips, x, z), billboard(feet, x, z), 0.075 * h, legs)
        bottom = 0.36 * h if self.coat else 0.5 * h
        flare = 1.2 if self.coat else 0.85
        torso = [[-half, 0.83 * h], [half, 0.83 * h], [half * flare, bottom],
                 [-half * flare, bottom]]
        canvas.polygons(billboard(torso, x, z)[None], top)
        canvas.segments(billboard(shoulders, x, z), billboard(hands, x, z), 0.05 * h, top)
        canvas.disc((x, 0.915 * h, z), 0.068 * h, hair)
        canvas.disc((x, 0.905 * h, z - 0.01), 0.062 * h, skin)


@dataclass
class Bicyclist:
    """A rider on a bicycle, seen from behind (riding along Z) or from the side (crossing)."""

    x: float
    z: float
    velocity: tuple[float, float]
    frame: np.ndarray
    top: np.ndarray
    trousers: np.ndarray
    helmet: np.ndarray
    phase: float = field(default=0.0)

    def anchor(self, t: float) -> tuple[float, float]:
        return self.x + self.velocity[0] * t, self.z + self.velocity[1] * t

    def draw(self, canvas: Canvas, t: float) -> None:
        x, z = self.anchor(t)
        crank = self.phase + float(np.hypot(*self.velocity)) * t / 0.7
        metal = canvas.material(self.frame, BICYCLIST, "paint")
        tyre = canvas.material((25, 25, 25), BICYCLIST, "metal")
        top = canvas.lit_material(self.top, "-z", BICYCLIST, "cloth")
        legs = canvas.lit_material(self.trousers, "-z", BICYCLIST, "cloth")
        helmet = canvas.material(self.helmet, BICYCLIST, "paint")

        def seg(a, b, width, material):
            canvas.segments(billboard(a, x, z), billboard(b, x, z), width, material)

        if abs(self.velocity[0]) > abs(self.velocity[1]):  # side view, crossing
            d = 1.0 if self.velocity[0] > 0 else -1.0
            rear, front, bottom = (-0.52 * d, 0.34), (0.52 * d, 0.34), (0.0, 0.3)
            seat, head_tube = (-0.14 * d, 0.92), (0.42 * d, 0.95)
            for hub in (rear, front):
                canvas.ring((x + hub[0], hub[1], z), 0.33, 0.05, tyre)
            seg([rear, bottom, seat, seat, head_tube, head_tube],
                [bottom, seat, rear, head_tube, bottom, front], 0.035, metal)
            pedals = [(0.17 * np.cos(crank + k * np.pi), 0.3 + 0.17 * np.sin(crank + k * np.pi))
                      for k in (0, 1)]
            hip, shoulder = (-0.12 * d, 1.0), (0.2 * d, 1.48)
            knees = [((hip[0] + p[0]) / 2 + 0.14 * d, (hip[1] + p[1]) / 2 + 0.1) for p in pedals]
            seg([hip, hip], knees, 0.11, legs)
            seg(knees, pedals, 0.09, legs)
            seg([hip], [shoulder], 0.2, top)
            seg([shoulder], [(0.4 * d, 1.05)], 0.07, top)
            canvas.disc((x + 0.3 * d, 1.64, z), 0.12, helmet)
        else:  # rear view, riding along the road
            canvas.polygons(billboard([[-0.03, 0.0], [0.03, 0.0], [0.03, 0.68], [-0.03, 0.68]],
                                      x, z)[None], tyre)
            lift = 0.13 * np.sin(crank)
            seg([(-0.1, 1.0), (0.1, 1.0)], [(-0.15, 0.35 + lift), (0.15, 0.35 - lift)], 0.11, legs)
            seg([(-0.3, 1.1)], [(0.3, 1.1)], 0.03, metal)
            seg([(-0.17, 1.43), (0.17, 1.43)], [(-0.28, 1.1), (0.28, 1.1)], 0.07, top)
            torso = [[-0.19, 1.5], [0.19, 1.5], [0.13, 0.95], [-0.13, 0.95]]
            canvas.polygons(billboard(torso, x, z)[None], top)
            canvas.disc((x, 1.63, z), 0.12, helmet)


@dataclass
class Bin:
    """A litter bin or box on the pavement: not one of the 11 classes, so labelled void."""

    x: float
    z: float
    size: tuple[float, float, float]
    colour: np.ndarray

    def anchor(self, t: float) -> tuple[float, float]:
        return self.x, self.z

    def draw(self, canvas: Canvas, t: float) -> None:
        w, h, d = self.size
        draw_box(canvas, (self.x - w / 2, 0.0, self.z), (self.x + w / 2, h, self.z + d),
                 self.colour, VOID, "paint")
