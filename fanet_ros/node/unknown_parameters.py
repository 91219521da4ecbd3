"""Overrides that look like a misspelt node parameter: the node says so.

ROS 2 nodes ignore overrides of parameters they never declare, silently: ``-p
output_resolutin:=model`` runs with the default. The node cannot refuse every unknown name
(a params file's ``/**`` entry is read by every node, and holds other nodes' parameters), but
a name within a typo of one of its own is almost surely meant for it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

SIMILARITY = 0.85
"""difflib ratio above which an unknown name counts as a misspelling of a known one."""


def misspelt_parameters(given: Iterable[str], known: Iterable[str]) -> list[tuple[str, str]]:
    """``(given name, the known name it resembles)`` for each given name that is not known
    but close to one; dotted names (``qos_overrides.<topic>...``) are left to rclpy."""
    known = list(known)
    found = []
    for name in sorted(set(given) - set(known)):
        if "." in name:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=SIMILARITY)
        if close:
            found.append((name, close[0]))
    return found
