from __future__ import annotations

from pathlib import Path

from prtrace_daemon.watchplan import Watch, plan_watches


def _tree(root: Path, *folders: str) -> None:
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)


def test_a_clean_repo_is_one_recursive_watch(tmp_path: Path) -> None:
    _tree(tmp_path, "src/pkg", "tests")
    assert plan_watches(tmp_path) == [Watch(tmp_path, recursive=True)]


def test_generated_and_ignored_trees_are_never_watched(tmp_path: Path) -> None:
    _tree(tmp_path, ".git/objects", "src/pkg", "web/node_modules/react", "web/src", "build/out", "docs")
    watches = set(plan_watches(tmp_path, ignored=["build"]))
    assert watches == {
        Watch(tmp_path, recursive=False),
        Watch(tmp_path / "src", recursive=True),
        Watch(tmp_path / "docs", recursive=True),
        Watch(tmp_path / "web", recursive=False),
        Watch(tmp_path / "web" / "src", recursive=True),
    }
    covered = [w.path for w in watches]
    assert not any("node_modules" in str(p) or p.name in {".git", "build"} for p in covered)
