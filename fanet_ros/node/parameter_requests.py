"""Refuse malformed parameter-service requests with a reason instead of failing on them.

rclpy's ``set_parameters`` and ``set_parameters_atomically`` services build a
``Parameter`` from each request entry: a ``ParameterValue.type`` outside
0..9 raises ``ValueError`` in the service callback (no response, and out of
``rclpy.spin``), and a parameter named ``""`` is reported as set although no
such parameter exists. :func:`guard_parameter_services` wraps both services'
callbacks so that such entries get ``successful=False`` and a reason, and the
well-formed entries of a ``set_parameters`` request are still set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rcl_interfaces.srv import SetParameters, SetParametersAtomically
from rclpy.node import Node
from rclpy.parameter import Parameter

_TYPES = {member.value for member in Parameter.Type}


def parameter_problem(param: Any) -> str | None:
    """Why an ``rcl_interfaces/Parameter`` cannot be set whatever the node, or ``None``."""
    if not param.name:
        return "a parameter name must not be empty"
    if param.value.type not in _TYPES:
        return (f"parameter {param.name!r}: type {param.value.type} is not a "
                f"rcl_interfaces/ParameterType ({min(_TYPES)}..{max(_TYPES)})")
    return None


def guard_parameter_services(node: Node, on_refused: Callable[[str, str], None]) -> int:
    """Wrap ``node``'s set-parameter services; ``on_refused(service, reason)`` is called per
    refused entry. Returns how many services were wrapped (0 without parameter services)."""
    wrapped = 0
    for service in node.services:
        if service.srv_type is SetParameters:
            service.callback = _guarded_set(service.callback, service.srv_name, on_refused)
        elif service.srv_type is SetParametersAtomically:
            service.callback = _guarded_set_atomically(
                service.callback, service.srv_name, on_refused)
        else:
            continue
        wrapped += 1
    return wrapped


def _guarded_set(original: Callable, name: str, on_refused: Callable[[str, str], None]
                 ) -> Callable:
    def callback(request: Any, response: Any) -> Any:
        problems = [parameter_problem(p) for p in request.parameters]
        if not any(problems):
            return original(request, response)
        for param, problem in zip(request.parameters, problems):
            if problem:
                on_refused(name, problem)
                response.results.append(SetParametersResult(successful=False, reason=problem))
            else:  # set the well-formed ones one by one, as the service does
                one = original(SetParameters.Request(parameters=[param]),
                               SetParameters.Response())
                response.results.extend(one.results)
        return response

    return callback


def _guarded_set_atomically(original: Callable, name: str,
                            on_refused: Callable[[str, str], None]) -> Callable:
    def callback(request: Any, response: Any) -> Any:
        problems = [p for p in map(parameter_problem, request.parameters) if p]
        if not problems:
            return original(request, response)
        for problem in problems:
            on_refused(name, problem)
        response.result = SetParametersResult(successful=False, reason="; ".join(problems))
        return response

    return callback
