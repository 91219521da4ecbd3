"""fanet_ros: an ament_python package that also installs with pip on a machine without ROS.

colcon: `colcon build --packages-select fanet_ros` then `ros2 run fanet_ros segmentation_node`.
pip:    `pip install .[ros]` pulls the ROS 2 Kilted wheels from PyPI; commands are `fanet-*`.
The package ``fanet_training`` (training, export) needs no ROS.
"""

import os
import sys
from glob import glob

from setuptools import Distribution, find_packages, setup
from setuptools.command.develop import develop
from setuptools.command.install_scripts import install_scripts

PACKAGE = "fanet_ros"

ROS_WHEELS = [
    "ros-kilted-rclpy",
    "ros-kilted-sensor-msgs",
    "ros-kilted-std-msgs",
    "ros-kilted-diagnostic-msgs",
    "ros-kilted-rmw-fastrtps-cpp",
]
TRAINING = [
    "tensorflow-cpu>=2.16; platform_machine=='x86_64'",
    "keras>=3.8",  # 3.8 scales a loss per replica (multi-GPU training, fanet_training.losses)
    "onnx>=1.15",
    "tf2onnx>=1.16",
    "cityscapesscripts>=2.2",
    "tqdm",
    "matplotlib>=3.5",
    "tensorboard",
]
EVALUATION = ["rosbags>=0.10", "matplotlib>=3.5", "tqdm"]

COMMANDS = {
    "segmentation_node": "fanet_ros.node.segmentation_node",
    "segmentation_lifecycle_node": "fanet_ros.node.segmentation_lifecycle_node",
    "evaluator_node": "fanet_ros.evaluation.evaluator_node",
    "demo": "fanet_ros.evaluation.demo",
    "make_bag": "fanet_ros.evaluation.make_bag",
    "bag_eval": "fanet_ros.evaluation.bag_eval",
    "robustness": "fanet_ros.evaluation.robustness",
    "build_engine": "fanet_ros.tensorrt.build_engine_cli",
    "check_engine": "fanet_ros.tensorrt.check_engine_cli",
}
"""Commands by their ROS name. pip puts them on PATH as ``fanet-<name>`` (``fanet-demo``);
``ros2 run fanet_ros <name>`` runs the scripts in ros_executables/, which colcon (and pip)
install into lib/fanet_ros, off PATH. Under colcon lib/fanet_ros holds only these names."""


class RosInstallScripts(install_scripts):
    """``setup.py install`` (what colcon runs) writes no ``fanet-*`` entry-point scripts, so
    lib/fanet_ros holds only the ROS names. A wheel (pip) never writes them here either:
    pip makes the ``fanet-*`` scripts on PATH from the entry points."""

    def run(self) -> None:
        self.no_ep = True
        super().run()


class RosDevelop(develop):
    """``setup.py develop`` (colcon --symlink-install): the same, on setuptools < 80, whose
    develop writes entry-point scripts itself; later ones hand develop to pip. colcon then
    links lib/fanet_ros to the ``ros_executables`` of its build folder, themselves links to
    the source: each becomes a copy there that starts this Python, as a plain build's do."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.exclude_scripts = True

    def run(self) -> None:
        super().run()
        _copy_linked_executables("ros_executables")


def _copy_linked_executables(folder: str) -> None:
    """Links to the ROS executables (colcon's build folder; never the source itself) become
    copies that start this Python."""
    for name in COMMANDS:
        path = os.path.join(folder, name)
        if os.path.islink(path):
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            os.unlink(path)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(path, 0o755)
            _use_this_python(path)


class RosInstallData(Distribution().get_command_class("install_data")):
    """``setup.py install`` (what colcon runs): the ``ros2 run`` scripts in lib/fanet_ros start
    the Python that built the workspace, as ament_python's entry-point scripts do, not the
    first ``python3`` on PATH (a conda or venv shell's, without rclpy or the pip
    requirements). Left as they are in a wheel (built for another machine's Python) and where
    colcon --symlink-install links them to the source tree."""

    def run(self) -> None:
        super().run()
        if "bdist_wheel" in self.distribution.commands:
            return
        for path in self.get_outputs():
            if (os.path.dirname(path).endswith(os.path.join("lib", PACKAGE))
                    and not os.path.islink(path)):
                _use_this_python(path)


def _use_this_python(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        first, rest = handle.readline(), handle.read()
    if first.startswith("#!") and "python" in first:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"#!{sys.executable}\n{rest}")

# pytest-xdist: scripts/test.sh runs two workers; jax (CPU): the GPU pack's run test
TEST = ["pytest>=7", "pytest-xdist>=3.2", "ruff", "jax"]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["fanet_ros", "fanet_ros.*",
                                    "fanet_training", "fanet_training.*"]),
    package_data={"fanet_ros": ["models/*.onnx", "models/*.md", "models/*.json",
                              "models/*.weights.h5"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml", "requirements.txt"]),
        (f"lib/{PACKAGE}", [f"ros_executables/{name}" for name in COMMANDS]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", sorted(glob("config/*.yaml") + glob("config/*.rviz")
                                           + glob("config/*.xml"))),
    ],
    python_requires=">=3.10",
    install_requires=[
        "setuptools", "numpy", "opencv-python-headless", "onnxruntime", "onnx", "pyyaml"
    ],
    extras_require={
        "ros": ROS_WHEELS,
        "training": TRAINING,
        "eval": EVALUATION,
        "test": TEST,
        # TensorRT itself comes with JetPack 6, or `pip install tensorrt` on a desktop.
        # cuda-python 13 links the CUDA 13 runtime and needs driver r580+, so stay on 12:
        # desktop: any CUDA 12 driver (r525+); Jetson (JetPack 6 = CUDA 12.2 / 12.6):
        # pick the release of your CUDA if 12.6 fails with cudaErrorInsufficientDriver (35)
        "tensorrt": [
            "cuda-python>=12.2,<13; platform_machine=='x86_64'",
            "cuda-python>=12.2,<12.7; platform_machine=='aarch64'",
        ],
        "all": ROS_WHEELS + TRAINING + EVALUATION + TEST,
    },
    zip_safe=False,
    cmdclass={"install_scripts": RosInstallScripts, "develop": RosDevelop,
              "install_data": RosInstallData},
    maintainer="fanet_ros developers",
    maintainer_email="dev@fanet-ros.local",
    description="Real-time semantic segmentation (FANet, FSFFNet) for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"fanet-{name.replace('_', '-')} = {module}:main" for name, module in COMMANDS.items()
        ] + [
            "fanet-train = fanet_training.train:main",
            "fanet-evaluate = fanet_training.evaluate:main",
            "fanet-export = fanet_training.export_cli:main",
        ],
    },
)
