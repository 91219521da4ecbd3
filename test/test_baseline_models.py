"""Fast-SCNN, ContextNet and ESPNet all the way: fanet-train, fanet-export, the node pipeline.

Tiny sizes (64x64 training, 64x96 export) keep each model to one step of the real
loop (its data, loss, callbacks and checkpoints; run eagerly: tracing the training graph
of these models costs more than the whole test otherwise) and one real export, whose
graph is traced and checked against Keras; the exported file is loaded as the node
loads it (metadata check included) and segments a synthetic street frame at camera size.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
import tensorflow as tf
from dataset_files import write_dataset

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.runtime import BackendConfig, create_backend
from fanet_ros.segmentation_pipeline import SegmentationPipeline
from fanet_ros.synthetic import generate_drive
from fanet_training import train as train_module
from fanet_training.export import choose_head
from fanet_training.export_cli import main as export_main
from fanet_training.train import TrainConfig, train

HEAD = {"fast_scnn": "logits", "contextnet": "logits", "espnet": "probabilities"}
"""The exporter's default head: logits where the classifier is at stride 8 (ESPNet's is at 4)."""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data"), count=2)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HEAD))
def test_trains_exports_and_segments_a_frame_in_the_node_pipeline(
    name: str, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(train_module, "tensorboard_available", lambda: False)  # saves seconds
    keras.utils.set_random_seed(0)
    run = tmp_path / "run"
    tf.config.run_functions_eagerly(True)
    try:
        state = train(TrainConfig(model=name, dataset_root=str(dataset), layout="folder",
                                  run_dir=str(run), height=64, width=64, batch_size=2, epochs=1,
                                  optimizer="adam", learning_rate=1e-3, warmup_epochs=0.0,
                                  workers=0), verbose=0)
        assert state["epoch"] == 1 and (run / "best.weights.h5").is_file()
        model_file = tmp_path / f"{name}.onnx"
        code = export_main([str(run), "--height", "64", "--width", "96",
                            "--output", str(model_file)])
    finally:
        tf.config.run_functions_eagerly(False)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"output {HEAD[name]}" in printed and "TOO" not in printed

    backend = create_backend(BackendConfig(model_path=model_file, backend="onnxruntime"))
    assert backend.metadata.model == name and backend.metadata.output == HEAD[name]
    frame, _ = next(iter(generate_drive(0, 1, height=120, width=160)))
    out = SegmentationPipeline(backend).process(DecodedImage(frame, "rgb8"))
    assert out.labels.shape == (120, 160)
    assert int(out.labels.max()) < backend.metadata.num_classes


def test_exporter_head_follows_the_classifier_stride() -> None:
    assert choose_head("fast_scnn", 8, None) == "logits"
    assert choose_head("espnet", 4, None) == "probabilities"
    assert choose_head("fsffnet", 2, "labels") == "labels"
    with pytest.raises(ValueError, match="espnet's classifier is at stride 4.*--head probab"):
        choose_head("espnet", 4, "logits")
