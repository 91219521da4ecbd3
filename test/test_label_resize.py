"""Label maps are resized nearest-neighbour on the pixel centres the image resizes use, so a
mask stays on the object it was predicted for (training labels, node outputs, scoring)."""

from __future__ import annotations

import numpy as np

from fanet_ros.preprocessing import resize_image, resize_labels


def test_labels_land_where_the_image_resize_puts_the_same_content() -> None:
    labels = np.zeros((4, 9), np.uint8)
    labels[:, 4] = 1  # a pole one pixel wide, in the middle
    image = np.zeros((4, 9, 3), np.uint8)
    image[:, 4] = 255
    shrunk = resize_image(image, 4, 3)[0, :, 0]
    assert int(np.argmax(shrunk)) == 1
    assert resize_labels(labels, 4, 3)[0].tolist() == [0, 1, 0]  # floor(x * 3) missed it


def test_upsampled_labels_keep_their_centres() -> None:
    ids = np.arange(5, dtype=np.uint8)[None].repeat(2, axis=0)
    assert resize_labels(ids, 2, 7)[0].tolist() == [0, 1, 1, 2, 3, 3, 4]  # symmetric
    same = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert resize_labels(same, 3, 4) is same
