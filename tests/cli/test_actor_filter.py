"""Who did what, as the reading commands show it: `show`'s actor column, and `--actor
agent|human` on show, verify, replay, stats and export (events with no actor match neither)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import git, make_repo, run_prtrace
from tests.core.test_agent_trace import corrected_published_schema

HUMAN = {"kind": "human"}
AGENT = {"kind": "agent", "name": "claude-code", "session": "s-1", "model": "claude-sonnet-4-5"}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A short session recorded for real (the developer's edit, then one we give to an agent,
    a note with no actor, a commit with line authorship), written out as a trace file."""
    root = tmp_path_factory.mktemp("actors")
    home = root / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as env:
        from tests.conftest import isolate

        isolate(env, home)
        repo = make_repo(root / "repo")
        run_prtrace("start", "--no-daemon", cwd=repo, check=True)
        (repo / "calc.py").write_text(
            "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
        )
        run_prtrace("note", "sub by hand", cwd=repo, check=True)
        (repo / "agent.py").write_text("print('written by an agent')\nprint('twice')\n")
        run_prtrace("note", "agent wrote agent.py", cwd=repo, check=True)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "sub and agent")
        run_prtrace("note", "done", cwd=repo, check=True)
        trace = json.loads(
            run_prtrace("show", "main", "--json", "--local", cwd=repo, check=True).stdout
        )
    sha = git(repo, "rev-parse", "HEAD").strip()
    for event in trace["events"]:
        event["actor"] = dict(HUMAN)
        payload = event["payload"]
        if event["type"] == "edit" and payload.get("file") == "agent.py":
            event["actor"] = dict(AGENT)
        if event["type"] == "annotation" and payload.get("text") == "done":
            del event["actor"]  # recorded before actors existed
        if event["type"] == "commit":
            payload["authorship"] = {
                "actors": [HUMAN, AGENT],
                "files": {
                    "calc.py": {"agent": 0, "human": 3, "unknown": 0, "ranges": [[3, 6, 0]]},
                    "agent.py": {"agent": 2, "human": 0, "unknown": 0, "ranges": [[1, 2, 1]]},
                },
            }
            assert payload["sha"] == sha
    path = root / "trace.json"
    path.write_text(json.dumps(trace))
    return repo, path


def _trace(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _rows(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.strip()]


def test_show_has_an_actor_column_blank_where_no_actor_was_recorded(
    session: tuple[Path, Path],
) -> None:
    repo, path = session
    out = run_prtrace("show", str(path), cwd=repo, check=True).stdout
    rows = _rows(out)
    header = next(row for row in rows if "seq" in row and "type" in row)
    assert "actor" in header.split()
    agent_row = next(row for row in rows if "agent.py" in row and "create" in row)
    assert "claude-code" in agent_row
    calc_row = next(row for row in rows if "calc.py" in row)
    assert " human " in calc_row
    done_row = next(row for row in rows if "“done”" in row)
    assert "human" not in done_row and "claude-code" not in done_row


def test_show_colours_each_actor_on_a_terminal(session: tuple[Path, Path]) -> None:
    repo, path = session
    out = run_prtrace(
        "show", str(path), cwd=repo, env={"FORCE_COLOR": "1", "TERM": "xterm-256color"}, check=True
    ).stdout
    agent_row = next(row for row in out.splitlines() if "claude-code" in row)
    human_row = next(row for row in out.splitlines() if "calc.py" in row)
    assert "\x1b[" in agent_row and "\x1b[" in human_row
    # the agent's label and the developer's are styled differently
    agent_style = agent_row[: agent_row.index("claude-code")].rsplit("\x1b[", 1)[-1]
    human_style = human_row[: human_row.index("human")].rsplit("\x1b[", 1)[-1]
    assert agent_style != human_style


def test_show_actor_filters_the_timeline_and_the_json(session: tuple[Path, Path]) -> None:
    repo, path = session
    agent = json.loads(
        run_prtrace("show", str(path), "--json", "--actor", "agent", cwd=repo, check=True).stdout
    )
    assert [e["actor"] for e in agent["events"]] == [AGENT]  # as stored, session and model too
    human = json.loads(
        run_prtrace("show", str(path), "--json", "--actor", "human", cwd=repo, check=True).stdout
    )
    every = _trace(path)["events"]
    assert (
        len(human["events"]) == len(every) - 2
    )  # neither the agent's edit nor the actor-less note
    plain = run_prtrace("show", str(path), "--actor", "agent", cwd=repo, check=True).stdout
    assert "agent.py" in plain and "calc.py" not in plain


def test_an_unknown_actor_is_a_usage_error(session: tuple[Path, Path]) -> None:
    repo, path = session
    for command in ("show", "verify", "replay", "stats", "export"):
        extra = ["--out", str(repo.parent / "x.jsonl")] if command == "export" else []
        proc = run_prtrace(command, str(path), "--actor", "robot", *extra, cwd=repo)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (command, proc.stderr)


def test_verify_checks_everything_but_lists_only_the_actors_findings(
    session: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, path = session
    trace = _trace(path)
    calc = next(
        e for e in trace["events"] if e["type"] == "edit" and e["payload"]["file"] == "calc.py"
    )
    calc["payload"]["before_sha"] = "f" * 40  # a fault in the developer's edit
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(trace))
    everyone = json.loads(run_prtrace("verify", str(bad), "--json", cwd=repo).stdout)
    assert [f["check"] for f in everyone["faults"]] == ["file_chain"]
    human = run_prtrace("verify", str(bad), "--json", "--actor", "human", cwd=repo)
    assert human.returncode == 1 and calc["seq"] in json.loads(human.stdout)["faults"][0]["seqs"]
    agent = run_prtrace("verify", str(bad), "--json", "--actor", "agent", cwd=repo)
    assert agent.returncode == 0, agent.stdout + agent.stderr
    report = json.loads(agent.stdout)
    assert report["faults"] == [] and "file_chain" in report["checked"]
    assert any("left out (--actor agent)" in note for note in report["notes"])


def test_replay_rebuilds_the_whole_tree_and_names_the_actors_files(
    session: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, path = session
    out = tmp_path / "tree"
    proc = run_prtrace(
        "replay", str(path), "--to", str(out), "--actor", "agent", cwd=repo, check=True
    )
    assert (out / "calc.py").exists() and (out / "agent.py").exists()  # everything replayed
    assert "changed by agent edits: agent.py" in proc.stderr
    human = run_prtrace(
        "replay",
        str(path),
        "--to",
        str(tmp_path / "tree2"),
        "--actor",
        "human",
        cwd=repo,
        check=True,
    )
    assert "changed by human edits: calc.py" in human.stderr
    stepped = run_prtrace("replay", str(path), "--actor", "agent", cwd=repo, check=True).stdout
    assert "agent.py" in stepped and "calc.py" not in stepped and "start" not in stepped


def test_stats_counts_only_the_actors_events(session: tuple[Path, Path]) -> None:
    repo, path = session
    every = _trace(path)["events"]
    agent = json.loads(
        run_prtrace("stats", str(path), "--json", "--actor", "agent", cwd=repo, check=True).stdout
    )
    assert agent["traces"][0]["events"] == 1 and agent["traces"][0]["edits"] == 1
    human = json.loads(
        run_prtrace("stats", str(path), "--json", "--actor", "human", cwd=repo, check=True).stdout
    )
    assert (
        human["traces"][0]["events"] == len(every) - 2 and human["traces"][0]["agent_events"] == 0
    )


def test_export_rows_of_one_actor(session: tuple[Path, Path], tmp_path: Path) -> None:
    repo, path = session
    out = tmp_path / "agent.jsonl"
    run_prtrace("export", str(path), "--actor", "agent", "--out", str(out), cwd=repo, check=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["actor_kind"], r["actor_name"], r["file"]) for r in rows] == [
        ("agent", "claude-code", "agent.py")
    ]


def test_export_agent_trace_validates_and_filters_by_actor(
    session: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, path = session
    validator = jsonschema.Draft202012Validator(
        corrected_published_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    out = tmp_path / "records.jsonl"
    proc = run_prtrace(
        "export", str(path), "--format", "agent-trace", "--out", str(out), cwd=repo, check=True
    )
    assert "exported 1 Agent Trace record(s) of 1 trace(s)" in proc.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert list(validator.iter_errors(record)) == []
    assert record["vcs"]["revision"] == git(repo, "rev-parse", "HEAD").strip()
    by_path = {f["path"]: f["conversations"] for f in record["files"]}
    assert by_path["agent.py"][0]["contributor"] == {
        "type": "ai",
        "model_id": "anthropic/claude-sonnet-4-5",
    }
    assert by_path["calc.py"][0]["contributor"] == {"type": "human"}
    # read in the repository: each range carries the hash of the committed lines
    assert by_path["agent.py"][0]["ranges"][0]["content_hash"].startswith("sha256:")

    agent_only = run_prtrace(
        "export",
        str(path),
        "--format",
        "agent-trace",
        "--actor",
        "agent",
        "--out",
        "-",
        cwd=repo,
        check=True,
    )
    (record,) = [json.loads(line) for line in agent_only.stdout.splitlines()]
    assert [f["path"] for f in record["files"]] == ["agent.py"]
    assert list(validator.iter_errors(record)) == []


def test_export_agent_trace_without_authorship_says_so_in_one_line(
    session: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, path = session
    trace = _trace(path)
    for event in trace["events"]:
        event["payload"].pop("authorship", None)
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(trace))
    proc = run_prtrace(
        "export", str(bare), "--format", "agent-trace", "--out", str(tmp_path / "r.jsonl"), cwd=repo
    )
    assert (
        proc.returncode == 1
        and proc.stderr.startswith("error:")
        and "authorship" in proc.stderr.splitlines()[0]
    )
    assert "Traceback" not in proc.stderr


def test_labels_and_summaries_of_what_agents_and_imports_record() -> None:
    from prtrace_cli.render import actor_style, summary
    from prtrace_core.actors import actor_label

    assert actor_label(HUMAN) == "human" and actor_label(None) == ""
    assert actor_label({**AGENT, "subagent": "Explore"}) == "claude-code/Explore"
    assert actor_style(AGENT) != actor_style(HUMAN) and actor_style(None) == ""
    assert actor_style({"kind": "agent", "name": "aider"}) == actor_style(
        {"kind": "agent", "name": "aider"}
    )
    assert (
        summary({"type": "annotation", "payload": {"role": "prompt", "text": "add sub"}})[0]
        == "prompt: “add sub”"
    )
    files = {"a.py": {"agent": 7, "human": 3}, "b.py": {"agent": "x"}}
    text, _ = summary(
        {"type": "attribution", "payload": {"commit": "a" * 40, "source": "git-ai", "files": files}}
    )
    assert text == "aaaaaaa from git-ai: 2 file(s), 7 agent / 3 human line(s)"
    assert (
        summary({"type": "agent", "payload": {"event": "session_end", "reason": "exit"}})[0]
        == "session_end exit"
    )
