"""Synthetic street scenes with pixel-exact CamVid labels (NumPy + OpenCV only).

- ``generate_scene(seed_or_rng, height, width)`` -> (RGB uint8, labels uint8)
- ``generate_drive(seed, num_frames, height, width, fps)`` -> coherent frames of a drive
- ``write_dataset(root, num_train, num_val, height, width, seed, layout)`` -> a CamVid-layout
  folder that fanet_ros.dataset_layouts reads
- CLI: ``python -m fanet_ros.synthetic --help``

Labels use fanet_ros.labels.CAMVID class ids 0..10 and 255 for void.
"""

from fanet_ros.synthetic.dataset import write_dataset
from fanet_ros.synthetic.scene import generate_drive, generate_scene

__all__ = ["generate_drive", "generate_scene", "write_dataset"]
