"""Generated blocks inside hand-written Markdown (README sections made by a command).

A block sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; the
commands that produce figures (the demo, the benchmarks) rewrite only it.
"""

from __future__ import annotations

import re
from pathlib import Path


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the block ``name`` replaced by ``content``; raises if it is missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no '{start}' ... '{end}' block to replace")
    return pattern.sub(lambda _: f"{start}\n{content.strip()}\n{end}", text, count=1)


def update_file_block(path: str | Path, name: str, content: str) -> None:
    """Rewrite the block ``name`` of the Markdown file ``path`` in place."""
    path = Path(path)
    path.write_text(replace_block(path.read_text(), name, content))
