"""Command-line value types shared by the package's commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer of ``minimum`` or more, else a usage error naming it."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text}: must be {minimum} or more")
        return value

    parse.__name__ = "int"  # argparse's "invalid int value" for text that is no number
    return parse
