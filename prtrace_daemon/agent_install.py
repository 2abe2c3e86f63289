"""Coding agents' hooks (`prtrace agent install`): one tiny `sh` command per event in the agent's
own settings file, which appends the hook's JSON input to the spool and exits 0 at once.

Like the git hooks (hooks.py), the command has its paths baked in (agents run hooks without the
user's shell set-up), starts no Python, prints nothing and never fails: a missing state folder,
a full disk or an unregistered folder only mean that nothing is recorded. Our entries are
recognised by a marker word in the command, so a second install changes nothing and uninstall
finds them. The settings file as it was before the first install is kept under PRTRACE_HOME
(0600: settings may hold tokens); uninstall puts it back byte for byte when the file is still
as install left it, and otherwise removes only prtrace's entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prtrace_core.errors import PrtraceError
from prtrace_daemon.spool_format import VERSION, AgentRecord

__all__ = [
    "AGENTS",
    "MARKER",
    "AgentConfigError",
    "AgentSpec",
    "InstallReport",
    "UninstallReport",
    "UnknownAgent",
    "agent_folders",
    "config_path",
    "hook_command",
    "install",
    "installed_state",
    "not_installed",
    "spec",
    "uninstall",
]

MARKER = "prtrace-agent-hook"
STATE = "agents"  # under PRTRACE_HOME: one JSON file per settings file prtrace changed


class AgentConfigError(PrtraceError):
    """An agent's settings file cannot be read as the agent documents it (JSON with comments,
    hooks that are not a table of lists): prtrace leaves it untouched."""

    hint = "fix the file (or add prtrace's hook by hand); prtrace changed nothing in it"


class UnknownAgent(PrtraceError):
    """No hooks are known for that agent name."""

    hint = "prtrace agent install claude-code|codex|gemini|cursor"


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """Where an agent keeps its hooks and which of its events prtrace listens to."""

    name: str
    folder: str  # in the project and in the user's home
    file: str
    events: tuple[tuple[str, str | None], ...]  # (event, matcher); None: the event takes none
    timeout: int | None  # in the agent's own unit (Gemini: milliseconds); None: its default
    grouped: bool = True  # event → [{matcher, hooks: [handler]}]; False (Cursor): event → [handler]
    trust_note: str | None = None  # what the user must still do in the agent


_CLAUDE_TOOLS = "Edit|Write|MultiEdit|NotebookEdit|Bash"
_CODEX_TOOLS = "^(Bash|apply_patch)$"  # shell tools all report as Bash; file edits as apply_patch
_GEMINI_TOOLS = "^(write_file|replace|run_shell_command)$"

SPECS: dict[str, AgentSpec] = {
    spec.name: spec
    for spec in (
        AgentSpec(
            "claude-code",
            ".claude",
            "settings.json",
            (
                ("SessionStart", None),
                ("UserPromptSubmit", None),
                ("PreToolUse", _CLAUDE_TOOLS),
                ("PostToolUse", _CLAUDE_TOOLS),
                ("PostToolUseFailure", _CLAUDE_TOOLS),
                ("SubagentStart", None),
                ("SubagentStop", None),
                ("Stop", None),
                ("SessionEnd", None),
            ),
            timeout=5,  # seconds
        ),
        AgentSpec(
            "codex",
            ".codex",
            "hooks.json",
            (
                ("SessionStart", None),
                ("UserPromptSubmit", None),
                ("PreToolUse", _CODEX_TOOLS),
                ("PostToolUse", _CODEX_TOOLS),
                ("Stop", None),
            ),
            timeout=5,  # seconds
            trust_note="Codex asks you once (in /hooks) to trust new hooks before they run",
        ),
        AgentSpec(
            "gemini",
            ".gemini",
            "settings.json",
            (
                ("SessionStart", None),
                ("BeforeAgent", None),
                ("BeforeTool", _GEMINI_TOOLS),
                ("AfterTool", _GEMINI_TOOLS),
                ("AfterAgent", None),
                ("SessionEnd", None),
            ),
            timeout=5000,  # Gemini CLI counts hook timeouts in milliseconds
            trust_note="Gemini CLI may ask you once to trust the project's new hooks",
        ),
        AgentSpec(
            "cursor",
            ".cursor",
            "hooks.json",
            (
                ("sessionStart", None),
                ("beforeSubmitPrompt", None),
                ("beforeShellExecution", None),
                ("afterShellExecution", None),
                ("afterFileEdit", None),
                ("stop", None),
                ("sessionEnd", None),
            ),
            timeout=None,  # its unit is not documented for certain: its default is kept
            grouped=False,
        ),
    )
}
AGENTS = tuple(SPECS)


def spec(agent: str) -> AgentSpec:
    """The agent's spec; UnknownAgent for a name prtrace has no hooks for."""
    try:
        return SPECS[agent]
    except KeyError:
        raise UnknownAgent(f"no hooks for an agent named {agent!r}") from None


# ---------------------------------------------------------------- the hook command

# Builtins only, but for one program: `tr`, or `cat` for input that is discarded (stdin is
# always read to its end: an agent writing to a hook that stopped reading sees a broken pipe).
# Nothing reaches stdout or stderr (an agent may add a hook's output to the model's context).
# `cd -P` makes $PWD the real path (repos are listed by theirs); the `repos` list is read as
# the shell hooks read it. The line's only newline is written last, and not at all when `tr`
# fails, so a torn line is never taken whole.
_COMMAND = (
    ": {marker} {agent}; exec >/dev/null 2>&1; h={home}; r=; cd -P . || :; "
    'if [ -z "$PRTRACE_DISABLE" ] && [ -r "$h/repos" ]; then '
    'while IFS= read -r l || [ -n "$l" ]; do '
    '[ -n "$l" ] && case $PWD/ in "$l"/*) r=1;; esac; done <"$h/repos"; fi; '
    'if [ -n "$r" ] && [ -d "$h/spool" ]; then '
    "{{ printf '{version}\\t{kind}\\t\\t%s\\t{agent}\\t' \"$PWD\" && tr '\\t\\r\\n' '   ' && "
    "printf '\\n'; }} >>\"$h/spool/agent.$$.spool\" || cat; else cat; fi; exit 0"
)


def hook_command(agent: str, home: Path) -> str:
    """The command every event of `agent` runs, for the state folder `home`."""
    if AgentRecord.FIELDS != ("agent", "payload"):
        raise AssertionError("the agent record's fields changed")  # a bug of ours
    return _COMMAND.format(
        marker=MARKER,
        agent=spec(agent).name,
        home=shlex.quote(str(home)),
        version=VERSION,
        kind=AgentRecord.kind,
    )


def _is_ours(handler: object) -> bool:
    return isinstance(handler, dict) and MARKER in str(handler.get("command", ""))


# ---------------------------------------------------------------- where the settings are


def config_path(agent: str, base: Path) -> Path:
    """The settings file prtrace edits under `base` (a project root, or the user's home).

    Codex: `[hooks]` in config.toml when the user already keeps hooks there (and has no
    hooks.json); hooks.json otherwise.
    """
    found = spec(agent)
    folder = base / found.folder
    if found.name == "codex" and not (folder / "hooks.json").exists():
        toml = folder / "config.toml"
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if re.search(r"^\s*\[\[?\s*hooks[.\]]", toml.read_text(encoding="utf-8"), re.M):
                return toml
    return folder / found.file


def agent_folders(root: Path) -> list[str]:
    """The agents whose folder (`.claude`, `.codex` …) the project at `root` has."""
    return [name for name, found in SPECS.items() if (root / found.folder).is_dir()]


def not_installed(root: Path, user_home: Path, home: Path) -> list[str]:
    """The agents whose folder the project at `root` has, with prtrace's hooks (for `home`) in
    neither the project's settings nor the user's: `prtrace start` suggests installing them."""
    return [
        agent
        for agent in agent_folders(root)
        if all(
            installed_state(agent, config_path(agent, base), home) != "installed"
            for base in (root, user_home)
        )
    ]


def installed_state(agent: str, path: Path, home: Path) -> str:
    """`installed`, `stale` (ours, for another state folder or an older command), `absent`, or
    `unreadable`, for the settings file at `path`."""
    try:
        doc = _Document.load(path)
    except AgentConfigError:
        return "unreadable"
    if doc is None:
        return "absent"
    commands = {str(h.get("command")) for h in doc.handlers() if _is_ours(h)}
    if not commands:
        return "absent"
    return "installed" if commands == {hook_command(agent, home)} else "stale"


# ---------------------------------------------------------------- reading and writing settings


class _Document:
    """A settings file, parsed: JSON (indentation and line endings noted, to write it back the
    same way) or TOML (tomlkit keeps the user's comments and layout)."""

    def __init__(self, path: Path, text: str, data: Any, toml: bool) -> None:
        self.path = path
        self.text = text
        self.data = data
        self.toml = toml

    @classmethod
    def load(cls, path: Path) -> _Document | None:
        """The file parsed; None when there is none. AgentConfigError when it cannot be read."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AgentConfigError(f"cannot read {path}: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise AgentConfigError(f"{path} is not UTF-8 text; prtrace left it untouched") from None
        toml = path.suffix == ".toml"
        if toml:
            import tomlkit
            from tomlkit.exceptions import TOMLKitError

            try:
                data: Any = tomlkit.parse(text)
            except TOMLKitError as exc:
                raise AgentConfigError(
                    f"{path} is not valid TOML ({exc}); prtrace left it untouched"
                ) from None
        elif not text.strip():
            data = {}
        else:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise AgentConfigError(
                    f"{path} is not plain JSON (line {getattr(exc, 'lineno', '?')}: "
                    f"{getattr(exc, 'msg', exc)}; comments are not JSON); prtrace left it untouched"
                ) from None
        doc = cls(path, text, data, toml)
        doc._check()
        return doc

    def _check(self) -> None:
        if not isinstance(self.data, dict):
            raise AgentConfigError(
                f"{self.path} does not hold a JSON object; prtrace left it untouched"
            )
        hooks = self.data.get("hooks")
        if hooks is None:
            return
        if not isinstance(hooks, dict) or not all(isinstance(v, list) for v in hooks.values()):
            raise AgentConfigError(
                f"{self.path}: `hooks` is not a table of lists, as the agent documents it; "
                "prtrace left it untouched"
            )

    def handlers(self) -> Iterator[dict[str, Any]]:
        """Every hook handler in the file (of grouped and flat shapes alike)."""
        for entries in (self.data.get("hooks") or {}).values():
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("hooks"), list):
                    yield from (h for h in entry["hooks"] if isinstance(h, dict))
                elif isinstance(entry, dict):
                    yield entry

    def remove_ours(self) -> bool:
        """Take prtrace's handlers out (and the groups and events left empty by that); True
        when there were any. The user's entries stay as they are, in their order."""
        hooks = self.data.get("hooks")
        if not hooks:
            return False
        removed = False
        for event in list(hooks):
            entries = hooks[event]
            here = False
            for index in reversed(range(len(entries))):
                entry = entries[index]
                if _is_ours(entry):
                    del entries[index]
                    here = True
                elif isinstance(entry, dict) and isinstance(entry.get("hooks"), list):
                    inner = entry["hooks"]
                    mine = [i for i, h in enumerate(inner) if _is_ours(h)]
                    for i in reversed(mine):
                        del inner[i]
                    if mine and not inner:
                        del entries[index]
                    here = here or bool(mine)
            if here and not entries:
                del hooks[event]
            removed = removed or here
        if removed and not hooks:
            del self.data["hooks"]
        return removed

    def add_ours(self, found: AgentSpec, command: str) -> None:
        """Append prtrace's handler to each event, after the user's own (theirs run as before)."""
        if self.toml:
            import tomlkit

            table: Any = tomlkit.table(is_super_table=True)
            hooks = self.data.setdefault("hooks", table)
        else:
            hooks = self.data.setdefault("hooks", {})
            if not found.grouped and not self.text.strip():
                self.data = {"version": 1, "hooks": hooks}  # a new Cursor hooks.json
        for event, matcher in found.events:
            handler: dict[str, Any] = {"type": "command", "command": command}
            if found.name == "gemini":
                handler = {"name": "prtrace", **handler}
            if found.timeout is not None:
                handler["timeout"] = found.timeout
            entry: dict[str, Any] = {"command": command}
            if found.grouped:
                entry = ({"matcher": matcher} if matcher is not None else {}) | {"hooks": [handler]}
            if self.toml:
                entry = _toml_group(entry)
                if event not in hooks:
                    import tomlkit

                    hooks[event] = tomlkit.aot()
            hooks.setdefault(event, []).append(entry)

    def render(self) -> str:
        """The file's text, written the way it was: same indentation, line ends, final newline."""
        if self.toml:
            import tomlkit

            return str(tomlkit.dumps(self.data))
        indent = _indent_of(self.text)
        text = json.dumps(self.data, indent=indent, ensure_ascii=self.text.isascii())
        if self.text.endswith("\n") or not self.text.strip():
            text += "\n"
        return text.replace("\n", "\r\n") if "\r\n" in self.text else text


def _indent_of(text: str) -> str | int | None:
    """The indentation of a JSON text's first nested line (2 spaces for a new file); None for
    a text all on one line."""
    if not text.strip():
        return 2
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    for line in lines[1:]:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            return line[: len(line) - len(stripped)]
    return 2


def _toml_group(entry: dict[str, Any]) -> Any:
    import tomlkit

    group = tomlkit.table()
    if "matcher" in entry:
        group["matcher"] = entry["matcher"]
    handlers = tomlkit.aot()
    for handler in entry["hooks"]:
        item = tomlkit.table()
        for key, value in handler.items():
            item[key] = value
        handlers.append(item)
    group["hooks"] = handlers
    return group


def _write_keeping_mode(path: Path, data: bytes) -> None:
    """Replace the file at once (never half written), keeping its mode; through a symlink, the
    file it points at is replaced (a dotfiles checkout stays linked)."""
    target = path.resolve() if path.is_symlink() else path
    try:
        mode: int | None = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    tmp = target.with_name(f".{target.name}.prtrace-tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            tmp.chmod(mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- state under PRTRACE_HOME


def _state_file(home: Path, path: Path) -> Path:
    digest = hashlib.sha1(str(path).encode("utf-8", "surrogateescape"), usedforsecurity=False)
    return home / STATE / f"{digest.hexdigest()[:16]}.json"


def _read_state(home: Path, path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(_state_file(home, path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("path") == str(path) else None


def _write_state(home: Path, path: Path, state: dict[str, Any]) -> None:
    """0600, written whole or not at all: it holds the user's settings as they were."""
    target = _state_file(home, path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(tmp, target)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- install and uninstall


@dataclass
class InstallReport:
    path: Path
    changed: bool  # False: prtrace's hooks were there already, as they are now
    created: bool  # the file did not exist before
    notes: list[str] = field(default_factory=list)


@dataclass
class UninstallReport:
    path: Path
    found: bool  # prtrace's hooks were there
    restored: bool  # the file is back byte for byte as it was (or gone, as it was)
    kept_edits: bool  # changed since install: only prtrace's entries were taken out


def install(agent: str, path: Path, home: Path) -> InstallReport:
    """Add prtrace's hook to every event prtrace listens to in the settings file at `path`
    (created, with its folders, when missing); a second install changes nothing."""
    found = spec(agent)
    doc = _Document.load(path)
    before = doc.text.encode("utf-8") if doc is not None else None
    created = doc is None
    if doc is None:
        if path.suffix == ".toml":  # config_path names TOML only for a file that exists
            raise AgentConfigError(f"{path} vanished while prtrace was reading it")
        doc = _Document(path, "", {}, toml=False)
    had_ours = doc.remove_ours()
    doc.add_ours(found, hook_command(agent, home))
    text = doc.render()
    notes = [found.trust_note] if found.trust_note else []
    if before is not None and text.encode("utf-8") == before:
        return InstallReport(path, changed=False, created=False, notes=notes)
    state = _read_state(home, path)
    if state is None or before is None:  # a first install, or the file was removed since
        # The file as it was, unless it already held our hooks (a state folder lost since):
        # then uninstall can only take them out again.
        state = {
            "agent": agent,
            "path": str(path),
            "original": None if had_ours else (doc.text if before is not None else None),
            "known": not had_ours,
            # the folders an earlier install made stay ours, though the file went since
            "created_dirs": list(
                dict.fromkeys(
                    [str(d) for d in _missing_dirs(path.parent)]
                    + list((state or {}).get("created_dirs", []))
                )
            ),
        }
    elif state.get("installed_sha256") != _sha(before):
        state["known"] = False  # the user changed it since: never put an older copy back
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    _write_keeping_mode(path, data)
    state["installed_sha256"] = _sha(data)
    _write_state(home, path, state)
    return InstallReport(path, changed=True, created=created, notes=notes)


def _missing_dirs(folder: Path) -> list[Path]:
    """The folders above a file that do not exist yet, deepest first (uninstall removes them)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def uninstall(agent: str, path: Path, home: Path) -> UninstallReport:
    """Take prtrace's hooks out of the settings file at `path`: the file exactly as it was
    before install when nobody changed it since, else the file minus prtrace's entries."""
    spec(agent)
    state = _read_state(home, path)
    doc = _Document.load(path)
    report = UninstallReport(path, found=False, restored=False, kept_edits=False)
    if doc is None:
        _forget(home, path)
        return report
    current = doc.text.encode("utf-8")
    untouched = (
        state is not None and state.get("known") and state.get("installed_sha256") == _sha(current)
    )
    if untouched:
        assert state is not None
        report.found = report.restored = True
        original = state.get("original")
        if original is None:
            path.unlink()
            for folder in state.get("created_dirs", []):
                with contextlib.suppress(OSError):  # not empty: something else is in it now
                    Path(folder).rmdir()
        else:
            _write_keeping_mode(path, str(original).encode("utf-8"))
    elif doc.remove_ours():
        report.found = report.kept_edits = True
        _write_keeping_mode(path, doc.render().encode("utf-8"))
    _forget(home, path)
    return report


def _forget(home: Path, path: Path) -> None:
    _state_file(home, path).unlink(missing_ok=True)
