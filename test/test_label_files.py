"""Label files that hold no class ids (colour masks, 16-bit values past 255) stop training
naming the file; 16-bit and RGB-saved grey labels whose values fit are read as they are."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from dataset_files import write_dataset

from fanet_ros.dataset_layouts import DatasetError, find_samples, label_set_for_layout, read_label
from fanet_training.data_checks import check_splits

IDS = np.array([[0, 3, 10], [255, 7, 1]], dtype=np.uint8)


def test_sixteen_bit_and_rgb_saved_grey_labels_read_as_their_ids(tmp_path: Path):
    for name, pixels in (("wide.png", IDS.astype(np.uint16)),
                         ("grey_rgb.png", np.dstack([IDS] * 3))):
        path = tmp_path / name
        cv2.imwrite(str(path), pixels)
        np.testing.assert_array_equal(read_label(path, "folder"), IDS)


def test_sixteen_bit_values_past_255_are_refused_not_wrapped(tmp_path: Path):
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), (IDS.astype(np.uint16) + 256))  # 259 would wrap to class 3
    with pytest.raises(DatasetError) as info:
        read_label(path, "folder")
    assert f"label '{path}' is uint16 with values up to 511" in str(info.value)


def test_colour_masks_stop_training_naming_the_file(tmp_path: Path):
    root = write_dataset(tmp_path, count=2)
    masks = sorted((root / "labels" / "val").glob("*.png"))
    palette = np.asarray(label_set_for_layout("folder").colors, np.uint8)[:, ::-1]
    for path in masks:
        ids = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(path), palette[np.where(ids < len(palette), ids, 0)])
    with pytest.raises(DatasetError) as info:
        check_splits([(s, find_samples(root, "folder", s)) for s in ("train", "val")],
                     "folder", label_set_for_layout("folder"), log=lambda _: None)
    assert f"label '{masks[0]}' is a colour mask" in str(info.value)


def jpeg_with_exif_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    """A JPEG whose EXIF (APP1) says to show it rotated (3: by 180 degrees)."""
    tiff = (b"II*\x00" + (8).to_bytes(4, "little") + (1).to_bytes(2, "little")
            + (0x0112).to_bytes(2, "little") + (3).to_bytes(2, "little")
            + (1).to_bytes(4, "little") + orientation.to_bytes(2, "little") + b"\x00\x00"
            + (0).to_bytes(4, "little"))
    app1 = b"Exif\x00\x00" + tiff
    ok, jpeg = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 100])
    data = jpeg.tobytes()
    return data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]


def test_images_are_read_as_stored_whatever_their_exif_orientation(tmp_path: Path):
    """The label beside it is aligned with the stored pixels, not with a rotated view."""
    from fanet_ros.dataset_layouts import read_image

    pixels = np.zeros((16, 24, 3), np.uint8)
    pixels[:8] = 255  # white top half, black bottom half
    path = tmp_path / "frame.jpg"
    path.write_bytes(jpeg_with_exif_orientation(pixels, 3))
    assert cv2.imread(str(path))[0].mean() < 50  # shown upright, as EXIF says: rotated
    read = read_image(path)
    assert read[0].mean() > 200 and read[-1].mean() < 50


def test_a_folder_dataset_never_pairs_another_splits_frames(tmp_path: Path):
    """Before: without images/val, val fell back to every image under images/ (train and
    valid), each paired with whichever label file had its name."""
    root = write_dataset(tmp_path / "data", splits=("train", "valid"))
    with pytest.raises(DatasetError, match=r"holds train, valid; name the val folders val"):
        find_samples(root, "folder", "val")
    flat = write_dataset(tmp_path / "flat", splits=("train",))
    for kind in ("images", "labels"):  # images/ + labels/ without split folders still read
        for path in (flat / kind / "train").iterdir():
            path.rename(flat / kind / path.name)
        (flat / kind / "train").rmdir()
    assert len(find_samples(flat, "folder", "val")) == len(find_samples(flat, "folder"))


def test_jpeg_labels_are_refused(tmp_path: Path):
    """A JPEG label reads back with class ids invented along every edge, silently."""
    root = write_dataset(tmp_path / "data", splits=("train",))
    label = next((root / "labels" / "train").iterdir())
    cv2.imwrite(str(label.with_suffix(".jpg")), cv2.imread(str(label)))
    label.unlink()
    with pytest.raises(DatasetError, match=r"is a JPEG .*save labels as PNG"):
        find_samples(root, "folder", "train")


def test_palette_and_one_bit_pngs_read_as_their_class_ids(tmp_path: Path):
    """labelme and Pascal VOC save labels as palette PNGs, a binary mask may be 1-bit: OpenCV
    returns the palette's colours (refused as a colour mask) or 0/255 (class 1 read as void)."""
    image = pytest.importorskip("PIL.Image")
    from fanet_ros.dataset_layouts import read_raw_label

    ids = np.array([[0, 1], [2, 3]], np.uint8)
    palette = image.fromarray(ids, mode="P")
    palette.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0])
    palette.save(tmp_path / "voc.png")
    image.fromarray(ids.astype(bool)).save(tmp_path / "mask.png")  # 1-bit
    image.fromarray(ids * 4).save(tmp_path / "grey4.png", bits=4)
    assert read_raw_label(tmp_path / "voc.png").tolist() == [[0, 1], [2, 3]]
    assert read_raw_label(tmp_path / "mask.png").tolist() == [[0, 1], [1, 1]]
    assert read_raw_label(tmp_path / "grey4.png").tolist() == [[0, 4], [8, 12]]



def test_a_palette_of_grey_entries_reads_as_their_values(tmp_path: Path):
    """A re-encoder (pngquant) may store grey ids as a palette whose entry k is grey v != k:
    the values, as OpenCV reads them, are the ids."""
    image = pytest.importorskip("PIL.Image")
    from fanet_ros.dataset_layouts import read_raw_label

    palette = image.fromarray(np.array([[0, 1, 2], [1, 0, 0]], np.uint8), mode="P")
    palette.putpalette([3, 3, 3, 7, 7, 7, 255, 255, 255])
    palette.save(tmp_path / "quantised.png")
    assert read_raw_label(tmp_path / "quantised.png").tolist() == [[3, 7, 255], [7, 3, 3]]


def test_folders_other_than_splits_are_part_of_every_split(tmp_path: Path):
    """images/seq01, images/seq02 (one folder per drive, no split folders) stay readable."""
    root = write_dataset(tmp_path / "data", splits=("seq01", "seq02"))
    assert len(find_samples(root, "folder", "val")) == 8
