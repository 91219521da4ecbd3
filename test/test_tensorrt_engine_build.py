"""Building engines on the CPU against a fake TensorRT that fails exactly as the real one does.

``fake_tensorrt`` reproduces the failures of issue 16 (8.x parsers reject a
uint8 cast of ArgMax's output, the calibrator trampoline swallows
exceptions, failed builds return None, TensorRT 11 has no FP16 flag);
everything of fanet_ros between the ONNX file and the engine is the real code.
"""

from __future__ import annotations

import importlib
import json

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from tiny_model import build_tiny_model

from fanet_ros.onnx.tensorrt_graph import check_for_tensorrt, prepare_for_tensorrt, unsupported_ops
from fanet_ros.runtime import BackendConfig, ModelLoadError, create_backend
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.tensorrt.build_advice import build_failure_advice
from fanet_ros.tensorrt.check import compare_backends, synthetic_frames
from fanet_ros.tensorrt.engine_spec import EngineSpec

OUT_OF_MEMORY = (
    "Requested amount of GPU memory (4294967296 bytes) could not be allocated. There may not "
    "be enough free memory for allocation to succeed."
)


def tensorrt_config(model, tmp_path, **options) -> BackendConfig:
    options.setdefault("backend", "tensorrt")
    return BackendConfig(model_path=model, engine_cache_dir=str(tmp_path / "engines"), **options)


@pytest.mark.parametrize(("version", "dtype"), [("8.6.1", np.int32), ("10.3.0", np.int64)])
def test_labels_model_builds_without_its_uint8_cast_and_labels_match(
    fake_gpu, tmp_path, version, dtype
):
    trt, _ = fake_gpu(version)
    model = build_tiny_model(tmp_path / "labels.onnx", output="labels")
    if version.startswith("8."):  # the fake reproduces the failure of the unprepared graph
        parser = trt.OnnxParser(trt.Builder(None).create_network(1), None)  # explicit batch
        assert not parser.parse_from_file(str(model))
        assert "UINT8" in parser.get_error(0).desc()
    said: list[str] = []
    engine = create_backend(tensorrt_config(model, tmp_path, precision="fp32"), log=said.append)
    try:
        raw = engine.infer(np.zeros((1, 64, 96, 3), np.float32))
        result = compare_backends(OnnxRuntimeBackend(model), engine, synthetic_frames(4, 64, 96))
    finally:
        engine.close()
    assert raw.shape == (1, 64, 96) and raw.dtype == dtype
    assert result.agreement_percent == 100.0
    assert any("final Cast(INT64 -> UINT8) is left out" in m for m in said)


def test_probability_models_are_given_to_tensorrt_unchanged(tiny_model):
    model = onnx.load(str(tiny_model))
    prepared, changes = prepare_for_tensorrt(model)
    assert changes == [] and prepared == model


def test_export_check_looks_at_data_types_not_only_operator_names(tiny_model, tmp_path):
    labels = onnx.load(str(build_tiny_model(tmp_path / "labels.onnx", output="labels")))
    check = check_for_tensorrt(labels)
    assert check.problems == [] and len(check.changes) == 1  # the builder handles the final cast
    # the same cast inside the graph: every operator is on the list, the data types are not
    graph = labels.graph
    graph.node.append(helper.make_node("Cast", ["labels"], ["ids"], to=TensorProto.FLOAT))
    graph.output.pop()
    graph.output.append(helper.make_tensor_value_info("ids", TensorProto.FLOAT, None))
    assert unsupported_ops({n.op_type for n in graph.node}) == []
    check = check_for_tensorrt(labels)
    assert check.changes == []
    assert check.problems == [
        "node 'labels' (Cast) casts INT64 to UINT8: TensorRT 8.6 casts to UINT8 from FP32/FP16 only"
    ]
    assert check_for_tensorrt(onnx.load(str(tiny_model))).problems == []


@pytest.fixture
def images_with_a_bad_third(tmp_path):
    folder = tmp_path / "calibration"
    folder.mkdir()
    for index, frame in enumerate(synthetic_frames(4, 64, 96)):
        cv2.imwrite(str(folder / f"{'abde'[index]}.png"), frame.pixels)
    (folder / "c.png").write_bytes(b"\x89PNG truncated by a full disk")
    return folder


def test_calibration_error_is_raised_after_the_build_and_no_cache_is_written(
    fake_gpu, tiny_model, tmp_path, images_with_a_bad_third
):
    trt, _ = fake_gpu()
    config = tensorrt_config(tiny_model, tmp_path, precision="int8",
                             int8_calibration_dir=str(images_with_a_bad_third))
    with pytest.raises(ModelLoadError, match=r"calibration failed .*cannot read image .*c\.png"):
        create_backend(config)
    assert trt.builds == [(["FP16", "INT8", "TF32"], 2)]  # TRT saw two batches, went on
    assert not list((tmp_path / "engines").glob("*.calib"))
    assert not list((tmp_path / "engines").glob("*.engine"))


def test_calibration_cache_is_kept_per_tensorrt_version(fake_gpu, tiny_model, tmp_path):
    folder = tmp_path / "calibration"
    folder.mkdir()
    for index, frame in enumerate(synthetic_frames(3, 64, 96)):
        cv2.imwrite(str(folder / f"{index}.png"), frame.pixels)
    fake_gpu("8.6.1")
    create_backend(tensorrt_config(tiny_model, tmp_path, precision="int8",
                                   int8_calibration_dir=str(folder))).close()
    caches = [p.name for p in (tmp_path / "engines").glob("*.calib")]
    assert len(caches) == 1 and "_trt8.6.1_" in caches[0]
    for engine in (tmp_path / "engines").glob("*.engine"):
        engine.unlink()
    trt, _ = fake_gpu("8.6.1")  # same version, no images: the calibration cache suffices
    create_backend(tensorrt_config(tiny_model, tmp_path, precision="int8")).close()
    assert trt.builds == [(["FP16", "INT8", "TF32"], 0)]
    fake_gpu("10.3.0")  # an upgrade does not reuse 8.6's scales, which TensorRT would reject
    with pytest.raises(ModelLoadError, match="needs calibration images.*_trt10.3.0_"):
        create_backend(tensorrt_config(tiny_model, tmp_path, precision="int8"))
    specs = [EngineSpec.from_config(tensorrt_config(tiny_model, tmp_path), tensorrt_version=v)
             for v in ("8.6.1", "10.3.0")]
    assert specs[0].calibration_cache_path != specs[1].calibration_cache_path


@pytest.mark.parametrize(("errors", "expected"), [
    ([OUT_OF_MEMORY], "ran out of memory"),
    (["Could not find any implementation for node /conv/Conv."], "raise workspace_mb (now 64)"),
])
def test_build_failure_says_what_failed(fake_gpu, tiny_model, tmp_path, errors, expected):
    fake_gpu(fail_build_with=errors)
    with pytest.raises(ModelLoadError) as raised:
        create_backend(tensorrt_config(tiny_model, tmp_path, workspace_mb=64))
    message = str(raised.value)
    assert expected in message and errors[0] in message
    assert not list((tmp_path / "engines").glob("*.engine"))


def test_build_advice_for_calibration_and_for_silence(tmp_path):
    cache = tmp_path / "m.calib"
    advice = build_failure_advice(["Calibration failure occurred"], "int8", 1024, cache)
    assert advice.startswith(f"INT8 calibration failed: delete the calibration cache {cache}")
    assert "logged no error" in build_failure_advice([], "fp16", 1024)
    assert "do not point to a setting" in build_failure_advice(["Assertion x"], "fp16", 1024)


def test_tensorrt_11_builds_fp16_from_an_fp16_graph_on_a_strongly_typed_network(
    fake_gpu, tiny_model, tmp_path
):
    """TensorRT 11 has no FP16 flag: the graph itself is converted, inputs and outputs stay fp32."""
    trt, _ = fake_gpu("11.1.0")
    said: list[str] = []
    backend = create_backend(tensorrt_config(tiny_model, tmp_path, backend="auto"),
                             log=said.append, warn=said.append)
    try:
        assert backend.name == "tensorrt"
        result = compare_backends(OnnxRuntimeBackend(tiny_model), backend,
                                  synthetic_frames(4, 64, 96))
    finally:
        backend.close()
    assert trt.networks == [(True, ["FLOAT16"])] and trt.builds == [(["TF32"], 0)]  # fp16: TF32 on
    assert result.agreement_percent >= 99.5 and result.max_probability_difference < 1e-2
    assert any("converted to fp16" in m for m in said)
    assert not any("falling back" in m for m in said)
    fp32 = create_backend(tensorrt_config(tiny_model, tmp_path, precision="fp32"))
    fp32.close()
    assert trt.networks[-1] == (True, ["FLOAT"])


def test_tensorrt_11_refuses_int8_naming_the_version_and_what_to_do(
    fake_gpu, tiny_model, tmp_path
):
    fake_gpu("11.1.0")
    with pytest.raises(ModelLoadError, match=r"TensorRT 11\.1\.0 has no INT8 calibration.*"
                                             r"precision fp16 or fp32.*tensorrt<11"):
        create_backend(tensorrt_config(tiny_model, tmp_path, precision="int8"))


def test_8x_parser_needs_the_explicit_batch_flag_and_the_builder_sets_it(
    fake_gpu, tiny_model, tmp_path, monkeypatch
):
    fake_gpu("8.6.1")
    builder = importlib.import_module("fanet_ros.tensorrt.builder")  # bound to this fake
    create_backend(tensorrt_config(tiny_model, tmp_path, precision="fp32")).close()
    monkeypatch.setattr(builder, "_create_network", lambda b: b.create_network())
    with pytest.raises(ModelLoadError, match="explicit batch dimension"):
        create_backend(tensorrt_config(tiny_model, tmp_path / "other", precision="fp32"))


def test_parser_errors_name_the_node_on_10x_and_by_index_on_8x(fake_gpu, tiny_model, tmp_path):
    named = onnx.load(str(tiny_model))
    for index, node in enumerate(named.graph.node):
        node.name = f"n{index}_{node.op_type.lower()}"
    model = tmp_path / "named.onnx"
    onnx.save(named, str(model))
    trt, _ = fake_gpu("10.3.0", reject_ops=("Softmax",))
    assert hasattr(trt.ParserError, "node_name")
    with pytest.raises(ModelLoadError, match=r"  node 'n2_softmax' \(Softmax\): No importer"):
        create_backend(tensorrt_config(model, tmp_path))
    trt, _ = fake_gpu("8.6.1", reject_ops=("Softmax",))
    assert not hasattr(trt.ParserError, "node_name")
    with pytest.raises(ModelLoadError, match=r"  node #2 'n2_softmax' \(Softmax\): No importer"):
        create_backend(tensorrt_config(model, tmp_path))


def test_a_calibration_cache_that_cannot_be_written_stops_the_build(
    fake_gpu, tiny_model, tmp_path, monkeypatch
):
    """TensorRT's trampoline swallows write_calibration_cache's exception (the fake too)."""
    folder = _calibration_folder(tmp_path / "calibration", 3)
    fake_gpu()
    calibrator = importlib.import_module("fanet_ros.tensorrt.calibrator")  # bound to this fake

    def disk_full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(calibrator, "atomic_write_bytes", disk_full)
    with pytest.raises(ModelLoadError, match=r"cache .*\.calib could not be written: .*No space"):
        create_backend(tensorrt_config(tiny_model, tmp_path, precision="int8",
                                       int8_calibration_dir=str(folder)))
    assert not list((tmp_path / "engines").glob("*.engine"))


def _calibration_folder(folder, count, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(synthetic_frames(count, 64, 96, seed=seed)):
        cv2.imwrite(str(folder / f"{index}.png"), frame.pixels)
    return folder


def test_deleting_the_calibration_cache_or_changing_the_images_recalibrates(
    fake_gpu, tiny_model, tmp_path
):
    first = _calibration_folder(tmp_path / "first", 3)
    second = _calibration_folder(tmp_path / "second", 4, seed=5)
    trt, _ = fake_gpu()

    def start(folder):
        create_backend(tensorrt_config(tiny_model, tmp_path, precision="int8",
                                       int8_calibration_dir=str(folder))).close()

    start(first)
    start(first)  # cached engine, no build
    assert trt.builds == [(["FP16", "INT8", "TF32"], 3)]
    (calib,) = (tmp_path / "engines").glob("*.calib")
    calib.unlink()
    start(first)  # the docs' "delete it to recalibrate"
    assert trt.builds[-1] == (["FP16", "INT8", "TF32"], 3) and len(trt.builds) == 2
    start(second)  # other images: calibrate again
    assert trt.builds[-1] == (["FP16", "INT8", "TF32"], 4) and len(trt.builds) == 3
    start(second)
    assert len(trt.builds) == 3
    create_backend(tensorrt_config(tiny_model, tmp_path, precision="int8")).close()
    assert len(trt.builds) == 3  # no folder: the cache as it is


def test_rebuilds_reuse_the_timing_cache(fake_gpu, tiny_model, tmp_path):
    trt, _ = fake_gpu()
    from fanet_ros.tensorrt.engines import open_engine

    config = tensorrt_config(tiny_model, tmp_path, precision="fp32")
    open_engine(config, print)
    open_engine(config, print, force=True)
    assert trt.timed[0] > 0 and trt.timed[1] == 0
    (timing,) = (tmp_path / "engines").glob("timing_*.cache")
    timing.write_bytes(b"garbage")  # a corrupt cache costs time, not the build
    logs: list[str] = []
    open_engine(config, logs.append, force=True)
    assert trt.timed[2] == trt.timed[0]
    assert f"TensorRT timing cache {timing} is unusable" in "\n".join(logs)
    open_engine(config, print, force=True)  # the build saved a good cache over the bad one
    assert trt.timed[3] == 0
    trt.timing_cache_of_another_device = True  # TensorRT refuses it: time again, still build
    logs.clear()
    open_engine(config, logs.append, force=True)
    assert trt.timed[4] == trt.timed[0] and len(trt.builds) == 5
    assert f"TensorRT refused the timing cache {timing}; starting an empty one" in logs


def test_an_input_shape_the_profile_refuses_stops_the_build_naming_model_and_shape(
        fake_gpu, tiny_model, tmp_path):
    trt, _ = fake_gpu("10.3.0")
    trt.refuse_profile_shapes = True  # set_shape raises RuntimeError, as the binding does
    with pytest.raises(ModelLoadError, match=(
            r"refused the input shape \(1, 64, 96, 3\) for 'image' of '.*tiny.*\.onnx' "
            r"\(TensorRT said: Shape provided for min is inconsistent.*use another input size")):
        create_backend(tensorrt_config(tiny_model, tmp_path, precision="fp32")).close()
    assert trt.builds == []


@pytest.mark.parametrize(("version", "precision"), [
    ("10.3.0", "fp16"), ("11.0.0", "fp16"), ("8.6.1", "fp32")])
def test_the_engine_key_holds_the_digest_of_the_graph_the_parser_got(
        fake_gpu, tiny_model, tmp_path, version, precision):
    trt, _ = fake_gpu(version)
    create_backend(tensorrt_config(tiny_model, tmp_path, precision=precision)).close()
    (sidecar,) = (tmp_path / "engines").glob("*.json")
    assert json.loads(sidecar.read_text())["key"]["graph_sha256"] == trt.parsed[-1]


def test_a_model_replaced_after_its_key_was_computed_is_not_built_under_that_key(
        fake_gpu, tiny_model, tmp_path):
    trt, _ = fake_gpu()
    from fanet_ros.tensorrt.builder import EngineBuildError, build_serialized_engine

    model = tmp_path / "model.onnx"
    model.write_bytes(tiny_model.read_bytes())
    spec = EngineSpec.from_config(tensorrt_config(str(model), tmp_path, precision="fp32"))
    build_tiny_model(model, output="labels")  # another graph at the same path
    with pytest.raises(EngineBuildError, match="changed after its engine key was computed"):
        build_serialized_engine(spec, print)
    assert trt.builds == []


def test_a_build_keeps_the_timings_another_build_saved_meanwhile(fake_gpu, tiny_model,
                                                                 tmp_path):
    """Two nodes building different engines on one GPU share the timing cache file: the build
    that saves last merges in what the other saved after it had loaded the file."""
    trt, _ = fake_gpu()
    from fanet_ros.shipped_models import resolve_model
    from fanet_ros.tensorrt.engines import open_engine

    first = tensorrt_config(tiny_model, tmp_path, precision="fp32")
    other = tensorrt_config(str(resolve_model("fanet_synthetic")), tmp_path, precision="fp32")
    build, interrupted = trt.Builder.build_serialized_network, []

    def other_build_meanwhile(self, network, config):
        if not interrupted:  # the first build has loaded the (empty) timing cache
            interrupted.append(True)
            open_engine(other, print)
        return build(self, network, config)

    trt.Builder.build_serialized_network = other_build_meanwhile
    open_engine(first, print)
    trt.Builder.build_serialized_network = build
    assert len(trt.builds) == 2 and trt.timed[0] > 0 and trt.timed[1] > 0
    open_engine(other, print, force=True)
    open_engine(first, print, force=True)
    assert trt.timed[2:] == [0, 0]  # both engines' kernel timings were kept


@pytest.mark.parametrize(("precision", "flags"), [
    ("fp32", []), ("fp16", ["FP16", "TF32"])])
def test_fp32_engines_are_built_without_tf32(fake_gpu, tiny_model, tmp_path, precision, flags):
    """TensorRT turns TF32 on by default: an "fp32" engine would multiply in TF32 on Ampere
    and later GPUs (10 mantissa bits), so fp32 builds clear it."""
    trt, _ = fake_gpu()
    create_backend(tensorrt_config(tiny_model, tmp_path, precision=precision)).close()
    assert trt.builds == [(flags, 0)]


@pytest.mark.parametrize(("version", "sources"), [
    ("8.6.1", [["EDGE_MASK_CONVOLUTIONS", "JIT_CONVOLUTIONS"]]), ("10.3.0", [])])
def test_tensorrt_8_engines_use_no_cublas_or_cudnn_tactics(fake_gpu, tiny_model, tmp_path,
                                                          version, sources):
    """TensorRT 8.x also times cuBLAS/cuDNN kernels by default; an engine that picked one
    would depend on that library's version, which the engine key does not hold."""
    trt, _ = fake_gpu(version)
    create_backend(tensorrt_config(tiny_model, tmp_path)).close()
    assert trt.tactic_sources == sources  # 10.x: left as TensorRT sets them (no libraries)
