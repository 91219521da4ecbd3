#!/usr/bin/env python3
"""Train FANet and FSFFNet from this GPU pack (becomes the pack's ``run.py``; stdlib only).

    python3 run.py OUTPUT [--models fanet fsffnet] [--epochs 100] [--batch-size 16] \\
        [--height 384 --width 512] [--backend auto|jax|torch] [-- more fanet-train flags]

1. installs the pack's wheels (``wheels/``) into a scratch folder
   (``pip install --no-index --no-deps --target``; plain unzip when pip is missing):
   Keras always, the others only where this Python lacks the module;
2. checks that every module training needs imports, and names any that does not;
3. trains each model with ``python -m fanet_training.train`` (``fanet-train``) and
   ``KERAS_BACKEND=jax`` (else torch) into ``OUTPUT/runs/<model>``, side by side on a GPU,
   logs in ``OUTPUT/logs/``; re-running the same command resumes after the last epoch;
4. writes each learning curve (``learning_curve.csv``, ``.png`` when matplotlib is
   there), scores the best weights on val with ``fanet_training.evaluate``, and
   writes ``OUTPUT/summary.json``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

PACK = Path(__file__).resolve().parent
MODELS = ("fanet", "fsffnet", "fast_scnn", "contextnet", "espnet")
DEFAULT_MODELS = ("fanet", "fsffnet")
BACKENDS = ("jax", "torch")
RECIPE = ["--optimizer", "adam", "--learning-rate", "0.002", "--warmup-epochs", "1",
          "--bn-momentum", "0.9", "--cache"]
"""fanet-train flags of the schedule (the recorded CamVid recipe); flags after ``--`` override."""
BOX_PACKAGES = {"numpy": "numpy", "cv2": "opencv-python-headless", "jax": "jax[cuda12]",
                "torch": "torch"}
"""Modules the pack does not ship, with the pip package that provides them."""
TRAINING_MODULES = ("numpy", "cv2", "h5py", "ml_dtypes", "optree", "namex", "absl", "rich",
                    "packaging", "keras", "fanet_ros.dataset_layouts", "fanet_training.train")
INSTALLED_MARKER = ".gpu_pack_installed.json"
EXIT_MISSING = 3

PROBE = r"""
import importlib, json, sys
report = {"modules": {}, "missing": {}, "devices": [], "gpu": False}
for name in sys.argv[1:]:
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        report["missing"][name] = f"{type(exc).__name__}: {exc}"
        continue
    report["modules"][name] = {"version": str(getattr(module, "__version__", "")),
                               "file": getattr(module, "__file__", None)}
    if name == "jax":
        devices = module.devices()
        report["devices"] += [f"{d.platform}:{getattr(d, 'device_kind', '')}" for d in devices]
        report["gpu"] = report["gpu"] or any(d.platform in ("gpu", "cuda") for d in devices)
    if name == "torch" and module.cuda.is_available():
        report["devices"] += [f"cuda:{module.cuda.get_device_name(i)}"
                              for i in range(module.cuda.device_count())]
        report["gpu"] = True
print("PROBE " + json.dumps(report))
"""


class PackError(RuntimeError):
    """Something this box lacks or a step that failed; the message says what to do."""


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="folder for runs, logs and the summary")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(DEFAULT_MODELS))
    parser.add_argument("--epochs", type=int, default=100,
                        help="epochs per model (default 100: about 8 min for FANet, over an "
                             "hour for FSFFNet on an H200; check the seconds per epoch in "
                             "OUTPUT/logs/<model>.log)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--height", type=int, default=384, help="training height (x32)")
    parser.add_argument("--width", type=int, default=512, help="training width (x32)")
    parser.add_argument("--steps-per-epoch", type=int, help="limit batches per epoch (tests)")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                        help="Keras backend; auto: jax if it imports, else torch")
    parser.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto",
                        help="mixed_float16; auto: on when the backend sees a GPU")
    parser.add_argument("--jobs", type=int,
                        help="models trained at once (default: all on a GPU, 1 on a CPU)")
    parser.add_argument("--workers", type=int,
                        help="loader threads per model (default: CPU cores / jobs, 2 to 8)")
    parser.add_argument("--scratch", type=Path,
                        help="folder the wheels are installed into (default OUTPUT/site)")
    parser.add_argument("--require-gpu", action="store_true",
                        help="stop when the backend sees no GPU instead of training on the CPU")
    parser.add_argument("--no-evaluate", action="store_true",
                        help="skip scoring the best weights on val after training")
    args = parser.parse_args(argv)
    args.scratch = args.scratch or args.output / "site"
    return args, extra


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def wheel_fits_this_python(filename: str) -> bool:
    """A ``py3`` / ``abi3`` wheel, or one built for this CPython version."""
    python_tags, abi_tags = filename[:-4].split("-")[-3].split("."), filename.split("-")[-2]
    this = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return "abi3" in abi_tags or any(t in ("py3", this) for t in python_tags)


def wheels_to_install(manifest: list[dict]) -> list[dict]:
    """Keras & co. always; the others only where this Python lacks the module."""
    chosen = []
    for wheel in manifest:
        if not wheel["always"] and importlib.util.find_spec(wheel["module"]) is not None:
            continue
        if not wheel_fits_this_python(wheel["file"]):
            built_for = read_json(PACK / "pack.json")["python_version"]
            message = (f"{wheel['file']} is built for Python {built_for}, this is "
                       f"{sys.version_info.major}.{sys.version_info.minor}")
            if wheel["always"]:
                raise PackError(f"{message}: rebuild the pack with --python-version "
                                f"{sys.version_info.major}.{sys.version_info.minor}")
            print(f"[pack] not installing {message}")
            continue
        chosen.append(wheel)
    return chosen


def install(wheels: list[dict], scratch: Path) -> None:
    """Install ``wheels`` into ``scratch`` (skipped when the same set is already there)."""
    marker = scratch / INSTALLED_MARKER
    names = sorted(w["file"] for w in wheels)
    if marker.is_file() and read_json(marker) == names:
        print(f"[pack] wheels already installed in {scratch}")
        return
    if scratch.exists():
        if any(scratch.iterdir()) and not marker.is_file():
            raise PackError(f"scratch folder '{scratch}' holds other files; give --scratch "
                            "an empty or new folder")
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    files = [str(PACK / "wheels" / name) for name in names]
    print(f"[pack] installing {', '.join(names) or 'nothing'} into {scratch}", flush=True)
    if files and importlib.util.find_spec("pip") is not None:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
             "--disable-pip-version-check", "--no-warn-script-location", "--target",
             str(scratch), *files], capture_output=True, text=True)
        if result.returncode:
            raise PackError("pip could not install the pack's wheels:\n"
                            + (result.stderr or result.stdout)[-2000:])
    elif files:
        print("[pack] no pip in this Python: unpacking the wheels instead")
        for file in files:
            with zipfile.ZipFile(file) as archive:
                archive.extractall(scratch)
    marker.write_text(json.dumps(names))


def child_env(scratch: Path, backend: str | None) -> dict[str, str]:
    """The environment of every child: the pack's code and wheels first on the path.

    PYTHONSAFEPATH (Python 3.11+): ``python -m`` does not put the working directory first,
    so a run started inside a fanet_ros checkout still trains the pack's own code."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONSAFEPATH="1")
    paths = [str(PACK / "code"), str(scratch), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    if backend:
        env["KERAS_BACKEND"] = backend
    return env


def probe(modules: list[str], env: dict[str, str]) -> dict:
    """Import ``modules`` in a child with ``env``; versions, files, what is missing, devices."""
    result = subprocess.run([sys.executable, "-c", PROBE, *modules], env=env,
                            capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    if not lines:
        raise PackError(f"the import check crashed:\n{result.stderr[-2000:]}")
    return json.loads(lines[-1][len("PROBE "):])


def missing_message(missing: dict[str, str]) -> str:
    lines = ["this box lacks modules training needs:"]
    for module, error in missing.items():
        package = BOX_PACKAGES.get(module.split(".")[0])
        advice = (f"install the pip package '{package}'" if package else
                  "its wheel was left out of the pack or does not fit this Python; install it "
                  "or rebuild the pack for this box")
        lines.append(f"  {module}: {error.splitlines()[0] if error else ''} -> {advice}")
    return "\n".join(lines)


def choose_backend(requested: str, scratch: Path) -> tuple[str, dict]:
    """The Keras backend to use (jax preferred) and what the probe saw of it."""
    candidates = BACKENDS if requested == "auto" else (requested,)
    for backend in candidates:
        report = probe([backend], child_env(scratch, None))
        if backend in report["modules"]:
            return backend, report
    raise PackError(missing_message({b: "not importable" for b in candidates})
                    + "\n(Keras needs JAX or PyTorch here: the pack ships no TensorFlow)")


def stream(process: subprocess.Popen, log: Path, prefix: str) -> threading.Thread:
    """Copy a child's output to ``log`` and to the console with ``prefix``."""

    def copy() -> None:
        with open(log, "a") as handle:
            for line in process.stdout:
                handle.write(line)
                handle.flush()
                print(f"{prefix}{line}", end="", flush=True)

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


def run_jobs(commands: dict[str, list[str]], env: dict[str, str], logs: Path, jobs: int
             ) -> dict[str, dict]:
    """Run the commands, ``jobs`` at a time; returns exit code and wall seconds per name."""
    pending, running, results = list(commands), {}, {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                name = pending.pop(0)
                log = logs / f"{name}.log"
                with open(log, "a") as handle:
                    handle.write("$ " + " ".join(commands[name]) + "\n")
                process = subprocess.Popen(commands[name], env=env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)
                running[name] = (process, stream(process, log, f"[{name}] "), time.time())
            for name, (process, thread, started) in list(running.items()):
                if process.poll() is not None:
                    thread.join()
                    results[name] = {"returncode": process.returncode,
                                     "wall_s": round(time.time() - started, 1),
                                     "log": str(logs / f"{name}.log")}
                    del running[name]
            time.sleep(0.5)
    except KeyboardInterrupt:
        for process, _, _ in running.values():
            process.terminate()
        for process, _, _ in running.values():
            process.wait()
        raise
    return results


def write_learning_curve(run_dir: Path) -> list[Path]:
    """``learning_curve.csv`` from ``state.json`` (and ``.png`` when matplotlib imports)."""
    state_path = run_dir / "state.json"
    if not state_path.is_file():
        return []
    history = read_json(state_path).get("history", [])
    columns = ["epoch"] + sorted({k for record in history for k in record} - {"epoch"})
    csv_path = run_dir / "learning_curve.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(history)
    written = [csv_path]
    if importlib.util.find_spec("matplotlib") is None or not history:
        return written
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, loss_axis = plt.subplots(figsize=(7, 4))
    loss_axis.plot(epochs, [r.get("loss") for r in history], color="tab:blue", label="loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    miou_axis = loss_axis.twinx()
    miou_axis.plot(epochs, [100 * r.get("val_miou", float("nan")) for r in history],
                   color="tab:red", label="val mIoU")
    miou_axis.set_ylabel("val mIoU (%)", color="tab:red")
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    fig.savefig(run_dir / "learning_curve.png", dpi=100)
    plt.close(fig)
    return written + [run_dir / "learning_curve.png"]


def train_command(args: argparse.Namespace, model: str, layout: str, mixed: bool,
                  workers: int, extra: list[str]) -> list[str]:
    command = [sys.executable, "-m", "fanet_training.train", "--model", model,
               "--dataset-root", str(PACK / "data"), "--layout", layout,
               "--run-dir", str(args.output / "runs" / model),
               "--height", str(args.height), "--width", str(args.width),
               "--batch-size", str(args.batch_size), "--epochs", str(args.epochs),
               *RECIPE, "--workers", str(workers), "--verbose", "2",
               "--mixed-precision", "on" if mixed else "off"]
    if args.steps_per_epoch:
        command += ["--steps-per-epoch", str(args.steps_per_epoch)]
    return command + extra


def evaluate_command(args: argparse.Namespace, model: str) -> list[str]:
    run_dir = args.output / "runs" / model
    return [sys.executable, "-m", "fanet_training.evaluate", str(run_dir),
            "--dataset-root", str(PACK / "data"), "--output-dir", str(run_dir / "eval")]


def model_summary(args: argparse.Namespace, model: str, result: dict) -> dict:
    run_dir = args.output / "runs" / model
    state = read_json(run_dir / "state.json") if (run_dir / "state.json").is_file() else {}
    metrics_path = run_dir / "eval" / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    return {**result, "run_dir": str(run_dir), "epochs": state.get("epoch"),
            "best_val_miou": state.get("best_val_miou"), "best_epoch": state.get("best_epoch"),
            "eval_val_miou": metrics.get("mean_iou"),
            "learning_curve": [str(p) for p in write_learning_curve(run_dir)]}


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    pack = read_json(PACK / "pack.json")
    logs = args.output / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.time()
    try:
        install(wheels_to_install(read_json(PACK / "wheels" / "manifest.json")), args.scratch)
        backend, device_report = choose_backend(args.backend, args.scratch)
        env = child_env(args.scratch, backend)
        report = probe(list(TRAINING_MODULES), env)
        if report["missing"]:
            raise PackError(missing_message(report["missing"]))
    except PackError as exc:
        print(f"[pack] error: {exc}", file=sys.stderr)
        return EXIT_MISSING
    gpu = device_report["gpu"]
    print(f"[pack] backend {backend} {device_report['modules'][backend]['version']}, devices "
          f"{', '.join(device_report['devices']) or 'cpu'}; keras "
          f"{report['modules']['keras']['version']} from {report['modules']['keras']['file']}",
          flush=True)
    if not gpu:
        if args.require_gpu:
            print(f"[pack] error: {backend} sees no GPU (--require-gpu)", file=sys.stderr)
            return EXIT_MISSING
        print(f"[pack] warning: {backend} sees no GPU: training runs on the CPU", flush=True)
    jobs = args.jobs or (len(args.models) if gpu else 1)
    workers = args.workers or max(2, min(8, (os.cpu_count() or 2) // jobs))
    mixed = args.mixed_precision == "on" or (args.mixed_precision == "auto" and gpu)
    if backend == "jax" and jobs > 1:
        env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / jobs:.2f}")
    layout = pack["dataset"]["layout"]
    commands = {m: train_command(args, m, layout, mixed, workers, extra) for m in args.models}
    try:
        results = run_jobs(commands, env, logs, jobs)
        if not args.no_evaluate:
            trained = [m for m in args.models if results[m]["returncode"] == 0]
            evaluations = {f"{m}_eval": evaluate_command(args, m) for m in trained}
            run_jobs(evaluations, env, logs, jobs)
    except KeyboardInterrupt:
        print("\n[pack] stopped; re-run the same command to resume after the last epoch")
        return 130
    summary = {"pack": pack, "backend": backend, "devices": device_report["devices"],
               "python": sys.version.split()[0], "modules": report["modules"],
               "jobs": jobs, "workers": workers, "mixed_precision": mixed,
               "wall_s": round(time.time() - started, 1),
               "commands": {m: " ".join(c) for m, c in commands.items()},
               "models": {m: model_summary(args, m, results[m]) for m in args.models}}
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2))
    for model, row in summary["models"].items():
        best = row["best_val_miou"]
        print(f"[pack] {model}: exit {row['returncode']}, {row['epochs']} epochs in "
              f"{row['wall_s']} s, best val mIoU "
              f"{'n/a' if best is None else f'{100 * best:.2f}%'} (epoch {row['best_epoch']})")
    print(f"[pack] summary in {args.output / 'summary.json'}; export to ONNX on a machine with "
          f"the training extra: fanet-export {args.output / 'runs' / args.models[0]} "
          "--output MODEL.onnx (see fanet-export --help)")
    return 0 if all(r["returncode"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
