"""The package version, and how other packages' versions are read; a module of its own so
that any module may import it."""

from __future__ import annotations

import re
from typing import Tuple

__version__ = "0.1.0"


def release(version: str) -> Tuple[int, int]:
    """(major, minor) of a version string, whatever follows them.

    Examples
    --------
    >>> release("3.5.6"), release("4.1.0.dev1"), release("1.7rc1"), release("4")
    ((3, 5), (4, 1), (1, 7), (4, 0))
    """
    found = re.match(r"(\d+)(?:\.(\d+))?", version)
    if found is None:
        raise ValueError(f"version must start with a number, as in '3.5.6' (got {version!r}).")
    return int(found.group(1)), int(found.group(2) or 0)
