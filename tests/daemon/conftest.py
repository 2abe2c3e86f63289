"""A recorder on the test's PRTRACE_HOME, and a repo registered with it (hooks installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prtrace_daemon.buffer import Buffer
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.hooks import install_hooks
from prtrace_daemon.paths import home
from prtrace_daemon.recorder import Recorder


@pytest.fixture
def rec(prtrace_home: Path) -> Recorder:
    h = home().ensure()
    return Recorder(h, Buffer(h.buffer))


def started(rec: Recorder, root: Path) -> GitRepo:
    """What `prtrace start --no-daemon` does: register, install the hooks, take the snapshot."""
    repo = GitRepo(root)
    rec.register(repo)
    install_hooks(repo, rec.home.root)
    rec.record(repo)
    return repo
