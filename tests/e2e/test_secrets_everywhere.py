"""Every secret of the corpus, through every way prtrace captures text — and none of it on disk.

One session on a real repository, the capture daemon running, as a developer would leave
secrets behind: files dirty before `prtrace start`, files written while it runs (plus the
`.env`-style files capture withholds), commands typed into a real bash with prtrace's hook,
`prtrace run` (its command line and its output), `prtrace note`, a `git commit -m`, a test run
whose failure prints credentials, and an edit that deletes secrets again.

Then every file under PRTRACE_HOME (the buffer and its WAL, the spool, the blob cache, logs) is
read as raw bytes — blob cache entries also decompressed, as they are stored zlib'd — and no
fragment of any secret may be there; and `prtrace show --json` must give back every look-alike
unchanged on every path it took.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BIN, git, run_prtrace
from tests.fixtures.secrets_corpus import LOOKALIKES, RECORDS, SECRETS, Record, context_of, probes
from tests.shells import Shell, available

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not available("bash"), reason="bash is not installed"),
]

RUN_OUTPUT_BUDGET = 6000  # bytes a `prtrace run` prints: under the head+tail sample, nothing elided
OMITTED = "bytes omitted"  # what the sample says when it elides the middle

# Where each kind of text goes in the repo; the files capture withholds get the secrets too.
FILE_FOR = {
    "command": "deploy.sh",
    "env": "deploy.sh",
    "code": "config/settings.py",
    "config": "config/deploy.yaml",
    "note": "docs/notes.txt",
    "output": "docs/notes.txt",
}
WITHHELD_FILES = {".env.production": "env", ".npmrc": "output", "keys/deploy.pem": "config"}
TEST_FILE = """\
import json
from pathlib import Path

TOOL_OUTPUT = json.loads((Path(__file__).parent / "tool_output.json").read_text())


def test_token_refresh():
    status = 401
    assert status == 200, "refresh was refused by the API; the request was: " + TOOL_OUTPUT["request"]


def test_password_hash_roundtrip():
    assert "hash" in "password_hash"


def test_tokenizer_splits_words():
    assert "a b".split() == ["a", "b"]


def test_deploy_shows_what_the_tools_printed():
    for text in TOOL_OUTPUT["printed"]:
        print(text)
    raise AssertionError("the deploy stopped after the tool output above")
"""
FAILED_TESTS = ["tests/test_auth.py::test_token_refresh", "tests/test_auth.py::test_deploy_shows_what_the_tools_printed"]


class Session:
    """Drives the capture paths and remembers which record went where (`location`, record)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.placed: list[tuple[str, Record]] = []
        self.notes = self.runs = self.commits = self.typed = 0

    def write(self, path: str, records: list[Record], *, header: str = "", placed: bool = True) -> None:
        target = self.repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(header + "\n".join(r.text.rstrip("\n") + "\n" for r in records))
        if placed:
            self.placed += [(f"edit {path}", r) for r in records]

    def note(self, text: str, records: list[Record]) -> None:
        run_prtrace("note", text, cwd=self.repo, check=True)
        self.notes += 1
        self.placed += [(f"note {self.notes}", r) for r in records]

    def run(self, records: list[Record]) -> None:
        # One argument per text, `;` between them: the recorded command line (argv joined by
        # spaces) reads as `A ; B ; C`, each text a command of its own, as in `sh -c 'A; B'`.
        texts = [arg for r in records for arg in (";", r.text)][1:]
        script = 'for t; do [ "$t" = ";" ] || printf "%s\\n\\n" "$t"; done'
        proc = run_prtrace("run", "--", "sh", "-c", script, "sh", *texts, cwd=self.repo)
        assert proc.returncode == 0, proc.stderr
        self.runs += 1
        self.placed += [(f"run {self.runs} {part}", r) for r in records for part in ("command", "output")]

    def commit(self, message: str, records: list[Record]) -> None:
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", message)
        self.commits += 1
        self.placed += [(f"commit {self.commits}", r) for r in records]


def _batches(records: tuple[Record, ...], budget: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    size = 0
    for record in records:
        cost = len(record.text.encode()) + 2
        if batch and size + cost > budget:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += cost
    if batch:
        yield batch


def _type_in_bash(session: Session, home: Path, tmp_path: Path, records: list[Record]) -> None:
    """Type each command line into a real interactive bash with prtrace's hook. Nothing typed
    runs: PATH is an empty folder by then, so every command is `not found` (no network, no
    change to the repo) while the hook records the line as typed."""
    nothing = tmp_path / "no-commands"
    nothing.mkdir()
    hook = f'eval "$({BIN / "prtrace"} shell-init bash)"'
    rc = "\n".join(["set +H", hook, f'PATH="{nothing}"'])  # +H: a `!` in a password is typed as is
    shell = Shell("bash", rc, cwd=session.repo, env={**os.environ, "PRTRACE_HOME": str(home)}, home=tmp_path / "bash-home")
    try:
        for record in records:
            shell.type(record.text)
            session.typed += 1
            session.placed.append((f"typed {session.typed}", record))
    finally:
        shell.close()


def _session(repo: Path, home: Path, tmp_path: Path) -> Session:
    session = Session(repo)
    everything = list(RECORDS)
    by_where: dict[str, list[Record]] = defaultdict(list)
    for record in RECORDS:
        by_where[record.where].append(record)

    # Before capture starts: a dirty file (the `start` event's diff), and a remote whose URL
    # holds a token (the trace's repo name is read from it).
    session.write("docs/before-start.md", everything, header="# scratch notes\n\n", placed=False)
    session.placed += [("start docs/before-start.md", r) for r in everything]
    remote = next(r for r in SECRETS if r.id == "github-remote-x-access-token")
    subprocess.run(shlex.split(remote.text), cwd=repo, check=True, capture_output=True)
    run_prtrace("start", cwd=repo, check=True)

    # Files written while the daemon watches, each text where it would live.
    for path in sorted(set(FILE_FOR.values())):
        header = "#!/bin/sh\nset -eu\n\n" if path.endswith(".sh") else ""
        session.write(path, [r for r in RECORDS if FILE_FOR[r.where] == path], header=header)
    session.write("docs/setup.md", everything, header="# Setting up\n\n")
    for path, where in WITHHELD_FILES.items():
        session.write(path, by_where[where], placed=False)
    printed = by_where["output"]
    request = next(r for r in SECRETS if r.id == "jwt-bearer-curl")
    (repo / "tests").mkdir(exist_ok=True)
    # The test's data file holds the texts JSON-escaped (quotes as \", newlines as \n): what
    # capture makes of it is searched for secrets like everything else, but a look-alike cannot
    # be read back verbatim from it, so it places none.
    (repo / "tests" / "tool_output.json").write_text(
        json.dumps({"printed": [r.text for r in printed], "request": request.text}, indent=2) + "\n"
    )
    (repo / "tests" / "test_auth.py").write_text(TEST_FILE)

    # Notes: each note-like text on its own, then everything pasted into one.
    for record in by_where["note"]:
        session.note(record.text, [record])
    session.note("\n\n".join(r.text for r in everything), everything)

    # `prtrace run`: the command line and its output both hold the texts.
    for batch in _batches(RECORDS, RUN_OUTPUT_BUDGET):
        session.run(batch)

    # Typed commands (`prtrace …` lines are prtrace's own: the hook leaves them out).
    typed = [r for r in by_where["command"] if not r.text.startswith("prtrace ")]
    _type_in_bash(session, home, tmp_path, typed)

    # A test run whose failure message and captured output print credentials.
    tests = run_prtrace(
        "run", "--", str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_auth.py",
        cwd=repo, env={"COLUMNS": "80"},
    )
    assert tests.returncode == 1, tests.stdout + tests.stderr
    session.placed += [("test 1 output", r) for r in [*printed, request]]

    # A commit whose message carries every text, then the secrets taken out of deploy.sh again.
    session.commit("chore: deploy tooling\n\n" + "\n\n".join(r.text for r in everything), everything)
    kept = [r for r in RECORDS if FILE_FOR[r.where] == "deploy.sh" and not r.is_secret]
    (repo / "deploy.sh").write_text("#!/bin/sh\nset -eu\n\n" + "\n".join(r.text.rstrip("\n") + "\n" for r in kept))
    session.note("took the credentials out of deploy.sh", [])
    run_prtrace("stop", cwd=repo, check=True)
    return session


def _strings_by_location(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The texts of the trace, under the same location names the session placed records at."""
    found: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        kind, payload = event["type"], event["payload"]
        if kind == "start":
            for entry in payload.get("dirty", []):
                if "file" in entry:
                    found[f"start {entry['file']}"].append(str(entry.get("diff") or ""))
        elif kind == "edit":
            found[f"edit {payload['file']}"].append(str(payload.get("diff") or ""))
        elif kind == "annotation":
            counts["note"] += 1
            found[f"note {counts['note']}"].append(payload["text"])
        elif kind == "command" and "shell" in payload:
            counts["typed"] += 1
            found[f"typed {counts['typed']}"].append(payload["command"])
        elif kind == "command":
            counts["run"] += 1
            found[f"run {counts['run']} command"].append(payload["command"])
            found[f"run {counts['run']} output"].append(str(payload.get("stdout_sample") or ""))
        elif kind == "commit":
            counts["commit"] += 1
            found[f"commit {counts['commit']}"].append(payload["message"])
        elif kind == "test":
            counts["test"] += 1
            found[f"test {counts['test']} output"].append(str(payload.get("stdout_sample") or ""))
            found[f"test {counts['test']} names"] += payload.get("failed_tests", [])
    return found


def _probes() -> dict[str, list[bytes]]:
    """Per secret record, the fragments whose presence means it leaked — leaving out any that
    is legitimately in some record's context, or shared with another record's secret (a DER
    prefix every RSA key has), so a hit names the record that leaked."""
    context = "\n".join(context_of(r) for r in RECORDS)
    owners: dict[str, set[str]] = defaultdict(set)
    for record in SECRETS:
        for secret in record.secrets:
            for piece in probes(secret):
                owners[piece].add(record.id)
    return {
        record.id: [
            piece.encode()
            for secret in record.secrets
            for piece in probes(secret)
            if owners[piece] == {record.id} and piece not in context
        ]
        for record in SECRETS
    }


def _views(path: Path) -> list[tuple[str, bytes]]:
    """A file's raw bytes, and a blob cache entry's content too (stored zlib-compressed)."""
    data = path.read_bytes()
    views = [("", data)]
    if data[:1] == b"\x78":
        with contextlib.suppress(zlib.error):
            views.append((" (decompressed)", zlib.decompress(data)))
    return views


def _walk(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_no_secret_reaches_prtrace_home_and_every_look_alike_survives(
    repo: Path, prtrace_home: Path, tmp_path: Path
) -> None:
    session = _session(repo, prtrace_home, tmp_path)
    shown = run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True)
    trace = json.loads(shown.stdout)
    events = trace["events"]
    strings = _strings_by_location(events)

    # The session itself went as planned: every path recorded what it was given, whole.
    harness = []
    recorded = {kind: sum(1 for key in strings if key.startswith(f"{kind} ") and key.endswith(tail))
                for kind, tail in (("note", ""), ("typed", ""), ("run", " command"), ("commit", ""))}
    expected = {"note": session.notes, "typed": session.typed, "run": session.runs, "commit": session.commits}
    if recorded != expected:
        harness.append(f"events recorded per path {recorded}, expected {expected}")
    for key, texts in strings.items():
        if key.startswith(("run ", "test ")) and key.endswith(" output") and any(OMITTED in t for t in texts):
            harness.append(f"{key}: the output sample was cut; keep each run under {RUN_OUTPUT_BUDGET} bytes")
    kinds = [(e["type"], e["payload"].get("file")) for e in events]
    after_commit = kinds[kinds.index(("commit", None)) :] if ("commit", None) in kinds else []
    if ("edit", "deploy.sh") not in after_commit:
        harness.append("no edit of deploy.sh after the commit: the diff that deletes secrets is missing")
    if strings.get("test 1 names") != FAILED_TESTS:
        harness.append(f"failed tests recorded as {strings.get('test 1 names')}, expected {FAILED_TESTS}")
    # ... and the search below would see each secret: it finds every one in the repo's own copy.
    pieces = _probes()
    setup = (repo / "docs" / "setup.md").read_bytes()
    unseen = sorted(rid for rid, fragments in pieces.items() if not any(f in setup for f in fragments))
    if unseen:
        harness.append(f"no usable fragment to look for of: {', '.join(unseen)}")
    assert not harness, "\n".join(harness)

    # No fragment of any secret anywhere under PRTRACE_HOME, nor in what `show` gives back.
    leaks: dict[str, set[str]] = defaultdict(set)
    files = sorted(p for p in prtrace_home.rglob("*") if p.is_file() and not p.is_symlink())
    for path in files:
        for label, data in _views(path):
            for record_id, fragments in pieces.items():
                if any(fragment in data for fragment in fragments):
                    leaks[record_id].add(f"{path.relative_to(prtrace_home)}{label}")
    for event in events:
        for where, text in _walk(event["payload"], f"seq {event['seq']} {event['type']}"):
            encoded = text.encode()
            for record_id, fragments in pieces.items():
                if any(fragment in encoded for fragment in fragments):
                    leaks[record_id].add(where)
    for where, text in _walk({k: v for k, v in trace.items() if k != "events"}, "trace"):
        for record_id, fragments in pieces.items():
            if any(fragment in text.encode() for fragment in fragments):
                leaks[record_id].add(where)

    # Every look-alike, line for line, on every path it took.
    damaged: dict[str, list[str]] = defaultdict(list)
    for location, record in session.placed:
        if record.is_secret:
            continue
        found = strings.get(location, [])
        lost = [line for line in _lines(record.text) if not any(line in text for text in found)]
        if lost:
            damaged[record.id].append(f"{location} (lost {lost[0]!r})")

    report = []
    if leaks:
        report.append(f"{len(leaks)} of {len(SECRETS)} secrets leaked (record: where):")
        report += [f"  {rid}: {', '.join(sorted(leaks[rid]))}" for rid in sorted(leaks)]
    if damaged:
        report.append(f"{len(damaged)} of {len(LOOKALIKES)} look-alikes damaged (record: where):")
        report += [f"  {rid}: {'; '.join(damaged[rid])}" for rid in sorted(damaged)]
    assert not report, "\n".join(report)
