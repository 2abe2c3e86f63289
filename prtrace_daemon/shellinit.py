"""`prtrace shell-init`: the hook a shell evaluates from its rc file.

The hook's body is a shell file shipped beside this module (`shell_hooks/prtrace.<shell>`);
what differs per user — where the spool is, the ignore patterns, the commands to run
through `prtrace run` — is written in front of it as plain assignments, quoted for that
shell, so nothing the user typed is ever evaluated as code.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from prtrace_core.errors import ConfigError

__all__ = ["SHELLS", "render"]

SHELLS = ("bash", "zsh", "fish")
_HOOKS = Path(__file__).with_name("shell_hooks")
_PROGRAM = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z")
_WORD = re.compile(r"\A[A-Za-z0-9_./+:=@-]+\Z")


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _wraps(commands: Sequence[str]) -> dict[str, list[str]]:
    """`["pytest", "npm test"]` → `{"pytest": [""], "npm": ["test"]}`: a function per program,
    which sends the listed sub-commands through `prtrace run` and everything else straight on."""
    grouped: dict[str, list[str]] = {}
    for command in commands:
        words = command.split()
        if not words or not _PROGRAM.match(words[0]) or not all(_WORD.match(word) for word in words[1:]):
            raise ConfigError(
                f"cannot wrap {command!r}: a program name and plain words only",
                hint='prtrace shell-init bash --wrap pytest --wrap "npm test"',
            )
        grouped.setdefault(words[0], []).append(" ".join(words[1:]))
    return grouped


def _posix_wraps(grouped: dict[str, list[str]], shell: str) -> str:
    """A function per wrapped program, defined with `function NAME` (an alias of the same name
    is not expanded there) and only when the user has no alias or function of that name. It
    sets __prtrace_routed, so the hook leaves that line to `prtrace run`."""
    out = []
    for program, subs in grouped.items():
        tests = " || ".join(f'"$*" == {shlex.quote(sub)} || "$*" == {shlex.quote(sub + " ")}*' for sub in subs if sub)
        check = "true" if "" in subs else f"[[ {tests} ]]"
        guard = "[[ -n ${__prtrace_loaded-} ]] && " + (
            f"! alias {program} >/dev/null 2>&1 && ! declare -F {program} >/dev/null"
            if shell == "bash"
            else f"(( ! ${{+aliases[{program}]}} && ! ${{+functions[{program}]}} ))"
        )
        out.append(
            f"if {guard}; then\n"
            f"    function {program} {{\n"
            f"        __prtrace_repo \"$PWD\"\n"
            f"        if [[ -n $__prtrace_in ]] && {check} && command -v prtrace >/dev/null 2>&1; then\n"
            f"            __prtrace_routed=1\n"
            f"            command prtrace run -- {program} \"$@\"\n"
            f"        else\n"
            f"            command {program} \"$@\"\n"
            f"        fi\n"
            f"    }}\n"
            f"fi\n"
        )
    return "".join(out)


def _fish_wraps(grouped: dict[str, list[str]]) -> str:
    out = []
    for program, subs in grouped.items():
        if "" in subs:
            check = "true"
        else:
            tests = [f"test \"$argv\" = {_fish_quote(sub)}; or string match -q -- {_fish_quote(sub + ' *')} \"$argv\"" for sub in subs]
            check = f"begin; {'; or '.join(tests)}; end"
        out.append(
            f"if set -q __prtrace_loaded; and not functions -q {program}\n"
            f"    function {program} --wraps {program}\n"
            f"        if __prtrace_repo $PWD; and {check}; and command -q prtrace\n"
            f"            set -g __prtrace_routed 1\n"
            f"            command prtrace run -- {program} $argv\n"
            f"        else\n"
            f"            command {program} $argv\n"
            f"        end\n"
            f"    end\n"
            f"end\n"
        )
    return "".join(out)


def render(shell: str, home: Path, *, ignore: Sequence[str] = (), wrap: Sequence[str] = ()) -> str:
    """The hook for `shell`, for the state folder `home`."""
    if shell not in SHELLS:
        raise ConfigError(f"no hook for {shell!r}", hint="prtrace shell-init bash|zsh|fish")
    grouped = _wraps(wrap)
    body = (_HOOKS / f"prtrace.{shell}").read_text(encoding="utf-8")
    if shell == "fish":
        head = (
            f"set -g __prtrace_home {_fish_quote(str(home))}\n"
            f"set -g __prtrace_ignore {' '.join(_fish_quote(p) for p in ignore)}\n"
        )
        return head + body + _fish_wraps(grouped)
    head = (
        f"__prtrace_home={shlex.quote(str(home))}\n"
        f"__prtrace_ignore=({' '.join(shlex.quote(p) for p in ignore)})\n"
    )
    return head + body + _posix_wraps(grouped, shell)
