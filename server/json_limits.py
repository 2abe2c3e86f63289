"""Limits on the JSON the server stores: nesting depth, text that is valid UTF-8, integers that
fit the index and every JSON library downstream. Checked without recursion, so a hostile
document cannot exhaust the stack."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["INT_MAX", "INT_MIN", "MAX_DEPTH", "SEQ_MAX", "NonFinite", "find_problem", "too_deep"]

MAX_DEPTH = 100
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
SEQ_MAX = 2**63 - 1  # seq is a BIGINT column


class NonFinite:
    """A number JSON cannot hold as a finite double (`1e400`, `NaN`, `Infinity`), as the body
    parser leaves it in place of a float: no JSON encoder accepts it, so the event holding one
    fails the fast check and `find_problem` names it — it is never stored as null."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"NonFinite({self.text!r})"


def find_problem(value: Any, *, max_depth: int = MAX_DEPTH, root: str = "") -> str | None:
    """A message naming the first field that breaks a limit, or None when the value is fine."""
    stack: list[tuple[Any, str, int]] = [(value, root, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                return f"{path or 'value'}: nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, sub in reversed(item.items()):
                    if not _is_utf8(key):
                        return f"{path or 'value'}: a key holds a lone surrogate, which is not valid UTF-8"
                    stack.append((sub, f"{path}.{key}" if path else key, depth + 1))
            else:
                for index in range(len(item) - 1, -1, -1):
                    stack.append((item[index], f"{path}[{index}]", depth + 1))
        elif isinstance(item, str):
            if not _is_utf8(item):
                return f"{path or 'value'}: text holds a lone surrogate, which is not valid UTF-8"
        elif isinstance(item, int) and not isinstance(item, bool) and not INT_MIN <= item <= INT_MAX:
            return f"{path or 'value'}: integer {item} is out of the 64-bit range"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{path or 'value'}: number {item} is not finite"
        elif isinstance(item, NonFinite):
            return f"{path or 'value'}: number {item.text[:40]} is not finite"
    return None


def too_deep(value: Any, *, max_depth: int = MAX_DEPTH) -> bool:
    """Whether containers nest deeper than `max_depth`; visits containers only, a level at a
    time, so it is cheap (this runs for every event) and needs no recursion."""
    level = [value]
    depth = 1
    while level:
        if depth > max_depth:
            return True
        below = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
        depth += 1
    return False


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
