"""Random layout of a street: road, pavements, buildings, street furniture, traffic, light.

A World is sampled once from a random generator; rendering it from a camera
at any distance along the road gives one frame, so a drive is just the same
world seen from a camera moving forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fanet_ros.synthetic.canvas import Lighting
from fanet_ros.synthetic.colours import colour
from fanet_ros.synthetic.objects import (
    Bicyclist,
    Bin,
    Building,
    Car,
    Fence,
    Pedestrian,
    Sign,
    StreetLight,
    Tree,
    grid_x,
    quad_ground,
    quad_x,
)

FENCE_PIECE = 4.0
"""Fences are split into pieces this long (metres)."""
START = 4.0
"""Nearest distance (metres) at which things are placed in front of the first frame."""


@dataclass
class Street:
    """Road geometry and surface colours."""

    lane_width: float
    lanes: int
    """Lanes per direction."""
    parking: float
    """Width of the parking strip on each side (0: none)."""
    pavement: tuple[float, float]
    """Pavement width on the left (-X) and right (+X) side."""
    end: float
    """Z of the backdrop closing the street."""
    crossings: list[tuple[float, float]]
    """Z ranges of side streets."""
    asphalt: np.ndarray
    pavement_colours: tuple[np.ndarray, np.ndarray]
    kerb: np.ndarray
    marking: np.ndarray
    patches: np.ndarray
    """[K, 4, 3] repaired asphalt patches."""

    @property
    def half_width(self) -> float:
        return self.lanes * self.lane_width + self.parking

    def facade_x(self, side: int) -> float:
        return side * (self.half_width + self.pavement[side > 0])

    def in_crossing(self, z0: float, z1: float, margin: float = 0.0) -> bool:
        return any(z1 > c0 - margin and z0 < c1 + margin for c0, c1 in self.crossings)


@dataclass
class World:
    """Everything needed to render frames of one street."""

    street: Street
    camera_x: float
    camera_height: float
    focal_ratio: float
    """Focal length divided by image width."""
    pitch: float
    yaw: float
    roll: float
    speed: float
    """Camera speed along the road in metres per second."""
    sky: np.ndarray
    sky_top: np.ndarray
    lighting: Lighting
    face_light: dict[str, float]
    buildings: list[Building]
    building_shadows: np.ndarray
    """[K, 4, 3] ground quads shaded by the buildings (empty on overcast days)."""
    backdrop: list[tuple[float, float, float, np.ndarray]]
    """Far buildings closing the street: (x0, x1, height, colour)."""
    things: list
    """Trees, poles, signs, fences, cars, people, bicycles, bins."""


def sample_world(rng: np.random.Generator, duration: float = 0.0) -> World:
    """A random street long enough for the camera to drive for ``duration`` seconds."""
    speed = rng.uniform(5.0, 10.0)
    travel = speed * duration
    street = _sample_street(rng, travel)
    sunny = rng.random() < 0.45
    sun_side = 1 if rng.random() < 0.5 else -1
    if sunny:
        sky = colour(rng, "sky_clear")
        sky_top = sky * rng.uniform(0.75, 0.9, 3) * (0.85, 0.95, 1.05)
        lit, shaded = rng.uniform(1.05, 1.25), rng.uniform(0.55, 0.75)
        face_light = {"-x" if sun_side < 0 else "+x": lit, "-x" if sun_side > 0 else "+x": shaded,
                      "-z": rng.uniform(0.8, 1.0), "+z": 0.75, "+y": 1.15}
        shadow = rng.uniform(0.45, 0.7)
    else:
        sky = colour(rng, "sky_overcast")
        sky_top = sky * rng.uniform(0.85, 1.0)
        face_light = {"-x": rng.uniform(0.8, 1.0), "+x": rng.uniform(0.8, 1.0),
                      "-z": rng.uniform(0.85, 1.0), "+z": 0.8, "+y": 1.05}
        shadow = 1.0
    lighting = Lighting(
        haze_colour=tuple(sky), haze=rng.uniform(0.05, 0.45), gain=rng.uniform(0.6, 1.3),
        cast=tuple(rng.uniform(0.95, 1.05, 3)), gamma=rng.uniform(0.8, 1.25), shadow=shadow,
        blur=0.0 if rng.random() < 0.3 else rng.uniform(0.5, 0.9))
    own_lane = int(rng.integers(street.lanes))
    drive_side = 1 if rng.random() < 0.5 else -1
    camera_x = drive_side * (street.lane_width * (own_lane + 0.5)) + rng.uniform(-0.3, 0.3)
    buildings = [b for side in (-1, 1) for b in _sample_buildings(rng, street, side)]
    shadows = _building_shadows(rng, buildings, sun_side) if sunny else np.zeros((0, 4, 3))
    things = (_sample_furniture(rng, street)
              + _sample_traffic(rng, street, drive_side, camera_x, speed, travel)
              + _sample_people(rng, street, drive_side, speed, travel))
    return World(
        street=street, camera_x=camera_x, camera_height=rng.uniform(1.1, 1.7),
        focal_ratio=0.5 / np.tan(np.radians(rng.uniform(50.0, 70.0)) / 2),
        pitch=np.radians(rng.uniform(-3.5, 3.5)), yaw=np.radians(rng.uniform(-5.0, 5.0)),
        roll=np.radians(rng.uniform(-1.5, 1.5)), speed=speed, sky=sky, sky_top=sky_top,
        lighting=lighting, face_light=face_light, buildings=buildings,
        building_shadows=shadows, backdrop=_sample_backdrop(rng), things=things)


def _sample_street(rng: np.random.Generator, travel: float) -> Street:
    end = travel + rng.uniform(70.0, 140.0)
    crossings = []
    z = rng.uniform(15.0, 80.0)
    while z < end - 30.0:
        width = rng.uniform(8.0, 14.0)
        crossings.append((z, z + width))
        z += width + rng.uniform(40.0, 120.0)
    lanes = 1 if rng.random() < 0.7 else 2
    lane_width = rng.uniform(2.8, 3.6)
    half = lanes * lane_width
    patches = []
    for _ in range(rng.integers(0, 5)):
        x0, z0 = rng.uniform(-half, half - 1.0), rng.uniform(START, end)
        patches.append(quad_ground(x0, x0 + rng.uniform(0.8, 3.0), z0, z0 + rng.uniform(1.0, 6.0)))
    marking = colour(rng, "marking")
    asphalt = colour(rng, "asphalt")
    return Street(
        lane_width=lane_width, lanes=lanes,
        parking=rng.uniform(2.0, 2.4) if rng.random() < 0.6 else 0.0,
        pavement=(rng.uniform(1.8, 5.0), rng.uniform(1.8, 5.0)), end=end, crossings=crossings,
        asphalt=asphalt, pavement_colours=(colour(rng, "pavement"), colour(rng, "pavement")),
        kerb=colour(rng, "pavement") * rng.uniform(0.8, 1.2),
        marking=marking + rng.uniform(0.0, 0.4) * (asphalt - marking),
        patches=np.array(patches).reshape(-1, 4, 3))


def _sample_buildings(rng: np.random.Generator, street: Street, side: int) -> list[Building]:
    buildings = []
    z = -20.0
    while z < street.end:
        width = rng.uniform(6.0, 24.0)
        z0, z1 = z, min(z + width, street.end)
        z = z1
        for c0, c1 in street.crossings:
            if z1 > c0 and z0 < c1:
                z0, z1 = (z0, c0) if z0 < c0 else (c1, z1)
                z = max(z, c1)
        if z1 - z0 < 3.0 or rng.random() < 0.08:
            z += rng.uniform(0.0, 10.0)
            continue
        setback = 0.0 if rng.random() < 0.7 else rng.uniform(0.3, 2.5)
        buildings.append(_sample_building(rng, side, street.facade_x(side) + side * setback,
                                          z0, z1))
    return buildings


def _sample_building(rng: np.random.Generator, side: int, x: float, z0: float, z1: float
                     ) -> Building:
    floor = rng.uniform(2.9, 3.6)
    floors = int(rng.integers(1, 8))
    ground = rng.uniform(3.2, 4.4)
    height = ground + (floors - 1) * floor + rng.uniform(0.4, 1.5)
    column = rng.uniform(2.0, 3.6)
    win_w, win_h = column * rng.uniform(0.35, 0.65), floor * rng.uniform(0.4, 0.6)
    inset = x - side * 0.03
    zs = np.arange(z0 + column / 2, z1 - win_w, column)
    ys = ground + 0.8 + floor * np.arange(floors - 1)
    windows = grid_x(inset, zs, ys, win_w, win_h)
    frames = grid_x(inset + side * 0.01, zs - 0.1, ys - 0.15, win_w + 0.2, win_h + 0.23)
    window_colour = colour(rng, "window")
    shop = shop_sign = sign_colour = None
    if rng.random() < 0.5 and z1 - z0 > 4.0:
        panes = np.arange(z0 + 0.5, z1 - 1.5, rng.uniform(1.5, 3.0))
        shop = np.stack([quad_x(inset, p, p + 1.3, 0.3, ground - 1.1) for p in panes])
        shop_sign = quad_x(inset, z0 + 0.3, z1 - 0.3, ground - 0.95, ground - 0.25)[None]
        sign_colour = colour(rng, "shopsign")
    else:
        low = grid_x(inset, zs[rng.random(len(zs)) < 0.5], np.array([0.9]), win_w, win_h)
        windows = np.concatenate([windows, low])
    return Building(
        side=side, x=x, z0=z0, z1=z1, height=height, colour=colour(rng, "facade"),
        window_colour=window_colour, frame_colour=colour(rng, "frame"), windows=windows,
        frames=frames, shop=shop, shop_sign=shop_sign, sign_colour=sign_colour)


def _building_shadows(rng: np.random.Generator, buildings: list[Building], sun_side: int
                      ) -> np.ndarray:
    """Ground quads in the shadow of the buildings on the sunny side."""
    reach = rng.uniform(0.15, 0.9)
    shift = rng.uniform(-0.5, 0.5)
    quads = [quad_ground(b.x, b.x - sun_side * b.height * reach, b.z0 + shift * b.height * reach,
                         b.z1 + shift * b.height * reach)
             for b in buildings if b.side == sun_side]
    return np.array(quads).reshape(-1, 4, 3)


def _sample_backdrop(rng: np.random.Generator) -> list[tuple[float, float, float, np.ndarray]]:
    blocks = []
    x = -120.0
    while x < 120.0:
        width = rng.uniform(6.0, 30.0)
        blocks.append((x, x + width, rng.uniform(4.0, 30.0), colour(rng, "facade")))
        x += width
    return blocks


def _along(rng: np.random.Generator, start: float, end: float, spacing: tuple[float, float]
           ) -> np.ndarray:
    """Positions from start to end with random gaps in ``spacing``."""
    positions = []
    z = start + rng.uniform(0.0, spacing[1])
    while z < end:
        positions.append(z)
        z += rng.uniform(*spacing)
    return np.array(positions)


def _sample_furniture(rng: np.random.Generator, street: Street) -> list:
    things = []
    half = street.half_width
    leafy = rng.random() < 0.7
    for side in (-1, 1):
        pavement = street.pavement[side > 0]
        if rng.random() < 0.65:
            for z in _along(rng, START, street.end, (7.0, 15.0)):
                if not street.in_crossing(z - 2, z + 2):
                    x = side * (half + rng.uniform(0.6, max(0.7, pavement - 1.0)))
                    things.append(_sample_tree(rng, x, z, leafy))
        if rng.random() < 0.7:
            pole_colour = colour(rng, "pole")
            for z in _along(rng, START, street.end, (18.0, 35.0)):
                if not street.in_crossing(z - 1, z + 1):
                    things.append(StreetLight(x=side * (half + 0.4), z=z, side=side,
                                              height=rng.uniform(5.5, 9.0),
                                              arm=rng.uniform(0.5, 2.0), colour=pole_colour))
        if rng.random() < 0.45:
            for _ in range(rng.integers(1, 4)):
                z0 = rng.uniform(START, street.end - 5)
                z1 = z0 + rng.uniform(4.0, 20.0)
                if street.in_crossing(z0, z1, 1.0):
                    continue
                by_kerb = rng.random() < 0.6
                x = side * (half + 0.3) if by_kerb else street.facade_x(side) - side * 0.6
                height, paint = rng.uniform(0.8, 1.6), colour(rng, "fence")
                solid = rng.random() < 0.3
                # Short pieces, so that each is drawn in the right order with what is around it.
                for a in np.arange(z0, z1 - 0.5, FENCE_PIECE):
                    things.append(Fence(x=x, z0=a, z1=min(a + FENCE_PIECE, z1), height=height,
                                        solid=solid, colour=paint, side=side))
        for z in _along(rng, START, street.end, (25.0, 70.0)):
            things.append(_sample_sign(rng, side * (half + 0.5), z))
        for z in _along(rng, START, street.end, (20.0, 60.0)):
            x = side * (half + rng.uniform(0.5, pavement - 0.3))
            size = (rng.uniform(0.4, 0.8), rng.uniform(0.6, 1.2), rng.uniform(0.4, 0.8))
            things.append(Bin(x=x, z=z, size=size, colour=colour(rng, "bin")))
    for c0, _ in street.crossings:
        for side in (-1, 1):
            things.append(Sign(x=side * (half + 0.5), z=c0 - 1.0, post_height=2.6,
                               kind="light", post_colour=colour(rng, "pole"),
                               colours=_traffic_light_colours(rng), size=0.35))
    return things


def _traffic_light_colours(rng: np.random.Generator) -> list[np.ndarray]:
    lit = int(rng.integers(3))
    lamps = [np.array((40.0, 40, 40)) for _ in range(3)]
    lamps[lit] = np.array([(60.0, 230, 120), (250.0, 190, 40), (250.0, 50, 40)][lit])
    return [rng.uniform(20, 60, 3)] + lamps


def _sample_sign(rng: np.random.Generator, x: float, z: float) -> Sign:
    kind = ("round", "triangle", "square")[rng.integers(3)]
    outer = colour(rng, "sign")
    inner = colour(rng, "sign")
    return Sign(x=x, z=z, post_height=rng.uniform(1.8, 2.8), kind=kind,
                post_colour=colour(rng, "pole"), colours=[outer, inner],
                size=rng.uniform(0.5, 0.9))


def _sample_tree(rng: np.random.Generator, x: float, z: float, leafy: bool) -> Tree:
    trunk_height = rng.uniform(1.8, 3.5)
    radius = rng.uniform(1.3, 3.2)
    leaves = [colour(rng, "leaves") for _ in range(3)]
    blobs = np.zeros((0, 4))
    branches = np.zeros((0, 5))
    if leafy:
        count = int(rng.integers(7, 14))
        angle = rng.uniform(0, 2 * np.pi, count)
        spread = radius * np.sqrt(rng.uniform(0.0, 0.8, count))
        blobs = np.stack([spread * np.cos(angle) * 1.1,
                          trunk_height + radius + spread * np.sin(angle),
                          radius * rng.uniform(0.4, 0.7, count),
                          rng.integers(0, 3, count)], -1)
    else:
        segments = []
        tips = [(0.0, trunk_height * 0.8, np.pi / 2, 0.16)]
        for _ in range(3):
            grown = []
            for ax, ay, direction, width in tips:
                for turn in rng.uniform(-0.7, 0.7, 2):
                    length = radius * rng.uniform(0.5, 0.9)
                    bx = ax + length * np.cos(direction + turn)
                    by = ay + length * np.sin(direction + turn)
                    segments.append((ax, ay, bx, by, width))
                    grown.append((bx, by, direction + turn, round(width * 0.55, 3)))
            tips = grown
        branches = np.array(segments)
    return Tree(x=x, z=z, trunk_height=trunk_height, trunk_width=rng.uniform(0.25, 0.45),
                bark=colour(rng, "bark"), leaves=leaves, blobs=blobs, branches=branches)


def _sample_car(rng: np.random.Generator, x: float, z: float, speed: float, facing: int) -> Car:
    return Car(x=x, z=z, length=rng.uniform(3.8, 4.9), width=rng.uniform(1.65, 1.9),
               speed=speed, facing=facing, paint=colour(rng, "car"),
               glass=colour(rng, "car_glass"), body_height=rng.uniform(0.65, 0.85),
               cabin_height=rng.uniform(0.5, 0.65))


def _sample_traffic(rng: np.random.Generator, street: Street, drive_side: int, camera_x: float,
                    speed: float, travel: float) -> list:
    cars = []
    half = street.half_width
    if street.parking:
        for side in (-1, 1):
            if rng.random() < 0.25:
                continue
            z = START + rng.uniform(0.0, 5.0)
            while z < street.end - 5:
                length = rng.uniform(3.8, 4.9)
                if rng.random() < 0.7 and not street.in_crossing(z, z + length, 1.0):
                    car = _sample_car(rng, side * (half - 1.1), z, 0.0,
                                      1 if side == drive_side else -1)
                    cars.append(car)
                    z += car.length + rng.uniform(0.8, 2.5)
                else:
                    z += rng.uniform(4.0, 12.0)
    duration = travel / speed
    for lane in range(street.lanes):
        for direction in (1, -1):
            x = direction * drive_side * street.lane_width * (lane + 0.5)
            own = abs(x - camera_x) < street.lane_width / 2
            lane_speed = speed if own else speed * rng.uniform(0.7, 1.2)
            velocity = direction * lane_speed
            # Spread cars over the stretch they pass through while the camera drives.
            first = 10.0 if own else START
            last = street.end - 6.0 + max(0.0, -velocity * duration)
            for z in _along(rng, first, last, (12.0, 45.0)):
                cars.append(_sample_car(rng, x + rng.uniform(-0.3, 0.3), z, velocity,
                                        1 if direction > 0 else -1))
    return cars


def _sample_people(rng: np.random.Generator, street: Street, drive_side: int, speed: float,
                   travel: float) -> list:
    people = []
    half = street.half_width
    crossers_from = travel + 12.0  # people crossing the road stay ahead of the camera
    for side in (-1, 1):
        pavement = street.pavement[side > 0]
        for z in _along(rng, START, street.end, (4.0, 20.0)):
            x = side * (half + rng.uniform(0.6, pavement - 0.3))
            walk = 0.0 if rng.random() < 0.2 else rng.uniform(1.0, 1.6) * rng.choice((-1, 1))
            people.append(_sample_pedestrian(rng, x, z, (0.0, walk)))
    for c0, _ in street.crossings:
        if c0 > crossers_from and rng.random() < 0.7:
            for _ in range(rng.integers(1, 4)):
                x = rng.uniform(-half, half)
                walk = rng.uniform(1.0, 1.6) * rng.choice((-1, 1))
                people.append(_sample_pedestrian(rng, x, c0 - rng.uniform(1.0, 3.0), (walk, 0.0)))
    kerb_x = drive_side * (half - street.parking - 0.9)
    for z in _along(rng, START, street.end, (15.0, 60.0)):
        # In a drive, cyclists in the camera's lane keep pace so that it never runs into them.
        ride = speed if travel > 0 else rng.uniform(3.5, 6.0)
        people.append(_sample_bicyclist(rng, kerb_x, z, (0.0, ride)))
    for z in _along(rng, max(START + 6, crossers_from), street.end, (30.0, 90.0)):
        ride = rng.uniform(3.0, 5.0) * rng.choice((-1, 1))
        people.append(_sample_bicyclist(rng, rng.uniform(-half + 1, half - 1), z, (ride, 0.0)))
    return people


def _sample_pedestrian(rng: np.random.Generator, x: float, z: float,
                       velocity: tuple[float, float]) -> Pedestrian:
    return Pedestrian(x=x, z=z, velocity=velocity, height=rng.uniform(1.5, 1.95),
                      top=colour(rng, "clothes"), trousers=colour(rng, "clothes"),
                      skin=colour(rng, "skin"), hair=colour(rng, "hair"),
                      coat=rng.random() < 0.4, phase=rng.uniform(0, 2 * np.pi))


def _sample_bicyclist(rng: np.random.Generator, x: float, z: float,
                      velocity: tuple[float, float]) -> Bicyclist:
    return Bicyclist(x=x, z=z, velocity=velocity, frame=colour(rng, "car"),
                     top=colour(rng, "clothes"), trousers=colour(rng, "clothes"),
                     helmet=colour(rng, "sign"), phase=rng.uniform(0, 2 * np.pi))
