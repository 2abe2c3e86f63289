"""Git hooks that record without slowing git: a few lines of `sh` that append one line to the
spool and exit 0. Enrichment (message, stats, files) happens when the spool is drained.

An existing hook that is not ours is moved aside and still runs after ours; ours is
recognised by a marker line, and uninstall puts the original back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.spool_format import (
    VERSION,
    CheckoutRecord,
    CommitRecord,
    MergeRecord,
    PushRecord,
    RewriteRecord,
    SpoolRecord,
)

__all__ = [
    "HOOKS",
    "MARKER",
    "HookReport",
    "hooks_dir",
    "install_hooks",
    "own_hooks_dir",
    "render_hook",
    "uninstall_hooks",
]

MARKER = "# prtrace-managed hook"
HOOKS = ("post-commit", "post-checkout", "post-merge", "post-rewrite", "pre-push")
ORIG_SUFFIX = ".prtrace-orig"

# Per hook: the record its spool line holds (spool_format.py), the shell words for the fields
# after SHA and REF (which every hook reads from `git rev-parse`), and whether git feeds the
# hook lines on stdin (which the chained hook must then get too).
_SPECS: dict[str, tuple[type[SpoolRecord], tuple[str, ...], bool]] = {
    "post-commit": (CommitRecord, (), False),
    # previous HEAD; 1 for a branch checkout
    "post-checkout": (CheckoutRecord, ('"$1"', '"$3"'), False),
    # 1 for a squash merge; ORIG_HEAD is where HEAD was before the merge
    "post-merge": (MergeRecord, ('"$1"', '"$(git rev-parse -q --verify ORIG_HEAD 2>/dev/null)"'), False),
    # amend | rebase; stdin: "<old sha> <new sha>" lines
    "post-rewrite": (RewriteRecord, ('"$1"', '"$flat"'), True),
    # remote name, url; stdin: "<local ref> <local sha> <remote ref> <remote sha>" lines
    "pre-push": (PushRecord, ('"$1"', '"$2"', '"$flat"'), True),
}

_HEAD = """#!/bin/sh
{marker} ({name}); `prtrace uninstall` restores what was here.
# Appends one line to the prtrace spool; never fails, blocks or slows git noticeably.
PRTRACE_SPOOL={spool}
orig={orig}
"""

_PASS_THROUGH = """#!/bin/sh
{marker} ({name}, passed on); `prtrace uninstall` restores what was here.
orig={orig}
if [ -x "$orig" ]; then
    exec "$orig" "$@"
fi
exit 0
"""

# Builtins only: stdin is read once, kept for the chained hook, and flattened to one line.
_READ_STDIN = """input=
flat=
while IFS= read -r line || [ -n "$line" ]; do
    input="$input$line
"
    flat="$flat$line;"
done
"""

_RECORD = """if [ -d "$PRTRACE_SPOOL" ] && [ -z "$PRTRACE_DISABLE" ]; then
    info=$(git rev-parse HEAD --symbolic-full-name HEAD 2>/dev/null)
    sha=${{info%%
*}}
    ref=${{info#"$sha"}}
    ref=${{ref#
}}
    # No time in the line: the spool file's mtime is when it was written (no `date` process).
    printf '{version}\\t{kind}\\t\\t%s\\t%s\\t%s{extra_format}\\n' "$PWD" "$sha" "$ref"{extra_args} \\
        >> "$PRTRACE_SPOOL/hook.$$.spool" 2>/dev/null
fi
"""

_CHAIN = """if [ -x "$orig" ]; then
    exec "$orig" "$@"
fi
exit 0
"""

# The chained hook's exit code is git's answer (a pre-push hook may refuse a push on purpose).
_CHAIN_STDIN = """if [ -x "$orig" ]; then
    printf '%s' "$input" | "$orig" "$@"
    exit $?
fi
exit 0
"""


def render_hook(name: str, home: Path, orig: Path | None = None) -> str:
    """The hook script, with absolute paths baked in: IDEs run hooks without the user's shell env.

    It chains to `orig` (default: the hook moved aside beside it).
    """
    record, extra, stdin = _SPECS[name]
    if record.FIELDS[:2] != ("sha", "ref") or len(record.FIELDS) != 2 + len(extra):
        raise AssertionError(f"{name}'s fields do not match the {record.kind} record's")  # a bug of ours
    chained = shlex.quote(str(orig)) if orig is not None else f'"$(dirname "$0")/{name}{ORIG_SUFFIX}"'
    parts = [
        _HEAD.format(marker=MARKER, name=name, spool=shlex.quote(str(home / "spool")), orig=chained),
        _READ_STDIN if stdin else "",
        _RECORD.format(
            version=VERSION, kind=record.kind, extra_format="\\t%s" * len(extra), extra_args="".join(f" {w}" for w in extra)
        ),
        _CHAIN_STDIN if stdin else _CHAIN,
    ]
    return "".join(parts)


def hooks_dir(repo: GitRepo) -> Path:
    """Where git looks for this repo's hooks (honours core.hooksPath)."""
    out = repo.git("rev-parse", "--git-path", "hooks").decode().strip()
    path = Path(out)
    return path if path.is_absolute() else repo.root / path


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


@dataclass
class HookReport:
    chained: list[str] = field(default_factory=list)  # the user's hook kept, run after ours
    skipped: list[str] = field(default_factory=list)  # why a hook was not installed


# Every hook git knows, so a folder that takes core.hooksPath's place still runs each of the
# user's. The per-ref and per-index ones are passed on only when the user has them (they fire
# constantly).
GIT_HOOKS = (
    "applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
    "prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout", "post-merge",
    "pre-push", "pre-receive", "update", "proc-receive", "post-receive", "post-update",
    "push-to-checkout", "pre-auto-gc", "post-rewrite", "sendemail-validate", "p4-changelist",
    "p4-prepare-changelist", "p4-post-changelist", "p4-pre-submit",
)
_ON_DEMAND = ("reference-transaction", "post-index-change", "fsmonitor-watchman")
_PREVIOUS = "previous-hooks-path.json"


def own_hooks_dir(repo: GitRepo, home: Path) -> Path:
    """prtrace's own hooks folder for a repo whose core.hooksPath is set (husky, pre-commit …)."""
    digest = hashlib.sha1(str(repo.root).encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()
    return home / "hooks" / digest[:16]


def _configured_hooks_path(repo: GitRepo, scope: str | None = None) -> str | None:
    args = ["config", *([f"--{scope}"] if scope else []), "--get", "core.hooksPath"]
    value = repo.git(*args, check=False).decode("utf-8", "surrogateescape").strip()
    return value or None


def _write_script(target: Path, text: str) -> None:
    tmp = target.with_name(f".{target.name}.prtrace-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, target)


def install_hooks(repo: GitRepo, home: Path) -> HookReport:
    """Install (or refresh) our hooks, never losing one of the user's.

    With core.hooksPath set (husky's `.husky/`, a shared folder), prtrace writes nothing there:
    it points the repo's local core.hooksPath at a folder of its own whose scripts record and
    then run the user's hook of the same name from the original folder. Uninstall restores
    the setting.
    """
    report = HookReport()
    own = own_hooks_dir(repo, home)
    if _configured_hooks_path(repo) is not None:
        _install_in_own_folder(repo, home, own)
        return report
    folder = hooks_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    for name in HOOKS:
        target = folder / name
        orig = folder / f"{name}{ORIG_SUFFIX}"
        if target.exists() and not _is_ours(target):
            if orig.exists():
                # Both the user's hook and an earlier one set aside: replacing either would lose it.
                report.skipped.append(f"{name}: both {target.name} and {orig.name} exist; left as they are")
                continue
            os.replace(target, orig)
            report.chained.append(name)
        _write_script(target, render_hook(name, home))
    return report


def _install_in_own_folder(repo: GitRepo, home: Path, own: Path) -> None:
    state = own / _PREVIOUS
    local = _configured_hooks_path(repo, "local")
    if local is not None and Path(local) == own and state.exists():
        previous = json.loads(state.read_text(encoding="utf-8"))  # a refresh: keep what we saved
    else:
        previous = {"local": local, "original": str(hooks_dir(repo))}
    original = Path(previous["original"])
    own.mkdir(parents=True, exist_ok=True)
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(previous), encoding="utf-8")
    os.replace(tmp, state)
    present = {p.name for p in original.iterdir()} if original.is_dir() else set()
    for name in (*GIT_HOOKS, *(n for n in _ON_DEMAND if n in present)):
        orig = original / name
        if name in HOOKS:
            text = render_hook(name, home, orig)
        else:
            text = _PASS_THROUGH.format(marker=MARKER, name=name, orig=shlex.quote(str(orig)))
        _write_script(own / name, text)
    repo.git("config", "--local", "core.hooksPath", str(own))


def uninstall_hooks(repo: GitRepo, home: Path | None = None) -> None:
    """Remove our hooks and put back exactly what was there (files, or core.hooksPath)."""
    local = _configured_hooks_path(repo, "local")
    if home is not None and local is not None and Path(local) == own_hooks_dir(repo, home):
        own = Path(local)
        try:
            previous = json.loads((own / _PREVIOUS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {"local": None}
        if previous.get("local"):
            repo.git("config", "--local", "core.hooksPath", previous["local"])
        else:
            repo.git("config", "--local", "--unset", "core.hooksPath", check=False)
        shutil.rmtree(own, ignore_errors=True)
        return
    folder = hooks_dir(repo)
    for name in HOOKS:
        target = folder / name
        orig = folder / f"{name}{ORIG_SUFFIX}"
        if _is_ours(target):
            target.unlink()
        if orig.exists() and not target.exists():
            os.replace(orig, target)
