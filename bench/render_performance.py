"""Write docs/performance.md from the benchmark results in bench/results/*.json.

    python bench/render_performance.py

Every number in the page comes from those files; rerun the benchmarks (see
the page) and this script to refresh it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR  # noqa: E402

from fanet_ros.markdown_blocks import update_file_block  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
NON_INFERENCE_TARGET = 0.05
P95_TARGET = 1.3
RSS_TARGET = 0.05
TARGET_RATE = 30.0
NODE_TARGETS_NOTE = (
    "What holds the node's targets back at 30 Hz with a 1024x2048 camera on this 2-core CPU. "
    "Non-inference: labels (exact refinement), colours and overlay at 2 MP and publishing "
    "14 MB a frame cost a large share of the inference time, and the DDS threads that "
    "receive 6 MB camera frames 30 times a second compete with inference for the two cores, "
    "so `non-inference <= 5 %` is out of reach with outputs at camera resolution; at model "
    "resolution (`output_resolution:=model`, the variant) the share drops but stays above "
    "5 %. p95 at a subscriber: a frame that arrives while one is processed waits up to one "
    "camera period for the worker (newest wins), and on the default transport the camera's "
    "6 MB frames reach the node late (stamp to receipt) and the outputs reach the subscriber "
    "late (end to end minus stamp to publish); `config/fastdds_large_images.xml` removes "
    "most of the first. Tried: colours by `cv2.applyColorMap` (one pass from ids to "
    "colours; see Work around inference), the refinement's fill by run "
    "repeats and its writes through flat indices, the benchmark's frames as street scenes "
    "and the trained model (its class boundaries set the refinement's cost); one ONNX "
    "Runtime thread (`--num-threads 1`: slower inference, p95 no better) was not kept.")
ORT_TUNING_NOTE = (
    "Each setting changed alone from the node's (fanet_ros/runtime/onnxruntime_backend.py, "
    "`session_options`), timed in one run with the variants alternating "
    "(bench/ort_tuning.py); the default runs again last in each round, and its ratio is the "
    "noise of the run (other jobs shared the CPU): read differences smaller than that as none. "
    "What the node keeps: graph optimisation `all` (every lower level takes about twice the "
    "time or more); ONNX Runtime's default thread count (`num_threads:=0`; one thread costs "
    "here, and in the node benchmark below it raised inference time without lowering p95); "
    "idle threads not spinning (no gain that stands out of the noise here, a cost in the "
    "whole pipeline, see below). Dropped: folding BatchNorm into the convolutions in the float "
    "export. ONNX Runtime's basic level already folds each Conv + Mul + Add (tf2onnx's "
    "BatchNorm) the same way, so the optimised graphs are the same, node for node; the fold "
    "(`fanet_training.export.fold_conv_affine`) is kept where it pays, before INT8 "
    "quantisation: without it every BatchNorm becomes a quantised Mul and Add of its own. "
    "INT8 (`fanet-export model.onnx --quantize int8 --calibration-dir /data/camvid/train`) is "
    "an option, not the default: faster than the float model in each run made on this "
    "shared CPU (AVX-512 VNNI), in some by no more than the noise, and at the val mIoU below.")


def load(results_dir: Path, name: str) -> dict[str, Any] | None:
    path = results_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def machine_line(data: dict[str, Any]) -> str:
    m = data["machine"]
    start = data.get("load_average_at_start")
    load = f"load average at start {start[0]}, at end {m['load_average_1_5_15'][0]}" if start \
        else f"load average {m['load_average_1_5_15'][0]}"
    return f"_{m['cpu']}, {m['cores']} cores, {load}; {m['time']}._"


def environment_line(data: dict[str, Any]) -> str:
    env = data.get("environment") or {}
    if not env:
        return "Transport: the RMW's defaults (rmw_fastrtps_cpp, built-in transports)."
    return "Environment: " + ", ".join(f"`{k}={v}`" for k, v in env.items()) + "."


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def targets(node: dict[str, Any]) -> list[str]:
    """The issue's targets, checked on each transport's run at the target rate."""
    at_rate = [r for r in node["runs"] if r["rate_hz"] == TARGET_RATE] or node["runs"][:1]
    lines = []
    for run in at_rate:
        transport = run.get("transport", "default")
        lines += [f"Checked on the {run['rate_hz']:g} Hz run, {transport} transport "
                  f"({run['duration_s']:g} s measured):", ""]
        share = run["non_inference_share_of_inference"]
        ratio = run["p95_over_frame_processing"]
        node_ratio = run.get("node_p95_over_frame_processing")
        growth = run["rss_growth"]
        first, last = run["latency_first_ms"]["p95"], run["latency_last_ms"]["p95"]
        if share is not None:
            lines.append(
                f"- Non-inference time per frame: {run['non_inference_ms']:.1f} ms = "
                f"{100 * share:.1f}% of inference ({run['stage_ms']['inference']:.1f} ms); "
                f"target <= {100 * NON_INFERENCE_TARGET:.0f}%: "
                f"{verdict(share <= NON_INFERENCE_TARGET)}.")
        if ratio is not None:
            lines.append(
                f"- p95 latency at the subscriber {run['latency_ms']['p95']:.0f} ms = "
                f"{ratio:.2f} x the frame processing time ({run['frame_processing_ms']:.0f} ms); "
                f"target <= {P95_TARGET}: {verdict(ratio <= P95_TARGET)}. First / last "
                f"{run['flat_window_s']:.0f} s p95: {first:.0f} / {last:.0f} ms.")
        if node_ratio is not None:
            node_p95 = run["node_breakdown_ms_median_of_periods"]["latency_p95"]
            lines.append(
                f"- The node's own p95 (camera stamp to its publish, without the outputs' "
                f"transport): {node_p95:.0f} ms = {node_ratio:.2f} x the frame processing time.")
        if growth is not None:
            lines.append(
                f"- Node RSS {run['rss_mb_start']:.0f} -> {run['rss_mb_end']:.0f} MiB "
                f"({100 * growth:+.1f}%); target <= {100 * RSS_TARGET:.0f}%: "
                f"{verdict(growth <= RSS_TARGET)}.")
        lines.append("")
    return lines[:-1]


def render(results_dir: Path) -> str:
    parts = [
        "# Performance",
        "",
        "Generated by `python bench/render_performance.py` from `bench/results/*.json`; "
        "the command that produced each table is shown above it. All numbers are from "
        "the machine named under each table, on CPU (ONNX Runtime). Networks are timed "
        "as random-weight exports (a network's speed does not depend on its weights); "
        "the labels heads and the node pipeline run the shipped model, whose class "
        "boundaries set the exact refinement's cost. The machine was shared with "
        "other jobs, so compare numbers within one table rather than across tables.",
    ]
    model = load(results_dir, "model_table")
    if model:
        parts += ["", "## Models", "", f"`{model['command']}`", "",
                  "The network and the labels head timed apart (bench/model_table.py): "
                  "networks with random weights, heads on the shipped CamVid model's logits "
                  "(trained weights: real class boundaries). GMACs count convolution and dense "
                  "layers (bench/macs.py).", "", model["markdown"], "", machine_line(model)]
    comparison = load(results_dir, "model_comparison")
    if comparison:
        parts += ["", "## Model comparison", "", f"`{comparison['command']}`", "",
                  "Every registry model (specifications: [models.md](models.md)) on this CPU "
                  "with one exporter and one trainer (bench/model_comparison.py).", "",
                  comparison["markdown"], "", machine_line(comparison)]
    training = load(results_dir, "train_throughput")
    if training:
        parts += ["", "## Training throughput", "", f"`{training['command']}`", "",
                  "The `fanet-train` loop on the cached CamVid loader (2 threads), batch 8, "
                  "against the loop before the from-logits change (softmax output, loss on "
                  "probabilities, eager validation after every epoch), rebuilt in the "
                  "benchmark; the variants take turns, round by round. Validation is the "
                  "steady cost (its first run also traces the predict function), amortised "
                  "over the recipe's `--val-every`. The peer is Fast-SCNN in PyTorch (eager, "
                  "in-memory batches, SGD + cross-entropy).", "", training["table"], "",
                  machine_line(training)]
    fine_tune = load(results_dir, "fine_tune")
    if fine_tune:
        parts += ["", "## Fine-tuning from the shipped weights", "", f"`{fine_tune['command']}`",
                  "", "`fanet-train --init-from fanet_camvid` against the same run from scratch "
                  "on generated street scenes (`fanet_ros.synthetic`): val mIoU after each "
                  "epoch.", "", fine_tune["table"], "", machine_line(fine_tune)]
    tuning = load(results_dir, "ort_tuning")
    if tuning:
        parts += ["", "## ONNX Runtime settings", "", f"`{tuning['command']}`", "",
                  ORT_TUNING_NOTE, "", tuning["markdown"], "", machine_line(tuning)]
    stages = load(results_dir, "pipeline_stages")
    if stages:
        parts += ["", "## Work around inference, before and after optimisation", "",
                  f"`{stages['command']}`", "", stages["markdown"], "",
                  "Now: arg-max by a one-node ONNX Runtime graph (for models that output "
                  "probabilities; a `--labels` export has it folded in, and the shipped logits "
                  "models use the exact boundary refinement, see Models), "
                  "colours looked up (`cv2.applyColorMap` with the classes' colours as its "
                  "user colour map) at model resolution and then nearest-resized "
                  "(the same pixels as colouring resized labels; a logits model's labels are "
                  "coloured at camera resolution), label / colour / overlay "
                  "written into buffers reused across frames and published without a copy. "
                  "The benchmark checks that both versions give identical outputs.", "",
                  machine_line(stages)]
    buffers = load(results_dir, "message_buffers")
    if buffers:
        parts += ["", "## Image-sized heap blocks", "", f"`{buffers['command']}`", "",
                  buffers["markdown"], "",
                  "Each call allocates and frees buffers the size of the image, as publishing "
                  "and taking a message do. With glibc's defaults, whether such a block is "
                  "mapped afresh (its pages faulted in and zeroed again) depends on the order "
                  "of allocations and frees: serialising hits it here, deserialising does "
                  "not. `keep_image_buffers()` (`fanet_ros/malloc_tuning.py`, called by the "
                  "node's `main`) keeps image-sized blocks in the heap for reuse.", "",
                  machine_line(buffers)]
    node = load(results_dir, "node_pipeline")
    if node:
        parts += ["", "## Node pipeline", "", f"`{node['command']}`", "",
                  f"Model: {node['model']}. A camera process publishes frames at each rate to "
                  "a fresh `segmentation_node` process; the benchmark process subscribes to "
                  f"{node['subscribers']}. Stage times are the node's own /diagnostics; "
                  "latency is camera stamp to overlay receipt at the subscriber. Frames that "
                  "arrive while one is being processed are dropped (newest wins), so the "
                  "output rate is bounded by the frame time, and latency does not grow. "
                  "The camera publishes reliable and the node's subscription is set to match "
                  "(`qos_overrides./image.subscription.reliability:=reliable`). Each rate runs "
                  "once per transport, in turn: `default` is the RMW's defaults; "
                  "`fastdds_large_images` gives the camera and the node "
                  "`config/fastdds_large_images.xml` (`FASTDDS_DEFAULT_PROFILES_FILE`), whose "
                  "32 MiB shared-memory segment holds whole 6 MB frames where Fast DDS's "
                  "default 512 KiB makes the writer recycle pieces before the reader has them "
                  "(repaired late by the reliable protocol; with best effort, lost). "
                  "The node and the benchmark's subscriber keep image-sized heap blocks for "
                  "reuse (`fanet_ros/malloc_tuning.py`); the camera process runs with glibc's "
                  "defaults, as a driver not ours would.",
                  "", environment_line(node), "", node["markdown"], "", *targets(node), "",
                  machine_line(node)]
    for path in sorted(results_dir.glob("node_pipeline_*.json")):
        variant = json.loads(path.read_text())
        parts += ["", f"### Variant: {variant['model']}", "", f"`{variant['command']}`", "",
                  environment_line(variant), "", variant["markdown"], "",
                  *targets(variant), "", machine_line(variant)]
    if node:
        parts += ["", "### What holds the node's targets back", "", NODE_TARGETS_NOTE]
    cameras = load(results_dir, "multi_camera")
    if cameras:
        parts += ["", "## Two cameras: one node or two", "", f"`{cameras['command']}`", "",
                  f"Two camera processes publish {cameras['camera_size']} bgr8 frames at "
                  f"{cameras['rate_per_camera']:g} fps each (reliable) to one "
                  "`segmentation_node` with `cameras:=[front, rear]` (one process, one model "
                  "session; frames waiting together run as one batch), then, in the same run, "
                  "to two nodes with one camera each. fps: each camera's labels received per "
                  "second after the warm-up; RSS: summed over the node processes, sampled "
                  "every 0.5 s.", "", cameras["markdown"], "", machine_line(cameras)]
    parts += ["", "## Reproduce", "", "```bash",
              "python bench/model_table.py          # exports random-weight models to "
              "~/.cache/fanet_ros_bench (FANET_BENCH_CACHE)",
              "python bench/model_comparison.py     # add --camvid DIR --train-budget-epochs N "
              "to train the budget",
              "python bench/train_throughput.py --peer-python PYTHON_WITH_TORCH",
              "python bench/fine_tune.py",
              "python bench/ort_tuning.py --camvid /data/camvid   # session settings, "
              "BatchNorm fold, INT8",
              "python bench/pipeline_stages.py --model-name fanet",
              "python bench/message_buffers.py",
              "python bench/node_pipeline.py        # 3 rates x (10 s warm-up + 2 min); "
              "--duration, --rates, --model",
              "python bench/multi_camera.py        # one node for two cameras vs two nodes",
              "python bench/render_performance.py   # rewrites this page", "```", "",
              "`pytest test/test_bench_smoke.py` runs each script at tiny sizes."]
    return "\n".join(parts) + "\n"


def budget_sentence(comparison: dict[str, Any] | None) -> str:
    """' CamVid val mIoU after one training budget: ...' when the comparison trained one."""
    if not comparison or not comparison.get("budget"):
        return ""
    scores = ", ".join(f"{r['model']} {100 * r['budget']['miou']:.1f} %"
                       for r in comparison["models"] if r.get("budget", {}).get("miou"))
    epochs = comparison["models"][0]["budget"].get("epochs")
    return f" CamVid val mIoU after the same {epochs}-epoch budget each: {scores}."


def readme_section(results_dir: Path) -> str:
    """The README's performance block: a few headline figures; the tables stay in docs/."""
    lines = ["Generated by `python bench/render_performance.py --readme README.md` from "
             "`bench/results/`; tables, machines, variants and commands: "
             "[docs/performance.md](docs/performance.md)."]
    model = load(results_dir, "model_table")
    if model:
        cpu = f"{model['machine']['cpu']}, {model['machine']['cores']} cores"
        networks = ", ".join(f"{n['model']} {n['ms']:.0f} ms" for n in model["network"]
                             if not n["model"].startswith("peer"))
        lines += ["", f"- Networks at {model['size']} on ONNX Runtime CPU ({cpu}): {networks}."
                  + budget_sentence(load(results_dir, "model_comparison"))]
        default = next((p for p in model["pipeline"] if "node default" in p["pipeline"]), None)
        if default:
            lines.append(f"- The node's pipeline, FANet at {model['size']} with labels at "
                         f"{model['heads']['camera']}: {default['frame_ms']:.0f} ms a frame.")
    node = load(results_dir, "node_pipeline")
    if node:
        for run in node["runs"]:
            if run["rate_hz"] == TARGET_RATE and run["latency_ms"].get("p95") is not None:
                lines.append(
                    f"- The node fed a {TARGET_RATE:g} Hz camera ({run.get('transport')} "
                    f"transport): {run['output_rate_hz']:.1f} outputs/s, p95 latency "
                    f"{run['latency_ms']['p95']:.0f} ms at the subscriber.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--output", type=Path, default=DOCS)
    parser.add_argument("--readme", type=Path,
                        help="also rewrite the performance block of this README")
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(args.results_dir))
    print(f"wrote {args.output}")
    if args.readme is not None:
        update_file_block(args.readme, "performance", readme_section(args.results_dir))
        print(f"updated the performance block of {args.readme}")
    return args.output


if __name__ == "__main__":
    main()
