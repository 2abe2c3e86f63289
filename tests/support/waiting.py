"""Polling until something is true: the one barrier the tests use instead of a fixed sleep.

A fixed sleep is either too short on a loaded machine (a flaky test) or too long everywhere
(a slow one); polling returns as soon as the condition holds and fails with what was awaited."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["DEADLINE_S", "TimedOut", "blocked_reading", "wait_for"]

T = TypeVar("T")

# Generous: a deadline only ends a test that would otherwise hang; it measures no speed.
DEADLINE_S = 30.0


class TimedOut(AssertionError):
    """What was awaited did not happen in time: an assertion failure in a test, and a type of
    its own for a caller that reports it otherwise (a server that did not start)."""


def wait_for(
    condition: Callable[[], T],
    what: str | Callable[[], str],
    timeout_s: float = DEADLINE_S,
    interval_s: float = 0.05,
) -> T:
    """Call `condition` until it returns something truthy, and return that, so a poll that
    also fetches a value needs no second call; fail with `TimedOut` naming `what` after
    `timeout_s` seconds. `what` may be a function, called only then, so the failure can show
    the state the last attempt saw."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            awaited = what() if callable(what) else what
            raise TimedOut(f"timed out after {timeout_s:.0f} s waiting for {awaited}")
        time.sleep(interval_s)


# read(2)'s number, which /proc/<pid>/syscall names a blocked process's call by.
_READ_SYSCALL = {"x86_64": 0, "aarch64": 63}


def blocked_reading(pid: int, fd: int | None = 0) -> bool:
    """Whether process `pid` is blocked in read(2) on its file descriptor `fd` (None: on any,
    for a prompt that reads /dev/tty rather than stdin), on Linux. The barrier for "it is
    waiting for input": everything it wrote before blocking has been written by then, so a
    check that it printed nothing more needs no fixed sleep."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    number = _READ_SYSCALL.get(platform.machine())
    if number is None or len(fields) < 2 or not fields[0].isdigit():
        return False  # "running", or an architecture not listed here
    return int(fields[0]) == number and (fd is None or int(fields[1], 16) == fd)
