"""What to do about a failed engine build, from the errors TensorRT logged (no TensorRT here)."""

from __future__ import annotations

from pathlib import Path

SHOWN_ERRORS = 5

OUT_OF_MEMORY = ("out of memory", "outofmemory", "cudaerrormemoryallocation",
                 "insufficient memory", "failed to allocate", "requested amount of gpu memory")
NO_TACTIC = ("could not find any implementation", "no implementation obeys",
             "insufficient workspace", "workspace")
CALIBRATION = ("calibrat",)


def _mentions(errors: list[str], needles: tuple[str, ...]) -> bool:
    text = "\n".join(errors).lower()
    return any(needle in text for needle in needles)


def out_of_memory(errors: list[str]) -> bool:
    """Whether TensorRT's errors say the GPU ran out of memory."""
    return _mentions(errors, OUT_OF_MEMORY)


def tensorrt_said(errors: list[str]) -> str:
    """The latest errors, quoted for a message (or that there were none)."""
    if not errors:
        return "TensorRT logged no error"
    return "TensorRT said: " + " | ".join(e.strip() for e in errors[-SHOWN_ERRORS:])


def cuda_start_advice(version: str, errors: list[str], cuda_wheels: list[str]) -> str:
    """What to do when TensorRT could not start CUDA (``trt.Runtime``/``trt.Builder`` failed).

    ``cuda_wheels``: the installed ``tensorrt-cuNN`` distributions; a pip TensorRT is
    built for one CUDA major, whose driver it needs (CUDA 13: r580 or later).
    """
    built_for = f" (pip: {', '.join(cuda_wheels)})" if cuda_wheels else ""
    said = tensorrt_said(errors)
    text = "\n".join(errors).lower()
    if "error: 35" in text or "insufficient" in text:
        other = [f"'pip install tensorrt-cu{major}'" for major in (12,)
                 if cuda_wheels and f"tensorrt_cu{major}" not in cuda_wheels]
        fix = ("upgrade the NVIDIA driver" + (f", or install the TensorRT build for the CUDA "
               f"your driver runs (nvidia-smi shows it), e.g. {other[0]}" if other else ""))
        return (f"TensorRT {version}{built_for} could not start CUDA: the NVIDIA driver is "
                f"older than the CUDA this TensorRT was built for (error 35). Fix: {fix}; or "
                f"use backend onnxruntime. {said}")
    return (f"TensorRT {version}{built_for} could not start CUDA on this GPU: check the "
            "driver and the CUDA install (nvidia-smi, or JetPack's on a Jetson), or use "
            f"backend onnxruntime. {said}")


def build_failure_advice(
    errors: list[str], precision: str, workspace_mb: int, calibration_cache: Path | None = None
) -> str:
    """One or two sentences: what failed (as far as TensorRT's errors say) and what to change."""
    if not errors:
        return (
            "TensorRT logged no error to say why. Try precision fp32; if that fails too, run the "
            "model with backend onnxruntime and report the TensorRT version and model."
        )
    said = tensorrt_said(errors)
    if out_of_memory(errors):
        advice = (
            "The GPU ran out of memory during the build: stop other GPU processes (nvidia-smi, "
            f"or tegrastats on a Jetson, lists them) or lower workspace_mb (now {workspace_mb})."
        )
    elif _mentions(errors, NO_TACTIC):
        advice = (
            "No kernel for a layer fitted the builder's scratch memory: raise workspace_mb "
            f"(now {workspace_mb}), or try precision fp32."
        )
    elif precision == "int8" and _mentions(errors, CALIBRATION):
        where = f"delete the calibration cache {calibration_cache} and " if (
            calibration_cache
        ) else ""
        advice = (
            f"INT8 calibration failed: {where}check the images in int8_calibration_dir, or use "
            "precision fp16."
        )
    else:
        advice = (
            f"The errors do not point to a setting of fanet_ros. Try precision fp32 (now "
            f"{precision}); if that fails too, use backend onnxruntime and report the errors."
        )
    return f"{advice} {said}"
