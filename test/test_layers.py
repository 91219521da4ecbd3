"""Imports go one way: every module of fanet_ros and fanet_training imports only from its own
layer and the layers below it, and no set of modules imports itself in a circle.

Pure ``ast`` (nothing is imported), so it takes well under a second. Imports inside functions
count too: a lazy import that runs upward is still an upward dependency. docs/architecture.md
describes the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fanet_ros", "fanet_training")

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tooling", ("fanet_ros.tooling",)),
    ("onnx", ("fanet_ros.onnx",)),
    ("core", ("fanet_ros",)),  # every fanet_ros module no other layer names: labels, ...
    ("backends", ("fanet_ros.runtime", "fanet_ros.tensorrt")),
    ("pipeline", ("fanet_ros.__init__", "fanet_ros.segmentation_pipeline",
                  "fanet_ros.segmenter")),
    ("node", ("fanet_ros.node",)),
    ("launching", ("fanet_ros.launching",)),
    ("evaluation", ("fanet_ros.evaluation",)),
    ("tensorrt tools", ("fanet_ros.tensorrt.check", "fanet_ros.tensorrt.self_test",
                        "fanet_ros.tensorrt.check_engine_cli",
                        "fanet_ros.tensorrt.build_engine_cli", "fanet_ros.tensorrt.cli_common",
                        "fanet_ros.tensorrt.gpu_check")),
    ("training", ("fanet_training",)),
)
"""Bottom first. A module belongs to the layer of the longest prefix that names it (a
package's own ``__init__`` is ``<package>.__init__``)."""


def module_files() -> dict[str, Path]:
    """Module name (``fanet_ros.node.__init__`` for a package) -> file."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[".".join(path.relative_to(ROOT).with_suffix("").parts)] = path
    return found


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module an import of ``name`` loads: the module, or the package's ``__init__``."""
    if name in modules:
        return name
    if f"{name}.__init__" in modules:
        return f"{name}.__init__"
    return None


def imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``module`` imports, anywhere in the file."""
    package = module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            # `from package import module` loads the module; the package counts when a name
            # is an attribute of it (`from fanet_ros.runtime import create_backend`)
            names = submodules + [base] * any(resolve(m, modules) is None for m in submodules)
        found |= {target for name in names if (target := resolve(name, modules))}
    return found - {module}


def layer_of(module: str) -> int:
    best, layer = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), index
    assert layer >= 0, f"{module} is in no layer: add it to LAYERS (and docs/architecture.md)"
    return layer


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports(name, path, modules) for name, path in modules.items()}


def test_the_graph_sees_the_imports_it_should():
    graph = import_graph()
    assert "fanet_ros.runtime.config" in graph["fanet_ros.runtime.select"]
    assert "fanet_ros.node.startup_signals" in graph["fanet_ros.node.segmentation_node"]
    assert "fanet_ros.segmenter" in graph["fanet_ros.__init__"]  # lazy, in __getattr__
    assert layer_of("fanet_ros.labels") == layer_of("fanet_ros.synthetic.scene")
    assert layer_of("fanet_ros.tensorrt.engines") == layer_of("fanet_ros.runtime.select")
    assert layer_of("fanet_ros.tensorrt.self_test") > layer_of("fanet_ros.evaluation.replay")


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
        f"({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(import_graph().items()) for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports run upward:\n" + "\n".join(upward)


ROS = ("rclpy", "launch", "launch_ros", "sensor_msgs", "std_msgs", "diagnostic_msgs",
       "rcl_interfaces", "builtin_interfaces", "ament_index_python")


def module_level_imports(path: Path) -> set[str]:
    """Top-level names of what ``path`` imports when it is imported (not inside functions)."""
    found, pending = set(), list(ast.parse(path.read_text(), str(path)).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return found


def test_the_layers_up_to_the_pipeline_import_no_ros():
    """``from fanet_ros import Segmenter``, the backends and training load without ROS (a
    function may import it when called: image_conversion's message helpers do)."""
    ceiling = [name for name, _ in LAYERS].index("pipeline")
    with_ros = [f"{module} imports {sorted(set(ROS) & module_level_imports(path))}"
                for module, path in sorted(module_files().items())
                if (module.startswith("fanet_ros") and layer_of(module) <= ceiling
                    or module.startswith("fanet_training"))
                and set(ROS) & module_level_imports(path)]
    assert not with_ros, "\n".join(with_ros)


def test_no_import_circle():
    graph = import_graph()
    circles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)
