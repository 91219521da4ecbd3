"""Format the benchmark results (bench/results/*.json) into the docs' generated blocks.

    python -m bench.render_performance           # rewrite every generated block below
    python -m bench.render_performance --check   # exit 1 if a committed block differs

Blocks (``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``) in docs/performance.md (one per
result), docs/node.md (transport delivery, memory after large frames), README.md
(performance summary, shipped models) and each shipped model card (input resolution). The
prose around them is written by hand; this module only formats data: the numbers of the
result files, and for the README's models block the shipped models' cards and metadata.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS_DIR
from fanet_ros.tooling.markdown_blocks import replace_block

Results = dict[str, dict[str, Any]]
"""Result name (file stem) -> its data."""

PERFORMANCE_PAGE = Path("docs") / "performance.md"
NODE_PAGE = Path("docs") / "node.md"
README = Path("README.md")
MODELS_DIR = Path("fanet_ros") / "models"

NON_INFERENCE_TARGET = 0.05
P95_TARGET = 1.3
RSS_TARGET = 0.05
TARGET_RATE = 30.0
"""The node's targets, checked on each transport's run at TARGET_RATE Hz."""
OUTPUT_KINDS = {
    "logits": "stride-8 logits (labels by the node's exact refinement)",
    "labels": "uint8 labels (arg-max in the model)",
    "probabilities": "probabilities",
}
"""The node benchmark's model outputs (``--output``) and how the tables name them."""
NODE_STAGES = ("convert", "preprocess", "inference", "postprocess", "publish")
NODE_WINDOWS = ("input_delay", "queue_wait", "processing", "latency")
MAC_SIZES = ("512x1024", "1024x2048")


# -- formatting -----------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats get 2 decimals, ``None`` shows as a dash."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def percent(share: float | None, digits: int = 1) -> str | None:
    return None if share is None else f"{100 * share:.{digits}f}%"


def size_text(size: Sequence[int] | str) -> str:
    return size if isinstance(size, str) else f"{size[0]}x{size[1]}"


def command_line(data: dict[str, Any]) -> str:
    return f"`{data['command']}`"


def machine_line(data: dict[str, Any]) -> str:
    """The machine, its load, the date and the code the figures come from."""
    m = data["machine"]
    start = data.get("load_average_at_start")
    if m["load_average_1_5_15"] is None:
        load = "load average not recorded"
    elif start:
        load = f"load average at start {start[0]}, at end {m['load_average_1_5_15'][0]}"
    else:
        load = f"load average {m['load_average_1_5_15'][0]}"
    git = data.get("git") or {}
    if git.get("recorded_in"):
        code = f"; recorded in commit {git['recorded_in']}"
    elif git.get("commit"):
        code = f"; commit {git['commit']}" + (" with local changes" if git.get("dirty") else "")
    else:
        code = ""
    return f"_{m['cpu']}, {m['cores']} cores, {load}; {m['time']}{code}._"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def join_and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# -- one formatter per benchmark --------------------------------------------------------


def model_table(data: dict[str, Any]) -> str:
    peak = data["peak"]
    peak_note = (f"peak = {peak['cores']} cores x {peak['fma_units']} FMA units x "
                 f"{peak['fp32_lanes']} fp32 lanes ({peak['isa']}) x {peak['ghz']:.2f} GHz "
                 f"(cpu MHz in /proc/cpuinfo, no boost assumed) = {peak['gmac_per_s']:.1f} "
                 f"GMAC/s ({2 * peak['gmac_per_s']:.1f} GFLOP/s); a share above 100% means "
                 "the cores ran above that clock")
    parts = [command_line(data),
             f"Network at {data['size']} (ONNX Runtime CPU, median of {data['iterations']}; "
             f"{peak_note})", markdown_table(
                 ["model", "parameters", "GMACs", "output", "ms", "GMAC/s", "share of peak"],
                 [[r["model"], f"{r['parameters']:,}", r["gmacs"], r["output"], r["ms"],
                   r["gmac_per_s"], percent(r["share_of_peak"])] for r in data["network"]])]
    if data.get("peer_skipped"):
        parts.append(f"Peer row skipped: {data['peer_skipped']}")
    heads = data["heads"]
    parts += [f"Labels head of {heads['model']} for a {heads['camera']} camera, "
              f"{heads['frames']} frames; boundary pixels (computed from interpolated logits): "
              f"{percent(heads['boundary_share'])}", markdown_table(
                  ["head", "ms", "labels equal to Resize + ArgMax at camera resolution"],
                  [[v["head"], v["ms"], percent(v["agreement_with_camera_resize"], 4)]
                   for v in heads["variants"]])]
    rows = data["pipeline"]
    base = rows[0]["frame_ms"]
    parts += [f"The node's pipeline, labels at {heads['camera']} (model {data['size']}): "
              "stages are mean ms per frame, frame the median", markdown_table(
                  ["pipeline", "preprocess", "inference", "postprocess", "frame", "speed-up"],
                  [[r["pipeline"], r.get("preprocess"), r.get("inference"),
                    r.get("postprocess"), r["frame_ms"], f"{base / r['frame_ms']:.2f}x"]
                   for r in rows])]
    default = next(r for r in rows if "(node default)" in r["pipeline"])
    fanet, inference = default["frame_ms"], default.get("inference")
    checks = [f"- The node's pipeline with the logits head: {base / fanet:.2f}x the old --labels "
              f"model's frame rate (target >= 2x: {'met' if base / fanet >= 2 else 'not met'})."]
    fanet_net = next((r for r in data["network"] if r["model"] == "fanet"), None)
    if fanet_net and inference:
        floor = 1000.0 * fanet_net["gmacs"] / peak["gmac_per_s"]
        checks.append(f"- Bound: with preprocessing and the head free, the network's inference "
                      f"alone ({inference:.1f} ms) allows {base / inference:.2f}x; FANet's "
                      f"{fanet_net['gmacs']:.2f} GMACs at 100% of the peak would take "
                      f"{floor:.1f} ms, {floor / inference:.2f} of that.")
    peer = [r["frame_ms"] for r in rows if r["pipeline"].startswith("peer:")]
    if peer:
        checks.append(f"- FANet's whole pipeline against the peer's: {peer[0] / fanet:.2f}x "
                      f"faster (target >= 2x: {'met' if peer[0] / fanet >= 2 else 'not met'}).")
    load = data.get("load_average_at_start")
    if load:
        checks.append(f"- Load average at the start {load[0]} on {data['machine']['cores']} "
                      "cores (other jobs may share this CPU): compare ratios within this run "
                      "only.")
    parts.append("\n".join(checks))
    camvid = data.get("camvid")
    if camvid:
        err = camvid["confidence_error_levels"]
        parts += [f"CamVid val ({camvid['frames']} frames), shipped model at "
                  f"{camvid['model_size']}, scored at the annotations' {camvid['scored_at']}; "
                  f"labels of the exact refinement and of Resize + ArgMax at "
                  f"{camvid['model_size']} identical on "
                  f"{percent(camvid['identical_at_model_resolution'], 4)} of pixels",
                  markdown_table(["head", "val mIoU"],
                                 [[h["head"], percent(h["miou"], 2)] for h in camvid["heads"]]),
                  f"~/confidence against the exact full-resolution softmax (255 levels): mean "
                  f"{err['mean']:.2f}, p99 {err['p99']:.0f}, max {err['max']}"]
    return "\n\n".join([*parts, machine_line(data)])


def budget_text(budget: dict[str, Any]) -> str:
    return (f"{budget['epochs']} epochs of CamVid train at {budget['train_size']}, whole frames "
            f"with fanet-train's augmentation, batch {budget['batch_size']}, Adam, peak LR "
            f"{budget['learning_rate']:g} ({budget['warmup_epochs']:g} warm-up epochs, poly "
            f"decay), BatchNorm momentum {budget['bn_momentum']:g}, no pretrained weights; "
            f"val mIoU by fanet-evaluate at the annotations' {budget['scored_at']}")


NOT_TRAINED = "not trained (budget not run)"


def model_comparison(data: dict[str, Any]) -> str:
    rows = []
    for r in data["models"]:
        budget = r.get("budget") or {}
        miou = budget.get("miou")
        rows.append([
            r["model"], f"{r['parameters'] / 1e6:.3f} M", r["stride"],
            *(f"{r[f'gmacs_{s}']:.2f}" for s in MAC_SIZES),
            r["network_ms"], r["resize_argmax_ms"], r["refine_ms"],
            f"{100 * miou:.1f} % ({budget['train_minutes']:.0f} min)" if miou is not None
            else budget.get("note", NOT_TRAINED),
            r["published"], r["source"]])
    table = markdown_table(
        ["model", f"parameters ({data['parameter_classes']} classes)", "logits stride",
         *(f"GMACs {s}" for s in MAC_SIZES), f"network ms ({data['size']})",
         "head ms: Resize + ArgMax", "head ms: exact refinement (stride 8)",
         "CamVid val mIoU (budget; training time)", "published Cityscapes figure", "source"],
        rows)
    notes = [f"ONNX Runtime {data['onnxruntime']} on the CPU, {data['machine']['cores']} cores, "
             f"median of {data['iterations']} runs, load average at the start "
             f"{data['load_average_at_start'][0]}; network with {data['weights']} weights, "
             f"{data['classes']} classes (CamVid).",
             "Training budget: " + (budget_text(data["budget"]) if data["budget"]
                                    else NOT_TRAINED) + "."]
    return "\n\n".join([command_line(data), table, "\n".join(f"- {n}" for n in notes),
                        machine_line(data)])


def train_throughput(data: dict[str, Any]) -> str:
    results, settings = data["results"], data["settings"]
    rows = []
    frame = settings["height"] * settings["width"]
    crop = math.prod(int(side) for side in settings["crop"].split("x"))

    def megapixels(name: str, images_per_s: float) -> float:
        """Training pixels per second: a crop row's images are crops."""
        return images_per_s * (crop if "crops" in name else frame) / 1e6

    loops = {name: r for name, r in results.items() if name != "peer"}
    first, before = next(iter(loops.items()))
    before_mpx = megapixels(first, before["images_per_s"])
    for name, r in loops.items():
        mpx = megapixels(name, r["images_per_s"])
        rows.append([name, r["images_per_s"], mpx, r["epoch_s"], r["validation_s"],
                     r["validation_every"], 100 * r["validation_share"],
                     f"{mpx / before_mpx:.2f}x"])
    peer = results.get("peer") or {}
    if "images_per_s" in peer:
        mpx = megapixels("peer", peer["images_per_s"])
        rows.append([f"peer: Fast-SCNN (PyTorch {peer['torch']}, eager, in-memory batches), "
                     f"{settings['height']}x{settings['width']}", peer["images_per_s"], mpx,
                     peer["epoch_s"], None, None, None, f"{mpx / before_mpx:.2f}x"])
    parts = [command_line(data), markdown_table(
        ["loop", "train img/s", "train Mpx/s", "epoch s (train)", "validation s",
         "validated every N epochs", "validation % of time", "vs before (pixels/s)"], rows)]
    if "skipped" in peer:
        parts.append(f"Peer row skipped: {peer['skipped']}")
    return "\n\n".join([*parts, machine_line(data)])


def fine_tune(data: dict[str, Any]) -> str:
    results, settings = data["results"], data["settings"]
    rows = [[f"--init-from {settings['init_from']}" if name == "init_from" else "from scratch",
             *(None if v is None else 100 * v for v in r["val_miou"]), r["seconds"]]
            for name, r in results.items()]
    header = ["start", *(f"val mIoU % after epoch {e + 1}" for e in range(settings["epochs"])),
              "s"]
    return "\n\n".join([command_line(data), markdown_table(header, rows), machine_line(data)])


def ort_tuning_verdict(ratio: float, same_within: float) -> str:
    if ratio < 1 - same_within:
        return f"pays ({1 / ratio:.2f}x as fast)"
    if ratio > 1 + same_within:
        return f"costs ({ratio:.2f}x the time)"
    return f"no difference (within {100 * same_within:.1f}%)"


def ort_tuning_band(data: dict[str, Any]) -> float:
    """What counts as no difference: the bench's band, or wider, how far the default timed
    again (the noise control) strayed from itself in the same run."""
    noise = [abs(r["ratio_to_default"] - 1) for r in data["timing"][1:]
             if "noise control" in r["variant"]]
    return max([data["same_within"], *noise])


def ort_tuning(data: dict[str, Any]) -> str:
    band = ort_tuning_band(data)
    rows = [[r["variant"], r["median_ms"], f"{r['ratio_to_default']:.3f}",
             ort_tuning_verdict(r["ratio_to_default"], band) if i
             else "reference", r["session_load_ms"], r["nodes_after_optimisation"]]
            for i, r in enumerate(data["timing"])]
    parts = [
        command_line(data),
        f"ONNX Runtime {data['onnxruntime']} CPU, {data['model']['file']} "
        f"({'the shipped model, ' if data['model']['shipped'] else ''}"
        f"{data['model']['output']} head) at "
        f"{data['size']}, {data['rounds']} rounds x {data['runs']} runs per variant, variants "
        f"alternating; load average at the start {data['load_average_at_start'][0]} on "
        f"{data['machine']['cores']} cores; verdicts count a ratio within "
        f"{100 * band:.1f}% of 1 as no difference (the noise control's own distance from 1, "
        f"or {100 * data['same_within']:.0f}%, whichever is larger)",
        markdown_table(["variant", "median ms", "time / default (median of rounds)", "verdict",
                        "session load ms", "nodes after optimisation"], rows),
    ]
    if data.get("camvid"):
        names = {"float": "float (as shipped)", "folded": "BatchNorm folded",
                 "int8": "INT8 QDQ (BatchNorm folded first)"}
        rows = [[names[r["model"]], r["input"], percent(r["miou"], 2),
                 percent(r["labels_equal_to_float"], 4)] for r in data["camvid"]]
        parts += [f"CamVid val ({data['camvid'][0]['frames']} frames), labels at the "
                  f"annotations' {data['camvid_scored_at']} by the exact refinement; INT8 "
                  f"calibrated on {data['calibration_frames']} images of "
                  f"{data['calibration_dir_name']}/",
                  markdown_table(["model", "input", "val mIoU", "labels equal to float"], rows)]
    return "\n\n".join([*parts, machine_line(data)])


def pipeline_stages(data: dict[str, Any]) -> str:
    camera, model = size_text(data["camera_size"]), size_text(data["model_size"])
    title = (f"Postprocessing one frame (camera {camera} bgr8, model {model}x{data['classes']} "
             f"scores; labels + colour + overlay at camera resolution), median of "
             f"{data['iterations']}")
    stages = markdown_table(
        ["step", "ms"],
        [["preprocess (resize, BGR->RGB, normalise)", data["preprocess_ms"]],
         ["postprocess, first version", data["postprocess_before_ms"]],
         ["postprocess, now", data["postprocess_after_ms"]],
         ["speed-up", f"{data['speedup']:.1f}x"]])
    argmax = markdown_table(["arg-max over classes", "ms"], list(data["argmax_ms"].items()))
    parts = [command_line(data), title, stages, argmax]
    if data.get("colour_ms"):
        parts += [f"Colours of {camera} labels", markdown_table(
            ["colour lookup", "ms"], list(data["colour_ms"].items()))]
    spin = data.get("thread_spinning_ms")
    if spin:
        model_run = data["spinning_model"]
        parts += [
            f"{model_run['name']} {model_run['size']}, whole pipeline, ONNX Runtime idle threads "
            "spinning or not (`session.intra_op.allow_spinning`; median ms per frame)",
            markdown_table(["ONNX Runtime threads", "preprocess", "inference", "postprocess"],
                           [[key, *values.values()] for key, values in spin.items()]),
        ]
    return "\n\n".join([*parts, machine_line(data)])


def message_buffers(data: dict[str, Any]) -> str:
    height, width = data["camera_size"]
    rows = [[label, r["serialize_ms"], r["deserialize_ms"]] for label, r in data["modes"].items()]
    return "\n\n".join([
        command_line(data),
        f"One bgr8 {height}x{width} sensor_msgs/Image ({height * width * 3 / 1e6:.1f} MB) "
        "through rclpy's (de)serialisation, median ms",
        markdown_table(["malloc", "serialize", "deserialize"], rows), machine_line(data)])


def node_model_description(data: dict[str, Any]) -> str:
    """What the node ran: the model, its output, the camera and the node's settings."""
    model, camera = data["model"], data["camera"]
    if model.get("weights") == "trained":
        text = (f"{model['file']} (trained weights) with its input set to {model['input_size']}, "
                f"{OUTPUT_KINDS[model['output']]} output")
    elif model.get("weights") == "random":
        text = (f"{model['name']} {model['input_size']} (random weights, "
                f"{OUTPUT_KINDS[model['output']]} output)")
    else:
        text = model["file"]
    text += (f", {data['backend']}, camera {camera['encoding']} {camera['size']} "
             f"({camera['reliability']}), outputs at {data['output_resolution']} resolution")
    if data["malloc"] == "defaults":
        text += ", glibc malloc defaults in the node and the subscriber"
    if data.get("num_threads"):
        text += f", num_threads:={data['num_threads']}"
    return text


def environment_line(data: dict[str, Any]) -> str:
    env = data.get("environment") or {}
    if not env:
        return "Transport: the RMW's defaults (rmw_fastrtps_cpp, built-in transports)."
    return "Environment: " + ", ".join(f"`{k}={v}`" for k, v in env.items()) + "."


def node_targets(data: dict[str, Any]) -> list[str]:
    """The node's targets, checked on each transport's run at the target rate."""
    at_rate = [r for r in data["runs"] if r["rate_hz"] == TARGET_RATE] or data["runs"][:1]
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


def _pair(breakdown: dict[str, float], window: str) -> str:
    p50, p95 = breakdown.get(f"{window}_p50"), breakdown.get(f"{window}_p95")
    return "n/a" if p50 is None or p95 is None else f"{p50:.0f} / {p95:.0f}"


def node_pipeline_tables(data: dict[str, Any]) -> str:
    """Stage times, then latency / rate / memory, then where the latency goes."""
    runs, desc = data["runs"], node_model_description(data)
    stage_rows = [
        [f"{r['rate_hz']:g}", r["transport"], *(r["stage_ms"].get(s) for s in NODE_STAGES),
         r["frame_processing_ms"], percent(r["non_inference_share_of_inference"])]
        for r in runs]
    run_rows = [
        [f"{r['rate_hz']:g}", r["transport"], r["output_rate_hz"], r["latency_ms"]["p50"],
         r["latency_ms"]["p95"], r["latency_ms"]["p99"], r["p95_over_frame_processing"],
         r["node_p95_over_frame_processing"],
         f"{r['latency_first_ms']['p95'] or 0:.0f} / {r['latency_last_ms']['p95'] or 0:.0f}",
         r["frames_dropped_stale"],
         f"{r['frames_published_by_node']} / {r['outputs_received'].get('overlay', 0)}",
         r["rss_mb_start"], r["rss_mb_end"],
         None if r["rss_growth"] is None else f"{100 * r['rss_growth']:+.1f}%"]
        for r in runs]
    breakdown_rows = [
        [f"{r['rate_hz']:g}", r["transport"],
         *(_pair(r["node_breakdown_ms_median_of_periods"], w) for w in NODE_WINDOWS),
         f"{r['latency_ms']['p50'] or 0:.0f} / {r['latency_ms']['p95'] or 0:.0f}"]
        for r in runs]
    return "\n\n".join([
        f"Node pipeline, {desc}: mean stage times (ms, from /diagnostics)",
        markdown_table(["camera Hz", "transport", *NODE_STAGES, "frame",
                        "non-inference / inference"], stage_rows),
        "Latency (camera stamp to overlay receipt at a subscriber, over the overlays that "
        "arrived; node p95: the median of the node's per-second p95 to its publish), rate, "
        "drops, published against received (the node's counters span the run plus about a "
        "second each side) and memory",
        markdown_table(["camera Hz", "transport", "output Hz", "p50 ms", "p95 ms", "p99 ms",
                        "p95 / frame", "node p95 / frame", "p95 first / last window ms",
                        "dropped stale", "published / overlays received", "RSS start MiB",
                        "RSS end MiB", "RSS growth"],
                       run_rows),
        "Where the latency goes, p50 / p95 ms (the node's windows, median of its periods; "
        "the rest of the end-to-end latency is the outputs' transport to the subscriber)",
        markdown_table(["camera Hz", "transport", "stamp to receipt", "receipt to worker",
                        "receipt to publish", "stamp to publish", "end to end"],
                       breakdown_rows),
    ])


def node_pipeline(data: dict[str, Any]) -> str:
    return "\n\n".join([
        command_line(data),
        f"Subscribed by the benchmark: {join_and(data['subscribers'])}.",
        environment_line(data), node_pipeline_tables(data), *node_targets(data),
        machine_line(data)])


def multi_camera(data: dict[str, Any]) -> str:
    runs = data["runs"]
    rows = [(name, r["processes"], r["rss_mib_median"], r["rss_mib_peak"], r["fps"]["front"],
             r["fps"]["rear"], r["fps_total"]) for name, r in runs.items()]
    one, two = runs.values()
    rows.append(("ratio one node / two nodes", "", one["rss_mib_median"] / two["rss_mib_median"],
                 one["rss_mib_peak"] / two["rss_mib_peak"], None, None,
                 one["fps_total"] / two["fps_total"]))
    return "\n\n".join([
        command_line(data),
        f"{data['model']}; cameras {data['camera_size']} bgr8 at {data['rate_per_camera']:g} fps "
        f"each (reliable); {data['duration_s']:g} s measured per setup"
        + (f" after {data['warmup_s']:g} s of warm-up." if "warmup_s" in data else "."),
        markdown_table(("setup", "node processes", "RSS MiB (median)", "RSS MiB (peak)",
                        "front fps", "rear fps", "total fps"), rows),
        machine_line(data)])


def size_agnostic_speed(data: dict[str, Any]) -> str:
    threads = data["onnxruntime_threads"]
    base = data["timing"][0]["variant"]
    return "\n\n".join([
        command_line(data),
        f"{data['model']} at {data['size']}, ONNX Runtime {data['onnxruntime']} CPU "
        f"({threads or 'default'} thread{'s' if threads != 1 else ''}), {data['runs']} runs "
        f"per variant, variants taking turns; ratios to `{base}`",
        markdown_table(["variant", "revision", "min ms", "median ms", "min ratio",
                        "median ratio", f"max abs. output difference to {base}"],
                       [[r["variant"], r["revision"], r["min_ms"], r["median_ms"],
                         r["min_ratio"], r["median_ratio"], f"{r[f'max_abs_diff_to_{base}']:.1e}"]
                        for r in data["timing"]]),
        machine_line(data)])


def transport_delivery(data: dict[str, Any]) -> str:
    sizes = list(dict.fromkeys(r["camera"] for r in data["rows"]))
    cases = list(dict.fromkeys(r["case"] for r in data["rows"]))
    received = {(r["camera"], r["case"]): r["received"] for r in data["rows"]}
    size_bytes = {r["camera"]: r["bytes"] for r in data["rows"]}
    header = ["case", *(f"{s} bgr8 ({size_bytes[s]:,} bytes)" for s in sizes)]
    rows = [[case, *(f"{received[s, case]} of {data['frames']}" for s in sizes)]
            for case in cases]
    return "\n\n".join([
        command_line(data),
        f"Frames received of {data['frames']} sent at {data['rate_hz']:g} Hz between two "
        f"processes, RMW {data['rmw']}",
        markdown_table(header, rows), machine_line(data)])


def soak(data: dict[str, Any]) -> str:
    """The soak's windows, one column group per transport run."""
    runs = data["runs"]
    rows_by_t: dict[int, list[Any]] = {}
    for index, run in enumerate(runs):
        for row in run["rows"]:
            cells = rows_by_t.setdefault(row["t_s"], [row["t_s"]] + ["-"] * (4 * len(runs)))
            cells[1 + 4 * index:5 + 4 * index] = [
                f"{row['output_hz']:.1f}", percent(row["burst_share"], 0),
                f"{row['delay_p50_ms']:.0f}", f"`{row['health']}`"]
    header = ["s"] + [f"{run['transport']}: {label}" for run in runs
                      for label in ("output Hz", "bursts", "camera delay ms", "health")]
    camera = runs[0]["camera"]
    return "\n\n".join([
        f"{camera['rate_hz']:g} Hz {camera['size']} {camera['encoding']} "
        f"{camera['reliability']} camera ({camera['publisher']}), every output subscribed; "
        "per 15 s window: the node's output rate, the share of the camera's frames arriving "
        "in bursts and their median stamp-to-receipt delay (an independent subscriber), the "
        "node's health",
        markdown_table(header, [rows_by_t[t] for t in sorted(rows_by_t)]),
        *(f"{command_line(run)}: {machine_line(run)}" for run in runs)])


def memory_after_large_frames(results: Results) -> str:
    """The node's RSS (MiB) per phase, without the shipped profile and with it."""
    runs = [results[n] for n in ("memory_after_large_frames", "memory_after_large_frames_profile")]
    rows = []
    for data in runs:
        rss = [r["rss"] for r in data["reports"]]
        name = ("`fastdds_large_images.xml`, `RMW_FASTRTPS_USE_QOS_FROM_XML=1`"
                if data["profile"] else "rmw defaults")
        rows.append([name, f"{rss[0]:.0f}", f"{rss[1]:.0f}",
                     f"{rss[2]:.0f} ({rss[2] - rss[0]:+.0f})", f"{rss[3]:.0f}"])
    phases = [r["phase"] for r in runs[0]["reports"]]
    header = ["node", f"start ({phases[0].removeprefix('after ')})", *phases[1:3],
              phases[3].replace("malloc_trim(0)", "`malloc_trim(0)`")]
    return "\n\n".join([
        f"Outputs subscribed: {join_and(runs[0]['outputs'])}; MiB of the node's RSS (the "
        "measured node runs with tracemalloc on, whose bookkeeping the RSS includes: compare "
        "the changes more than the absolute figures)",
        markdown_table(header, rows),
        *(f"{command_line(d)}: {machine_line(d)}" for d in runs)])


def readme_performance(results: Results) -> str:
    """The README's headline figures; the tables stay in docs/performance.md."""
    lines = []
    model = results.get("model_table")
    if model:
        cpu = f"{model['machine']['cpu']}, {model['machine']['cores']} cores"
        networks = ", ".join(
            f"{n['model']} {n['ms']:.0f} ms" + (
                " (to full-size probabilities)" if n.get("output", "").startswith("probab")
                else "") for n in model["network"] if not n["model"].startswith("peer"))
        lines.append(f"- Networks at {model['size']} on ONNX Runtime CPU ({cpu}), to their "
                     f"stride-8 logits unless said: {networks}."
                     + budget_sentence(results.get("model_comparison")))
        default = next((p for p in model["pipeline"] if "node default" in p["pipeline"]), None)
        if default:
            lines.append(f"- The node's pipeline, FANet at {model['size']} with labels at "
                         f"{model['heads']['camera']} (no colour, overlay or publishing; "
                         f"{cpu}): {default['frame_ms']:.0f} ms a frame.")
    node = results.get("node_pipeline")
    if node:
        cpu = f"{node['machine']['cpu']}, {node['machine']['cores']} cores"
        for run in node["runs"]:
            if run["rate_hz"] == TARGET_RATE and run["latency_ms"].get("p95") is not None:
                lines.append(
                    f"- The node fed a {TARGET_RATE:g} Hz camera ({run.get('transport')} "
                    f"transport, {cpu}): {run['output_rate_hz']:.1f} outputs/s, p95 latency "
                    f"{run['latency_ms']['p95']:.0f} ms at the subscriber over the outputs "
                    "that arrived.")
    return "\n".join(lines)


def budget_sentence(comparison: dict[str, Any] | None) -> str:
    """' CamVid val mIoU after one training budget: ...' when the comparison trained one."""
    if not comparison or not comparison.get("budget"):
        return ""
    scores = ", ".join(f"{r['model']} {100 * r['budget']['miou']:.1f} %"
                       for r in comparison["models"] if (r.get("budget") or {}).get("miou"))
    return f" CamVid val mIoU after the same {comparison['budget']['epochs']}-epoch budget " \
           f"each ({comparison['machine']['time'][:10]}): {scores}."


def readme_models(results: Results, root: Path) -> str:
    """The shipped models' table (from their cards), then how they score through the node
    (``bench.shipped_through_node``'s result)."""
    from bench.shipped_through_node import render
    from fanet_training.model_card import shipped_models_table

    table = shipped_models_table(root / MODELS_DIR, link_prefix=MODELS_DIR.as_posix() + "/")
    through_node = results.get("shipped_through_node")
    return table + (f"\n\n{render(through_node)}" if through_node else "")


def shipped_models(results: Results, root: Path) -> str:
    """Each shipped model with a robustness report beside it (``<name>.robustness.json``):
    val and held-out mIoU (its card), the held-out drive degraded (the report) and CPU
    milliseconds at its default input (``bench.resolution_table``'s result)."""
    from fanet_training.model_card import card_facts, card_figure

    rows, machines = [], []
    for report_path in sorted((root / MODELS_DIR).glob("*.robustness.json")):
        name = report_path.name.removesuffix(".robustness.json")
        facts = card_facts(root / MODELS_DIR / f"{name}.md")
        scores = json.loads(report_path.read_text())["results"]
        degraded = {k: v["mean_iou"] for k, v in scores.items() if k != "clean"}
        worst = min(degraded, key=degraded.get)
        speed = results.get(f"resolution_{name}")
        default = next((row for row in speed["sizes"] if row["input"] == speed["native_size"]),
                       None) if speed else None
        if speed:
            machines.append(f"{name}'s speed: {machine_line(speed)}")
        rows.append([f"[{name}](../{MODELS_DIR.as_posix()}/{name}.md)",
                     card_figure(facts.get("val mIoU", "-")),
                     percent(scores["clean"]["mean_iou"], 2),
                     percent(sum(degraded.values()) / len(degraded), 2),
                     f"{percent(degraded[worst], 2)}: {worst}",
                     default and default["input"],
                     default and default["inference_ms"], default and default["frame_ms"]])
    return "\n\n".join([
        "Written from the cards, `fanet_ros/models/<name>.robustness.json` (`fanet-robustness` "
        "on the held-out drive with the model's twin trained without it, "
        "`scripts/ship_models.sh camvid`) and `bench/results/resolution_<name>.json`. The "
        "speed columns come from each model's own resolution-table run (machines below): "
        "across models they compare only roughly.",
        markdown_table(["model", "val mIoU (trained on)", "held-out drive mIoU",
                        "held-out degraded, mean", "held-out degraded, worst",
                        "default input", "inference ms (CPU)", "frame ms (CPU)"], rows),
        *machines])


def resolution_table(data: dict[str, Any]) -> str:
    from fanet_training.model_card import resolution_section

    return resolution_section(data)


PERFORMANCE_BLOCKS: dict[str, Callable[[dict[str, Any]], str]] = {
    "model_table": model_table,
    "model_comparison": model_comparison,
    "train_throughput": train_throughput,
    "fine_tune": fine_tune,
    "ort_tuning": ort_tuning,
    "pipeline_stages": pipeline_stages,
    "message_buffers": message_buffers,
    "node_pipeline": node_pipeline,
    "multi_camera": multi_camera,
    "size_agnostic_speed": size_agnostic_speed,
}
"""docs/performance.md's blocks: result name (also the block's name) -> formatter. Variants
of a benchmark (``node_pipeline_<variant>.json``) use the benchmark's formatter."""


# -- the documents ----------------------------------------------------------------------


def load_results(results_dir: Path = RESULTS_DIR) -> Results:
    return {path.stem: json.loads(path.read_text())
            for path in sorted(results_dir.glob("*.json"))}


def formatter_for(name: str, data: dict[str, Any]) -> Callable[[dict[str, Any]], str] | None:
    return PERFORMANCE_BLOCKS.get(name) or PERFORMANCE_BLOCKS.get(data.get("benchmark", ""))


def blocks(results: Results, root: Path = REPO) -> dict[Path, dict[str, str]]:
    """Document (relative to ``root``) -> block name -> its content, for every block this
    module writes."""
    performance: dict[str, str] = {}
    cards: dict[Path, dict[str, str]] = {}
    for name, data in results.items():
        if data.get("benchmark") == "resolution_table":
            card = MODELS_DIR / f"{Path(data['model']).stem}.md"
            if (root / card).is_file():
                cards[card] = {"resolution_table": resolution_table(data)}
            continue
        formatter = formatter_for(name, data)
        if formatter is not None:
            performance[name] = formatter(data)
    performance["shipped_models"] = shipped_models(results, root)
    node: dict[str, str] = {}
    if "transport_delivery" in results:
        node["transport_delivery"] = transport_delivery(results["transport_delivery"])
    if "soak" in results:
        node["soak"] = soak(results["soak"])
    if {"memory_after_large_frames", "memory_after_large_frames_profile"} <= results.keys():
        node["memory_after_large_frames"] = memory_after_large_frames(results)
    readme = {"performance": readme_performance(results), "models": readme_models(results, root)}
    return {PERFORMANCE_PAGE: performance, NODE_PAGE: node, README: readme, **cards}


def rendered(results: Results, root: Path = REPO) -> dict[Path, str]:
    """Each document's text with its blocks replaced (raises if a block is missing there)."""
    texts = {}
    for document, contents in blocks(results, root).items():
        text = (root / document).read_text()
        for name, content in contents.items():
            text = replace_block(text, name, content)
        texts[document] = text
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--root", type=Path, default=REPO,
                        help="the checkout whose documents to update (default: this one)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a document differs from its rendering")
    args = parser.parse_args(argv)
    texts = rendered(load_results(args.results_dir), args.root)
    stale = [doc for doc, text in texts.items() if (args.root / doc).read_text() != text]
    if args.check:
        for doc in stale:
            print(f"{doc}: generated blocks differ from bench/results (run "
                  "python -m bench.render_performance)", file=sys.stderr)
        return 1 if stale else 0
    for doc in stale:
        (args.root / doc).write_text(texts[doc])
        print(f"updated {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
