"""The package code a GPU pack ships: the modules training imports, found by reading the source.

Starting from the entry points the pack runs (:data:`ENTRY_MODULES`), every
``import`` of ``fanet_ros`` / ``fanet_training`` (module level or inside a
function) is followed, so what ``fanet-train`` needs from ``fanet_ros``
(labels, dataset layouts, metrics, ...) comes along and the ROS node, the
runtimes and TensorRT stay behind. Only ``.py`` files are copied.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
from pathlib import Path

PACKAGES = ("fanet_ros", "fanet_training")
ENTRY_MODULES = ("fanet_training.train", "fanet_training.evaluate",
                 "fanet_training.profile_input")
FORBIDDEN = ("rclpy", "tensorrt", "cuda", "pycuda")
"""Top-level modules a GPU training box does not have; shipped code must not import them."""


class SourceError(RuntimeError):
    """Shipped code that would import something the GPU box lacks, or a module not found."""


def package_dirs() -> dict[str, Path]:
    """Where ``fanet_ros`` and ``fanet_training`` live (without importing their modules)."""
    dirs = {}
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SourceError(f"package '{name}' is not importable here")
        dirs[name] = Path(spec.origin).parent
    return dirs


def module_file(name: str, dirs: dict[str, Path]) -> Path | None:
    """``fanet_ros.labels`` -> ``.../fanet_ros/labels.py`` (or a package's ``__init__.py``)."""
    top, *rest = name.split(".")
    if top not in dirs:
        return None
    base = dirs[top].joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


INFERENCE_ONLY = ("fanet_ros.runtime", "fanet_ros.tensorrt", "fanet_ros.segmenter")


def alias_module(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    """The absolute-looking module an import names (relative imports: their ``module``)."""
    return alias.name if isinstance(node, ast.Import) else (node.module or "")


def imported_modules(path: Path, name: str) -> set[str]:
    """Every module ``path`` (module ``name``) imports, absolute and resolved from relative.

    Left out: imports inside a module-level ``__getattr__`` (PEP 562 lazy attributes, such
    as ``fanet_ros.Segmenter``), and imports of the inference runtimes
    (:data:`INFERENCE_ONLY`) inside functions: they load only when called, and training
    calls none of them.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    lazy = {id(inner) for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            for inner in ast.walk(node)}
    in_functions = {id(inner) for node in ast.walk(tree)
                    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    for inner in ast.walk(node) if inner is not node}
    for node in ast.walk(tree):
        if id(node) in lazy or (
                id(node) in in_functions and isinstance(node, ast.ImportFrom | ast.Import)
                and any(alias_module(node, alias).startswith(INFERENCE_ONLY)
                        for alias in node.names)):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def closure(entries: tuple[str, ...] = ENTRY_MODULES) -> dict[str, Path]:
    """Module name -> file for the entry modules, what they import, and their packages."""
    dirs = package_dirs()
    files: dict[str, Path] = {}
    pending = list(entries)
    while pending:
        name = pending.pop()
        if name in files:
            continue
        path = module_file(name, dirs)
        if path is None:
            if name in entries:
                raise SourceError(f"entry module '{name}' not found")
            continue  # an attribute imported with `from x import y`, or another package
        files[name] = path
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        pending.extend(parents)
        imports = imported_modules(path, name)
        forbidden = sorted(m for m in imports if m.split(".")[0] in FORBIDDEN)
        if forbidden:
            raise SourceError(f"'{path}' imports {', '.join(forbidden)}, which a GPU training "
                              "box does not have; keep it out of the training imports")
        pending.extend(m for m in imports if m.split(".")[0] in dirs)
    return files


def copy_sources(dest: Path) -> list[Path]:
    """Copy the :func:`closure` into ``dest/<package>/...``; returns the files written."""
    dirs = package_dirs()
    written = []
    for name, path in sorted(closure().items()):
        top = name.split(".")[0]
        target = dest / top / path.relative_to(dirs[top])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        written.append(target)
    return written
