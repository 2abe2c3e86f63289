"""The JavaScript fixture project (tests/fixtures/js_runners), installed once, for the tests
that run real jest, vitest and mocha.

`npm ci` runs once per lock file: its node_modules is kept in `.test-cache/js-runners/KEY/`
(git ignores `.test-cache/`), KEY being a hash of package.json, package-lock.json, Node's major
version and the machine, so a re-run is quick and a changed lock installs afresh. Each test
session copies the project's own files to a temp folder whose node_modules links to the cache,
so runs never write into the cache or into the source tree.

Without `node` or `npm` the tests are skipped, saying so (.ci/run installs both from Debian's
packages); a runner whose own `engines` field asks for a newer Node than the machine has is
skipped by itself, saying which Node it needs.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import pty
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["CACHE", "FIXTURE", "JsProject", "installed_modules", "installed_project", "node_version", "runner_env"]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "js_runners"
CACHE = Path(__file__).resolve().parents[2] / ".test-cache" / "js-runners"
MIN_NODE = (18, 0)
# each runner's floor, from its package.json `engines` (vitest 4 through vite 8, mocha 12)
RUNNER_NODE = {"jest": (18, 0), "vitest": (20, 19), "mocha": (20, 19)}
# variables that change what a runner prints; each test sets the ones it means
_PRINT_SETTINGS = ("CI", "FORCE_COLOR", "NO_COLOR", "NODE_OPTIONS", "NODE_ENV", "TERM", "npm_config_color")
_RUN_TIMEOUT = 180


def node_version() -> tuple[int, ...] | None:
    """The installed Node's version, or None when there is no usable `node`."""
    if shutil.which("node") is None:
        return None
    try:
        printed = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v(\d+)\.(\d+)\.(\d+)", printed.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def runner_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the settings that change a runner's output, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key not in _PRINT_SETTINGS}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class JsProject:
    """A copy of the fixture project with its packages installed."""

    root: Path
    node: tuple[int, ...]

    def require(self, runner: str) -> None:
        """Skip the calling test when this machine's Node is older than `runner` supports."""
        floor = RUNNER_NODE[runner]
        if self.node[:2] < floor:
            have = ".".join(map(str, self.node))
            pytest.skip(f"{runner} needs Node >= {'.'.join(map(str, floor))}; this machine has {have}")

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None, *, tty: bool = False) -> str:
        """What the command printed (stdout and stderr, interleaved as a terminal shows them)."""
        full_env = runner_env(env)
        if tty:
            return _run_on_terminal(argv, self.root, full_env)
        proc = subprocess.run(
            list(argv), cwd=self.root, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=_RUN_TIMEOUT,
        )
        return proc.stdout.decode("utf-8", "replace")


def _run_on_terminal(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    """Run with a pseudo-terminal as stdout, as `prtrace run` does when it has one: the runner
    then draws for a person (progress lines, cursor moves, CRLF line ends)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env={**env, "TERM": "xterm-256color"},
                                stdin=slave, stdout=slave, stderr=slave)
    finally:
        os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + _RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break  # exited, and nothing more to read (a leftover child may hold the pty)
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            output += chunk
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return output.decode("utf-8", "replace")


def _cache_key(node: tuple[int, ...]) -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((FIXTURE / name).read_bytes())
    digest.update(f"node{node[0]}-{platform.system()}-{platform.machine()}".encode())
    return digest.hexdigest()[:16]


def installed_modules(node: tuple[int, ...]) -> Path:
    """The fixture's node_modules, installed by `npm ci` into the cache unless already there.
    One install at a time (a lock), built in a scratch folder and renamed into place."""
    key = _cache_key(node)
    target = CACHE / key
    if (target / ".installed").exists():
        return target / "node_modules"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".installed").exists():
            return target / "node_modules"
        work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=CACHE))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(FIXTURE / name, work / name)
            # --include=dev: a NODE_ENV=production in the environment would leave the runners out
            argv = ["npm", "ci", "--include=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
            proc = subprocess.run(argv, cwd=work, env=runner_env(), capture_output=True, text=True, timeout=1200)
            if proc.returncode != 0:
                pytest.fail(f"`npm ci` for the JS runner fixture failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
            (work / ".installed").write_text(f"{' '.join(argv)}\n")
            for stale in CACHE.iterdir():  # other locks' installs, and scratch left by a killed run
                if stale.is_dir() and stale.name not in (key, work.name):
                    shutil.rmtree(stale, ignore_errors=True)
            shutil.rmtree(target, ignore_errors=True)  # a half-made folder, never marked installed
            work.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target / "node_modules"


def installed_project(tmp_path_factory: pytest.TempPathFactory) -> JsProject:
    """The fixture project, installed, in a temp folder of the session's: the body of the
    session fixture `js_project` (skips when Node or npm is missing)."""
    if shutil.which("npm") is None or shutil.which("npx") is None or (node := node_version()) is None:
        pytest.skip("node and npm are not installed (.ci/run installs them from Debian's packages)")
    if node[:2] < MIN_NODE:
        pytest.skip(f"the JS runner tests need Node >= {MIN_NODE[0]}; this machine has {'.'.join(map(str, node))}")
    modules = installed_modules(node)
    root = tmp_path_factory.mktemp("js-runners")
    shutil.copytree(FIXTURE, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("node_modules", ".vite"))
    (root / "node_modules").symlink_to(modules, target_is_directory=True)
    return JsProject(root, node)
