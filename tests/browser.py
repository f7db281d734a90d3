"""End-to-end harness: a real Streamlit server on a temp workspace, driven by Debian's headless Chromium.

AppTest (tests/test_app.py) runs page scripts in-process; only a real server and browser catch what the
user sees: the websocket round trips, widget rendering, and a server killed and restarted mid-run.
Playwright is used only as a driver: its own browser downloads need a network we do not have, so it
launches the system Chromium that scripts/test.sh installs.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
# A test run must not rewrite the tracked pictures the README shows: it writes to tests/screenshots/
# (ignored by git); `DIALIN_SCREENSHOTS=docs/screenshots` refreshes the README's pictures on purpose.
SCREENSHOTS = REPO / os.environ.get("DIALIN_SCREENSHOTS", "tests/screenshots")
CHROMIUM = Path("/usr/bin/chromium")
# Offline, as root, without a GPU: without these Chromium tries the network (QUIC, updates, sync)
# and stalls, refuses to run as root without --no-sandbox, or fails to initialise the GPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
START_TIMEOUT_S = 90.0
# Counts the script runs the page has seen end (stApp's script state turning notRunning), so a test can wait
# for the rerun its click caused: Streamlit does not mark a widget's rerun as requested, so right after a
# click the page still reads idle, and waiting for idle alone returns before the rerun has even begun.
COUNT_SCRIPT_RUNS = """
window.__scriptRunsEnded = 0;
new MutationObserver((changes) => {
  for (const change of changes) {
    if (change.target.getAttribute("data-test-script-state") === "notRunning") window.__scriptRunsEnded += 1;
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-test-script-state"]});
"""


def free_port() -> int:
    """A port nobody listens on now; the OS picks it so parallel test runs do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


class StudioServer:
    """`streamlit run app.py` on one workspace and port, restartable so a test can kill it mid-run."""

    def __init__(self, workspace: Path, port: int) -> None:
        self.workspace = Path(workspace)
        self.port = port
        # The server's output goes to a file, not a pipe: nobody drains a pipe, and a full one blocks it.
        self.log_path = self.workspace.parent / f"streamlit-{port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def log(self) -> str:
        """Everything the server printed so far (all its starts), for failure messages."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the server and return once its health endpoint answers; fail with its log if it cannot."""
        assert self.process is None, "server already running"
        # One OpenMP/BLAS thread per pool: the server shares the cores with this test and Chromium, and
        # k-means' and torch's thread pools spin-wait when oversubscribed; measured on two busy cores, a
        # two-iteration run of the sample took 127 s with the default pools and 37 s with one thread.
        env = {"OMP_NUM_THREADS": "1", **os.environ, "DIALIN_WORKSPACE": str(self.workspace)}
        command = [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.address", "localhost",
            "--server.port", str(self.port),
            "--server.headless", "true",
            "--browser.gatherUsageStats", "false",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            # A session of its own, so kill()/stop() reach any child it spawns through the process group.
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                pytest.fail(f"Streamlit server exited with code {code} while starting:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        self.stop()
        pytest.fail(f"Streamlit server not healthy on {self.url} after {timeout:.0f} s:\n{self.log()}")

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole server group, as a crash or an OOM kill would: no cleanup runs."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down politely (SIGTERM), then hard if it lingers; safe to call twice."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self, timeout: float = START_TIMEOUT_S) -> None:
        """Kill hard and start again on the same workspace and port: the crash-and-resume scenario."""
        self.kill()
        self.start(timeout)


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium through Playwright; fail (never skip) when it is missing, so CI cannot go green without it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium package (needs root or sudo).")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[StudioServer]:
    """A started server on a fresh workspace tmp_path/w.duckdb; stopped (never leaked) at teardown."""
    server = StudioServer(tmp_path / "w.duckdb", free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(studio: StudioServer) -> Iterator[Page]:
    """A Chromium tab at 1400x900 (the screenshot size), not yet navigated: tests goto(studio.url)."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
            context.add_init_script(COUNT_SCRIPT_RUNS)
            yield context.new_page()
        finally:
            browser.close()


def wait_for_text(page: Page, text: str, timeout: float = 60.0) -> None:
    """Wait (seconds) until `text` is visible: Streamlit renders over a websocket, after goto/click return."""
    expect(page.get_by_text(text).first).to_be_visible(timeout=timeout * 1000)


def wait_for_app(page: Page, timeout: float = 60.0) -> None:
    """Wait (seconds) until the script run is over and every table and chart has drawn.

    Streamlit streams elements while the script runs, and st.dataframe and st.plotly_chart load their
    components lazily, so text being visible does not mean the page is finished. Call it once the rerun
    has begun (rerun() or a wait_for_text proves it): right after a click, the previous run's idle state
    still shows.
    """
    ms = timeout * 1000
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=ms)
    # A lazily loaded element (a table, a chart) is a skeleton until its code has arrived.
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=ms)
    # The grid paints on a canvas; its hidden accessibility cells appear once the rows are drawn.
    # (So an empty st.dataframe never counts as drawn: the pages show st.info instead of empty tables.)
    # A table in a collapsed expander is never drawn, and nobody sees it: only visible ones count.
    for table in page.get_by_test_id("stDataFrame").filter(visible=True).all():
        expect(table.locator("[data-testid^='glide-cell-']").first).to_be_attached(timeout=ms)
    # Plotly loads lazily too, and the page below a chart moves when it draws: wait for its axes.
    for chart in page.get_by_test_id("stPlotlyChart").filter(visible=True).all():
        expect(chart.locator(".js-plotly-plot .main-svg").first).to_be_attached(timeout=ms)


def screenshot(page: Page, name: str, top: Locator | None = None, toast: bool = False) -> Path:
    """Save SCREENSHOTS/<name>.png: the window at 1400x900, for the docs and for reviewing a failed walk.

    Streamlit scrolls its main area, not the document, so a full-page capture is only the window: the
    main area is scrolled to put `top` (default: the page's start) at the top of the picture. A toast
    (a decision's confirmation, shown four seconds) is waited out unless `toast` asks to keep it.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    wait_for_app(page)
    if not toast:
        expect(page.get_by_test_id("stToast")).to_have_count(0, timeout=15_000)
    path = SCREENSHOTS / f"{name}.png"
    page.set_viewport_size(VIEWPORT)  # type: ignore[arg-type]
    start = top if top is not None else page.get_by_test_id("stMainBlockContainer")
    # The margin keeps `top` clear of the app's header bar, which overlays the main area.
    start.first.evaluate("element => { element.style.scrollMarginTop = '80px'; element.scrollIntoView({block: 'start'}); }")
    page.mouse.move(0, VIEWPORT["height"] - 1)  # no hover toolbar over a table or chart in the picture
    page.screenshot(path=str(path))
    return path


@contextmanager
def rerun(page: Page, timeout: float = 60.0) -> Iterator[None]:
    """Wrap what triggers a script run (a click, a committed value): on leaving, that run has ended and drawn.

    A run that calls st.rerun() ends twice; after a decision, wait for the message its second run shows.
    """
    before = page.evaluate("window.__scriptRunsEnded")
    yield
    page.wait_for_function(f"window.__scriptRunsEnded > {before}", timeout=timeout * 1000)
    wait_for_app(page, timeout)


def go_to(page: Page, title: str) -> None:
    """Open a page from the sidebar's navigation, as a user does (the session and its name stay)."""
    with rerun(page):
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()


def type_analyst(page: Page, name: str) -> None:
    """The sidebar's name box; Enter commits it (outside a form Enter does not submit anything)."""
    box = page.get_by_test_id("stSidebar").get_by_label("Your name", exact=True)
    with rerun(page):
        box.fill(name)
        box.press("Enter")


def open_list(page: Page, label: str) -> Locator:
    """Open the option list of the selectbox or multiselect labelled `label` and return it.

    The list is a popover that closes when the page scrolls, and clicking a widget below the fold scrolls
    it into view (the scroll event lands just after the click opened the list): so scroll first, and
    click again while the list has not shown.
    """
    box = page.get_by_role("combobox", name=label, exact=True)
    listbox = page.get_by_role("listbox", name=label)  # named "<label> Open": the label and its button
    box.scroll_into_view_if_needed()
    for _ in range(5):
        if box.get_attribute("aria-expanded") != "true":
            box.click()
        try:
            expect(listbox.get_by_role("option").first).to_be_visible(timeout=2000)
            return listbox
        except AssertionError:
            continue
    expect(listbox.get_by_role("option").first).to_be_visible()
    return listbox


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label`; outside a form, wrap the call in rerun(page)."""
    open_list(page, label).get_by_role("option", name=option, exact=True).click()
    expect(page.get_by_role("combobox", name=label, exact=True)).to_have_value(option)


def set_number(page: Page, label: str, value: int) -> None:
    """Type into the number input labelled `label`; Tab commits it (Enter would submit an enclosing form)."""
    field = page.get_by_role("spinbutton", name=label, exact=True)
    field.fill(str(value))
    field.press("Tab")
    expect(field).to_have_value(str(value))


def choose_starting(page: Page, label: str, prefix: str) -> str:
    """Pick the one option of the selectbox `label` that starts with `prefix`, found by typing it (the list
    shows only a screenful, so a long one is searched, not read); returns the option. Wrap in rerun(page)."""
    listbox = open_list(page, label)
    page.get_by_role("combobox", name=label, exact=True).press_sequentially(prefix)
    matches = listbox.get_by_role("option").filter(has_text=re.compile("^" + re.escape(prefix)))
    expect(matches).to_have_count(1)
    option = matches.inner_text()
    matches.click()
    expect(page.get_by_role("combobox", name=label, exact=True)).to_have_value(option)
    return option


def options(page: Page, label: str) -> list[str]:
    """The options a selectbox or multiselect offers, as shown (the first screenful); the list is left closed."""
    shown = open_list(page, label).get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    expect(page.get_by_role("listbox", name=label)).to_have_count(0)
    return shown


def pick(page: Page, label: str, option: str) -> None:
    """Add `option` to the multiselect labelled `label`, then close its list; wrap in rerun(page) outside a form."""
    open_list(page, label).get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name=f"Remove {option}", exact=True)).to_be_visible()  # the chosen tag
