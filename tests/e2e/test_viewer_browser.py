"""The viewer in a real browser: headless Chromium against a real `prtrace-server` (embedded
storage, tokens required) holding traces recorded for real by `prtrace` in a git repository,
linked to a pull request, with CI runs from signed GitHub webhooks.

Each test logs in through the form, as a person would, and checks what the page shows and does
(the list and its filter, a PR, a trace's timeline, table, stats and plots, an event's diff,
the canvas by mouse and keyboard, the replay scrubber, recorded HTML shown as text under the
Content-Security-Policy, and who may see what); each page is saved as a screenshot, into
PRTRACE_SCREENSHOTS when set (scripts/screenshots) or the test's own folder.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from tests.conftest import BIN, git, isolate, run_prtrace
from tests.fixtures import github_payloads as gh
from tests.support.browser import (
    chromium_or_skip,
    headless_chromium,
    screenshot_folder,
    set_session,
)
from tests.support.server import SERVER, ServerProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

T = TypeVar("T")

REPO = "acme/webapp"
BRANCH = "fix-empty-input"
PR_NUMBER = 123
PR_TITLE = "Handle empty input"
HOSTILE_MESSAGE = "<script>alert(document.title)</script><b>bold</b>"
OTHER_REPO = "acme/api"
# The recorded test runs load no installed plugins and write no bytecode (ops.py is rewritten
# within the second at the same size; a .pyc checked by mtime and size would be stale).
BARE_PYTEST = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
PASS_RGB = (0x1A, 0x7F, 0x37)
FAIL_RGB = (0xCF, 0x22, 0x2E)
WAIT_S = 20.0


@dataclass(frozen=True)
class World:
    """The server and what was recorded into it."""

    url: str
    reader: str  # a reader's token: every trace
    alice: str  # a writer's token: alice's traces
    bob: str  # another writer's token: bob's traces
    trace: str  # alice's trace, linked to the PR, with CI runs
    other: str  # bob's trace, in another repository
    events: list[dict[str, Any]]  # alice's trace as the API gives it
    created_seq: int  # ops.py created (with the bug)
    fixed_seq: int  # ops.py fixed
    hostile_seq: int  # the commit whose message holds HTML and script


# ---------------------------------------------------------------- recording, for real


def _token(data: Path, user: str, role: str) -> str:
    proc = subprocess.run(
        [str(SERVER), "token", "create", "--user", user, "--role", role],
        env={**os.environ, "PRTRACE_DATA_DIR": str(data), "PRTRACE_AUTH": "required"},
        capture_output=True, text=True, check=True,
    )
    return proc.stdout.strip().splitlines()[-1]


def _new_repo(root: Path, name: str, branch: str) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", f"https://github.com/{name}.git")
    (root / "README.md").write_text(f"# {name}\n")
    (root / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial")
    git(root, "checkout", "-q", "-b", branch)
    return root


def _pytest(repo: Path) -> subprocess.CompletedProcess[str]:
    """`prtrace run -- python -m pytest`, typed as a developer types it (python found on PATH)."""
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return run_prtrace("run", "--", "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       cwd=repo, env={**BARE_PYTEST, "PATH": path})


def _alice_session(repo: Path, url: str, token: str) -> None:
    """Edits, a failing then a passing test run, notes, two commits (one message holding HTML
    and script), the PR link, then a push under alice's token."""
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    run_prtrace("note", "adding subtraction", cwd=repo, check=True)
    (repo / "ops.py").write_text("def sub(a, b):\n    return a + b\n")
    (repo / "test_ops.py").write_text("from ops import sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n")
    failing = _pytest(repo)
    assert failing.returncode == 1 and "1 failed" in failing.stdout, failing.stdout
    (repo / "ops.py").write_text("def sub(a, b):\n    return a - b\n")
    passing = _pytest(repo)
    assert passing.returncode == 0 and "1 passed" in passing.stdout, passing.stdout
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "feat: sub")
    (repo / "ops.py").write_text("def sub(a, b):\n    return a - b\n\n\ndef neg(a):\n    return -a\n")
    run_prtrace("note", "neg() too", cwd=repo, check=True)
    git(repo, "commit", "-q", "-a", "-m", HOSTILE_MESSAGE)
    run_prtrace("pr", f"{REPO}#{PR_NUMBER}", "--title", PR_TITLE, cwd=repo, check=True)
    run_prtrace("push", "--server", url, cwd=repo, check=True, env={"PRTRACE_TOKEN": token})


def _bob_session(repo: Path, url: str, token: str) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    (repo / "api.py").write_text("ROUTES = ['/health']\n")
    run_prtrace("note", "a health route", cwd=repo, check=True)
    run_prtrace("push", "--server", url, cwd=repo, check=True, env={"PRTRACE_TOKEN": token})


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _deliver(url: str, event: str, payload: dict[str, Any]) -> None:
    body, headers = gh.delivery(event, payload)
    answer = httpx.post(f"{url}/v1/webhooks/github", content=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text


def _github_reports(url: str) -> None:
    """GitHub's side: the PR opened, one CI run failing, then one passing (signed deliveries)."""
    now = datetime.now(UTC)
    _deliver(url, "pull_request", gh.pull_request(
        number=PR_NUMBER, repo=REPO, head_ref=BRANCH, title=PR_TITLE,
        created_at=_stamp(now - timedelta(minutes=1)), updated_at=_stamp(now - timedelta(minutes=1))))
    _deliver(url, "check_run", gh.check_run(
        run_id=501, name="pytest", repo=REPO, head_branch=BRANCH, conclusion="failure",
        started_at=_stamp(now), completed_at=_stamp(now + timedelta(seconds=4)), pull_requests=[PR_NUMBER]))
    _deliver(url, "check_run", gh.check_run(
        run_id=502, name="lint", repo=REPO, head_branch=BRANCH, conclusion="success",
        started_at=_stamp(now), completed_at=_stamp(now + timedelta(seconds=9)), pull_requests=[PR_NUMBER]))


def _trace_id(url: str, token: str, repo: str) -> str:
    answer = httpx.get(f"{url}/v1/traces", params={"repo": repo}, headers=_bearer(token), timeout=30)
    answer.raise_for_status()
    [summary] = answer.json()["traces"]
    return str(summary["trace_id"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _seq_of(events: list[dict[str, Any]], match: Callable[[dict[str, Any]], bool]) -> int:
    found = [e["seq"] for e in events if match(e)]
    assert found, "the recorded trace lacks an event the tests need"
    return int(found[0])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One server for the module, read by every test and changed by none."""
    root = tmp_path_factory.mktemp("viewer")
    data = root / "server-data"
    data.mkdir()
    env = {"PRTRACE_AUTH": "required", "PRTRACE_DATA_DIR": str(data),
           "PRTRACE_GITHUB_WEBHOOK_SECRET": gh.SECRET}
    with ServerProcess(env, root / "server.log") as server:
        reader = _token(data, "carol", "reader")
        alice = _token(data, "alice", "writer")
        bob = _token(data, "bob", "writer")
        for who, name, branch, session, token in (
            ("alice", REPO, BRANCH, _alice_session, alice),
            ("bob", OTHER_REPO, "health", _bob_session, bob),
        ):
            home = root / f"home-{who}"
            home.mkdir()
            with pytest.MonkeyPatch.context() as patch:
                isolate(patch, home)
                session(_new_repo(root / who, name, branch), server.url, token)
        _github_reports(server.url)
        trace = _trace_id(server.url, reader, REPO)
        answer = httpx.get(f"{server.url}/v1/traces/{trace}", headers=_bearer(reader), timeout=30)
        answer.raise_for_status()
        events = answer.json()["events"]
        assert any(e["type"] == "ci" for e in events), "the CI runs did not reach the trace"
        yield World(
            url=server.url, reader=reader, alice=alice, bob=bob, trace=trace,
            other=_trace_id(server.url, reader, OTHER_REPO), events=events,
            created_seq=_seq_of(events, lambda e: e["type"] == "edit" and e["payload"].get("file") == "ops.py"),
            fixed_seq=[e["seq"] for e in events
                       if e["type"] == "edit" and e["payload"].get("file") == "ops.py"][1],
            hostile_seq=_seq_of(events, lambda e: e["type"] == "commit"
                                and e["payload"].get("message", "").startswith("<script>")),
        )


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the whole run; each test starts logged out."""
    chromium = chromium_or_skip()
    with headless_chromium(chromium) as driver:
        yield driver


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_folder(tmp_path_factory.mktemp("screenshots"))


def _state(driver: WebDriver) -> str:
    """What the browser shows, for a failure message: the URL, the page's text, its console."""
    try:
        text = driver.find_element(By.TAG_NAME, "body").text[:1500]
    except WebDriverException:
        text = "(no body)"
    return f"\nURL: {driver.current_url}\nbody: {text}\nconsole: {driver.get_log('browser')}"


def _until(driver: WebDriver, condition: Callable[[], T], what: str) -> T:
    def attempt() -> T | None:
        try:
            return condition()
        except WebDriverException:
            return None  # not there yet (no such element, a stale one)

    found = wait_for(attempt, lambda: what + _state(driver), WAIT_S, 0.1)
    assert found is not None
    return found


def _page(driver: WebDriver) -> str:
    return str(driver.execute_script("return document.body ? document.body.dataset.page || '' : ''"))


def _on_page(driver: WebDriver, page: str) -> None:
    _until(driver, lambda: _page(driver) == page, f"the {page} page")


def _fresh(driver: WebDriver, world: World) -> None:
    """No cookie, the usual window: every test starts as a stranger would."""
    driver.set_window_size(1280, 900)
    driver.get(f"{world.url}/ui/login")
    driver.delete_all_cookies()
    driver.get_log("browser")  # drop what earlier pages printed


def _log_in_through_form(driver: WebDriver, world: World, token: str, path: str = "/ui") -> None:
    """Open `path` logged out, which leads to the login form, and log in there."""
    _fresh(driver, world)
    driver.get(world.url + path)
    _on_page(driver, "login")
    field = driver.find_element(By.CSS_SELECTOR, "input[name=token]")
    assert field.get_attribute("type") == "password"
    field.send_keys(token)
    field.submit()
    _until(driver, lambda: _page(driver) not in ("", "login"), f"the page after logging in to {path}")
    assert urlsplit(driver.current_url).path == urlsplit(world.url + path).path, _state(driver)


def _log_in(driver: WebDriver, world: World, token: str, path: str) -> None:
    """Open `path` holding the session cookie the login form gives (the form itself is the
    list test's subject)."""
    _fresh(driver, world)
    set_session(driver, world.url, token)
    driver.get(world.url + path)


def _trace_rows(driver: WebDriver) -> list[str]:
    return [row.get_attribute("data-trace-id") or ""
            for row in driver.find_elements(By.CSS_SELECTOR, "#traces tr.trace-row")]


def _open_trace(driver: WebDriver, world: World, token: str | None = None) -> None:
    _log_in(driver, world, token or world.reader, f"/ui/traces/{world.trace}")
    _on_page(driver, "trace")
    _until(driver, lambda: driver.find_element(By.CSS_SELECTOR, "body[data-ready='1']"), "the overview drawn")


def _finds(driver: WebDriver, selector: str) -> Callable[[], list[WebElement]]:
    return lambda: driver.find_elements(By.CSS_SELECTOR, selector)


def _row(driver: WebDriver, seq: int) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f"#events tr.event-row[data-seq='{seq}']")


def _detail_text(driver: WebDriver) -> str:
    return str(driver.execute_script("return document.getElementById('detail').textContent"))


def _console_problems(driver: WebDriver) -> list[str]:
    """The console's CSP violations and uncaught script errors (not a missing favicon)."""
    problems = []
    for entry in driver.get_log("browser"):
        message = str(entry.get("message", ""))
        csp = "Content Security Policy" in message or "Content-Security-Policy" in message
        script_error = entry.get("level") == "SEVERE" and entry.get("source") == "javascript"
        if csp or script_error:
            problems.append(message)
    return problems


def _status(driver: WebDriver) -> int:
    """The HTTP status of the page shown (the navigation's own response)."""
    return int(driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0"))


# ---------------------------------------------------------------- the pages


def test_the_list_logs_in_filters_and_links_to_a_trace(browser: WebDriver, world: World, shots: Path) -> None:
    _fresh(browser, world)
    browser.get(world.url + "/ui")
    _on_page(browser, "login")
    assert urlsplit(browser.current_url).path == "/ui/login"
    browser.save_screenshot(str(shots / "login.png"))
    _log_in_through_form(browser, world, world.reader)
    _on_page(browser, "list")
    assert set(_trace_rows(browser)) == {world.trace, world.other}
    browser.save_screenshot(str(shots / "list.png"))

    form = browser.find_element(By.ID, "filters")
    for name in ("repo", "branch", "pr", "developer", "since", "until"):
        form.find_element(By.CSS_SELECTOR, f"input[name={name}]")
    assert form.find_element(By.CSS_SELECTOR, "input[name=since]").get_attribute("type") == "date"
    repo = form.find_element(By.CSS_SELECTOR, "input[name=repo]")
    repo.clear()
    repo.send_keys(OTHER_REPO)
    repo.submit()
    _until(browser, lambda: "repo=" in browser.current_url and _trace_rows(browser) == [world.other],
           "the list narrowed to the other repository")

    browser.find_element(By.CSS_SELECTOR, f"tr.trace-row[data-trace-id='{world.other}'] a.trace-link").click()
    _on_page(browser, "trace")
    assert urlsplit(browser.current_url).path == f"/ui/traces/{world.other}"
    assert _console_problems(browser) == []


def test_the_pr_page_shows_its_traces_and_ci_runs(browser: WebDriver, world: World, shots: Path) -> None:
    _log_in(browser, world, world.reader, f"/ui/prs/{REPO}/{PR_NUMBER}")
    _on_page(browser, "pr")
    assert PR_TITLE in browser.find_element(By.ID, "pr-title").text
    traces = browser.find_elements(By.CSS_SELECTOR, "#pr-traces tr.trace-row")
    assert [row.get_attribute("data-trace-id") for row in traces] == [world.trace]
    runs = browser.find_elements(By.CSS_SELECTOR, "#ci-runs tr.ci-row")
    classes = sorted((row.get_attribute("class") or "").split()[-1] for row in runs)
    assert classes == ["status-fail", "status-pass"], [row.text for row in runs]
    text = browser.find_element(By.ID, "ci-runs").text
    assert "pytest" in text and "lint" in text
    browser.save_screenshot(str(shots / "pr.png"))
    assert _console_problems(browser) == []


def test_the_trace_page_draws_its_timeline_table_stats_and_plots(
    browser: WebDriver, world: World, shots: Path
) -> None:
    _open_trace(browser, world)
    assert browser.find_element(By.ID, "trace-title").text
    canvas = browser.find_element(By.CSS_SELECTOR, "#timeline canvas#lanes")
    assert canvas.get_attribute("tabindex") == "0" and canvas.get_attribute("aria-label")
    values = {radio.get_attribute("value")
              for radio in browser.find_elements(By.CSS_SELECTOR, "#timeline input[type=radio][name=lanes-by]")}
    assert values == {"type", "actor"}
    pixels = _mark_pixels(browser)
    assert pixels["pass"] and pixels["fail"], "no green (pass) and red (fail) test marks on the canvas"

    rows = browser.find_elements(By.CSS_SELECTOR, "#events tr.event-row")
    seqs = [int(row.get_attribute("data-seq") or 0) for row in rows if row.get_attribute("data-seq")]
    assert seqs == sorted(e["seq"] for e in world.events if e.get("seq") is not None)
    types = {row.get_attribute("data-type") for row in rows}
    assert {"edit", "test", "commit"} <= types, types
    assert all(row.find_element(By.CSS_SELECTOR, "a.event-link").get_attribute("href") for row in rows)

    stats = browser.find_element(By.CSS_SELECTOR, "#stats dl")
    assert stats.find_elements(By.TAG_NAME, "dt") and stats.find_elements(By.TAG_NAME, "dd")
    for plot in ("#plot-events canvas", "#plot-tests canvas"):
        _until(browser, _finds(browser, plot), f"{plot} drawn")
    assert "ops.py" in browser.find_element(By.ID, "churn").text
    browser.save_screenshot(str(shots / "trace.png"))
    assert _console_problems(browser) == []

    try:
        browser.set_window_size(420, 900)
        _until(browser, lambda: browser.execute_script("return window.innerWidth") <= 420, "the narrow window")
        # The plots and the canvas follow the width after a short debounce; then nothing but
        # the tables' own boxes may scroll sideways.
        _until(browser, lambda: browser.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"),
            "the narrow page to fit its width (one column; wide tables scroll in their own box)")
        browser.save_screenshot(str(shots / "trace-narrow.png"))
    finally:
        browser.set_window_size(1280, 900)


def _mark_pixels(driver: WebDriver) -> dict[str, list[list[int]]]:
    """Where the canvas holds the pass and fail colours: [x, y] in CSS pixels, a few of each."""
    found: dict[str, list[list[int]]] = driver.execute_script(
        """
        const [pass, fail] = arguments;
        const canvas = document.getElementById('lanes');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const scale = canvas.getBoundingClientRect().width / canvas.width;
        const near = (i, c) => Math.abs(data[i] - c[0]) < 6 && Math.abs(data[i + 1] - c[1]) < 6
            && Math.abs(data[i + 2] - c[2]) < 6 && data[i + 3] > 250;
        const out = {pass: [], fail: []};
        for (let i = 0; i < data.length; i += 4) {
            const x = (i / 4) % canvas.width, y = Math.floor(i / 4 / canvas.width);
            for (const [name, colour] of [['pass', pass], ['fail', fail]]) {
                if (out[name].length < 50 && near(i, colour)) out[name].push([x * scale, y * scale]);
            }
        }
        return out;
        """,
        list(PASS_RGB), list(FAIL_RGB),
    )
    return found


def test_clicking_an_event_row_shows_its_diff(browser: WebDriver, world: World, shots: Path) -> None:
    _open_trace(browser, world)
    browser.execute_script("window.stillHere = true")  # gone if the link navigates
    link = _row(browser, world.created_seq).find_element(By.CSS_SELECTOR, "a.event-link")
    link.click()
    added = _until(
        browser,
        lambda: [line.text for line in browser.find_elements(By.CSS_SELECTOR, "#detail .diff.hl .diff-line.add")],
        "the edit's diff in the detail panel",
    )
    assert any("return a + b" in line for line in added), added
    assert browser.execute_script("return window.stillHere === true"), "the link navigated instead of opening the panel"
    browser.execute_script("document.getElementById('detail').scrollIntoView()")
    browser.save_screenshot(str(shots / "detail.png"))
    assert _console_problems(browser) == []

    # Without script the same link is a page of its own holding the detail.
    event_id = next(e["event_id"] for e in world.events if e.get("seq") == world.created_seq)
    browser.get(f"{world.url}/ui/traces/{world.trace}?event={event_id}#detail")
    _on_page(browser, "trace")
    assert any("return a + b" in line.text
               for line in browser.find_elements(By.CSS_SELECTOR, "#detail .diff-line.add"))


def test_the_canvas_opens_a_detail_by_mouse_and_by_keyboard(browser: WebDriver, world: World) -> None:
    _open_trace(browser, world)
    canvas = browser.find_element(By.ID, "lanes")
    browser.execute_script("document.getElementById('detail').replaceChildren()")  # the hint text
    x, y = _mark_pixels(browser)["pass"][0]
    size = canvas.size
    ActionChains(browser).move_to_element_with_offset(
        canvas, round(x - size["width"] / 2), round(y - size["height"] / 2)).click().perform()
    _until(browser, lambda: _detail_text(browser).strip(), "a detail opened by clicking a mark")
    assert "pytest" in _detail_text(browser), "the green mark's nearest event is the passing test run"

    browser.execute_script("document.getElementById('detail').replaceChildren()")
    browser.execute_script("document.getElementById('lanes').focus()")
    assert browser.switch_to.active_element == canvas
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).send_keys(Keys.ENTER).perform()
    _until(browser, lambda: _detail_text(browser).strip(), "a detail opened with ArrowRight and Enter")
    # from the passing test run, one event on: the commit that followed it
    passed = next(i for i, e in enumerate(world.events) if e["type"] == "test" and e["payload"]["failed"] == 0)
    assert world.events[passed + 1]["payload"].get("message") == "feat: sub"
    assert "feat: sub" in _detail_text(browser)
    assert _console_problems(browser) == []


def _scrub_to(driver: WebDriver, seq: int) -> None:
    driver.execute_script(
        "const s = document.getElementById('scrub'); s.value = String(arguments[0]);"
        "s.dispatchEvent(new Event('input', {bubbles: true}));"
        "s.dispatchEvent(new Event('change', {bubbles: true}));",
        seq,
    )


def _file_view(driver: WebDriver, seq: int) -> str:
    pre = driver.find_element(By.CSS_SELECTOR, "#file-view pre.file-content.hl")
    if pre.get_attribute("data-seq") != str(seq) or pre.get_attribute("data-path") != "ops.py":
        return ""
    lines = pre.find_elements(By.CSS_SELECTOR, "span.line")
    return "\n".join(line.text for line in lines) or " "


def test_the_scrubber_shows_a_file_as_it_was_at_each_seq(browser: WebDriver, world: World, shots: Path) -> None:
    _open_trace(browser, world)
    scrub = browser.find_element(By.ID, "scrub")
    seqs = [e["seq"] for e in world.events if e.get("seq") is not None]
    assert (int(scrub.get_attribute("min") or 0), int(scrub.get_attribute("max") or 0)) == (min(seqs), max(seqs))

    _scrub_to(browser, world.created_seq)
    _until(browser, lambda: browser.find_element(By.ID, "scrub-seq").get_attribute("value") == str(world.created_seq),
           "#scrub-seq following the range")
    # ops.py was created by exactly this seq: marked so in the list at this seq (and only there)
    button = _until(browser, lambda: browser.find_element(
        By.CSS_SELECTOR, "#files button.file.changed[data-path='ops.py']"), "ops.py marked as set by this seq")
    button.click()
    before = _until(browser, lambda: _file_view(browser, world.created_seq), "ops.py as it was when created")
    assert "return a + b" in before and "return a - b" not in before, before

    _scrub_to(browser, world.fixed_seq)
    after = _until(browser, lambda: _file_view(browser, world.fixed_seq), "ops.py as it was once fixed")
    assert "return a - b" in after and "return a + b" not in after, after

    # Typing a seq does the same as dragging the range.
    number = browser.find_element(By.ID, "scrub-seq")
    number.clear()
    number.send_keys(str(world.created_seq), Keys.ENTER)
    again = _until(browser, lambda: _file_view(browser, world.created_seq), "ops.py back at the created seq")
    assert "return a + b" in again
    browser.execute_script("document.getElementById('replay').scrollIntoView()")
    browser.save_screenshot(str(shots / "replay.png"))
    assert _console_problems(browser) == []


def _nothing_ran_or_rendered(driver: WebDriver, where: str) -> None:
    """No element made from the recorded markup, and no alert opened by its script."""
    bold = driver.execute_script(
        "return [...document.querySelectorAll('b')].filter(b => b.textContent === 'bold').length")
    assert bold == 0, f"{where}: a <b> element was made from recorded text"
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 (reading it is the check)


def test_recorded_html_and_script_are_shown_as_text(browser: WebDriver, world: World) -> None:
    _open_trace(browser, world)
    title = browser.title
    message = next(e["payload"]["message"] for e in world.events if e.get("seq") == world.hostile_seq)
    assert message.strip() == HOSTILE_MESSAGE
    _row(browser, world.hostile_seq).find_element(By.CSS_SELECTOR, "a.event-link").click()
    shown = _until(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#detail pre.commit-message"),
                   "the commit's message in the detail panel")
    assert shown.get_attribute("textContent") == message
    assert browser.find_elements(By.CSS_SELECTOR, "#detail ul.commit-files li")
    _nothing_ran_or_rendered(browser, "the detail fetched by the page")
    assert browser.title == title

    event_id = next(e["event_id"] for e in world.events if e.get("seq") == world.hostile_seq)
    browser.get(f"{world.url}/ui/traces/{world.trace}?event={event_id}#detail")  # rendered by the server
    _on_page(browser, "trace")
    server_side = browser.find_element(By.CSS_SELECTOR, "#detail pre.commit-message")
    assert server_side.get_attribute("textContent") == message
    _nothing_ran_or_rendered(browser, "the detail rendered by the server")
    assert browser.title == title
    for page in (f"/ui/prs/{REPO}/{PR_NUMBER}", "/ui"):  # the message's summary is in their tables
        browser.get(world.url + page)
        _nothing_ran_or_rendered(browser, page)
    assert _console_problems(browser) == []


def test_a_writer_sees_only_their_own_traces(browser: WebDriver, world: World) -> None:
    _fresh(browser, world)
    browser.get(f"{world.url}/ui/traces/{world.trace}")  # no cookie: the login page
    _on_page(browser, "login")
    address = urlsplit(browser.current_url)
    assert address.path == "/ui/login" and f"/ui/traces/{world.trace}" in address.query.replace("%2F", "/")

    _log_in(browser, world, world.bob, "/ui")
    _on_page(browser, "list")
    assert _trace_rows(browser) == [world.other]
    browser.get(f"{world.url}/ui/traces/{world.trace}")
    _on_page(browser, "error")
    assert _status(browser) == 403
    browser.get(f"{world.url}/ui/traces/{world.other}")
    _on_page(browser, "trace")
    assert _status(browser) == 200

    # The same seen through the cookie outside the browser: answers, not just pages.
    cookie = browser.get_cookie("prtrace_session")
    assert cookie is not None and cookie["httpOnly"] and cookie.get("sameSite") == "Strict"
    jar = {"Cookie": f"prtrace_session={cookie['value']}"}
    assert httpx.get(f"{world.url}/ui/traces/{world.trace}/overview.json", headers=jar).status_code == 403
    assert httpx.get(f"{world.url}/ui/traces/{world.other}/overview.json", headers=jar).status_code == 200
    # and the other writer, by a bearer token: the mirror image
    assert httpx.get(f"{world.url}/ui/traces/{world.other}", headers=_bearer(world.alice)).status_code == 403
    assert httpx.get(f"{world.url}/ui/traces/{world.trace}", headers=_bearer(world.alice)).status_code == 200


# ---------------------------------------------------------------- focus, clamping, stale answers


def _reduced_motion(driver: WebDriver, on: bool) -> None:
    """Ask for reduced motion, so the page scrolls at once (no smooth scroll to wait out)."""
    value = "reduce" if on else ""
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-reduced-motion", "value": value}]})


def test_enter_on_an_event_link_takes_focus_and_view_to_its_detail(browser: WebDriver, world: World) -> None:
    try:
        browser.set_window_size(420, 900)  # one column: the detail sits under the whole table
        _reduced_motion(browser, True)
        _open_trace(browser, world)
        browser.execute_script("window.scrollTo(0, 0)")
        link = _row(browser, world.created_seq).find_element(By.CSS_SELECTOR, "a.event-link")
        browser.execute_script("arguments[0].focus()", link)
        link.send_keys(Keys.ENTER)
        heading = _until(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#detail .event-detail #detail-h"),
                         "the edit's detail in the panel")
        _until(browser, lambda: browser.switch_to.active_element == heading, "focus on the detail's heading")
        assert heading.get_attribute("tabindex") == "-1"
        assert f"Seq {world.created_seq}" in heading.text
        top = browser.execute_script("return document.getElementById('detail').getBoundingClientRect().top")
        assert 0 <= top < browser.execute_script("return window.innerHeight"), "the detail was not scrolled into view"
        # one short line for screen readers, and no live region around the whole diff
        line = browser.find_element(By.ID, "status-line")
        status = _until(browser, lambda: _status_line(line, f"Seq {world.created_seq}, edit: "),
                        "the status line naming the opened event")
        assert "ops.py" in status, status
        assert browser.find_element(By.ID, "status-line").get_attribute("role") == "status"
        for region in ("detail", "files", "file-view"):
            assert browser.find_element(By.ID, region).get_attribute("aria-live") is None, region
        assert _console_problems(browser) == []
    finally:
        _reduced_motion(browser, False)
        browser.set_window_size(1280, 900)


def _status_line(line: WebElement, start: str) -> str:
    text = line.get_attribute("textContent") or ""
    return text if text.startswith(start) else ""


def _files_seq(driver: WebDriver) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, "#files .files-at").get_attribute("data-seq"))


def test_the_scrubber_opens_at_the_last_seq_and_clamps_what_is_typed(browser: WebDriver, world: World) -> None:
    _open_trace(browser, world)
    seqs = [e["seq"] for e in world.events if e.get("seq") is not None]
    first, last = str(min(seqs)), str(max(seqs))
    number = browser.find_element(By.ID, "scrub-seq")
    assert browser.find_element(By.ID, "scrub").get_attribute("value") == last
    assert number.get_attribute("value") == last
    _until(browser, lambda: _files_seq(browser) == last, "the files at the last seq")

    _scrub_to(browser, world.created_seq)
    _until(browser, lambda: _files_seq(browser) == str(world.created_seq), "the files at the created seq")
    number.clear()
    number.send_keys("999999", Keys.ENTER)
    _until(browser, lambda: number.get_attribute("value") == last, "a seq past the end written back as the last")
    _until(browser, lambda: _files_seq(browser) == last, "the files at the last seq, not at 999999")
    assert browser.find_element(By.ID, "scrub").get_attribute("value") == last

    number.clear()
    number.send_keys("0", Keys.TAB)  # leaving the box ends the typing: the change event
    _until(browser, lambda: number.get_attribute("value") == first, "a seq before the start written back as the first")
    _until(browser, lambda: _files_seq(browser) == first, "the files at the first seq")
    assert _console_problems(browser) == []


_HOLD_FETCHES = """
const pattern = new RegExp(arguments[0]);
const real = window.fetch.bind(window);
window.heldFetches = [];
window.answeredFetches = 0;
window.fetch = (url, options) => {
  if (!pattern.test(String(url))) return real(url, options);
  return new Promise(release => window.heldFetches.push(release)).then(() => real(url, options))
    .finally(() => { window.answeredFetches += 1; });
};
"""


def _row_types(driver: WebDriver) -> list[str]:
    return [str(row.get_attribute("data-type"))
            for row in driver.find_elements(By.CSS_SELECTOR, "#events tr.event-row")]


def test_late_rows_of_another_type_never_reach_the_table(browser: WebDriver, world: World) -> None:
    _open_trace(browser, world)
    commits = sorted(e["seq"] for e in world.events if e["type"] == "commit" and e.get("seq") is not None)
    # Answers for the first page of every type, and for the edits, come only when released.
    browser.execute_script(_HOLD_FETCHES, r"/rows\?(after_seq=0$|type=edit$)")
    # The trace is one page long, so the page has no "More events" button: add the one the
    # server renders for a longer trace, pointing at a real page of rows.
    browser.execute_script(
        "const b = document.createElement('button'); b.id = 'more-events'; b.type = 'button';"
        "b.dataset.src = arguments[0]; b.textContent = 'More events';"
        "document.getElementById('events').closest('.table-box').after(b);",
        f"/ui/traces/{world.trace}/rows?after_seq=0",
    )
    browser.find_element(By.ID, "more-events").click()
    _until(browser, lambda: browser.execute_script("return window.heldFetches.length") == 1, "the More page asked for")

    select = Select(browser.find_element(By.ID, "type-filter"))
    select.select_by_value("edit")  # held: a slow answer
    _until(browser, lambda: browser.execute_script("return window.heldFetches.length") == 2, "the edits asked for")
    select.select_by_value("commit")  # answered at once
    _until(browser, lambda: set(_row_types(browser)) == {"commit"}, "the table showing the commits")
    assert not browser.find_elements(By.ID, "more-events"), "the commits fit one page: no More button"

    browser.execute_script("window.heldFetches.forEach(release => release())")
    _until(browser, lambda: browser.execute_script("return window.answeredFetches") == 2, "the held answers in")
    browser.execute_async_script("setTimeout(arguments[arguments.length - 1], 200)")  # let them land, if they would
    assert _row_types(browser) == ["commit"] * len(commits), _row_types(browser)
    seqs = [int(row.get_attribute("data-seq") or 0) for row in browser.find_elements(By.CSS_SELECTOR, "#events tr.event-row")]
    assert seqs == commits
    assert select.first_selected_option.get_attribute("value") == "commit"
    assert _console_problems(browser) == []
