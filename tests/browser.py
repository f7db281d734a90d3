"""End-to-end harness: a real Streamlit server on a temp workspace, driven by Debian's headless Chromium.

AppTest (tests/test_app.py) runs page scripts in-process; only a real server and browser catch what the
user sees: the websocket round trips, widget rendering, and a server killed and restarted mid-run.
Playwright is used only as a driver: its own browser downloads need a network we do not have, so it
launches the system Chromium that scripts/setup.sh installs.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "docs" / "screenshots"
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
        env = {**os.environ, "DIALIN_WORKSPACE": str(self.workspace)}
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
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium package (needs root or sudo).")
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
            yield context.new_page()
        finally:
            browser.close()


def wait_for_text(page: Page, text: str, timeout: float = 60.0) -> None:
    """Wait (seconds) until `text` is visible: Streamlit renders over a websocket, after goto/click return."""
    expect(page.get_by_text(text).first).to_be_visible(timeout=timeout * 1000)


def wait_for_app(page: Page, timeout: float = 60.0) -> None:
    """Wait (seconds) until the script run is over and every table has drawn.

    Streamlit streams elements while the script runs, and st.dataframe loads its grid component lazily,
    so text being visible does not mean the page is finished. Call it after a wait_for_text that proves
    the rerun began: right after a click, the previous run's idle state still shows.
    """
    ms = timeout * 1000
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=ms)
    # The grid paints on a canvas; its hidden accessibility cells appear once the rows are drawn.
    # (So an empty st.dataframe never counts as drawn: the pages show st.info instead of empty tables.)
    for table in page.get_by_test_id("stDataFrame").all():
        expect(table.locator("[data-testid^='glide-cell-']").first).to_be_attached(timeout=ms)


def screenshot(page: Page, name: str) -> Path:
    """Save docs/screenshots/<name>.png, full page at 1400x900, for the docs and for reviewing a failed walk."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    wait_for_app(page)
    path = SCREENSHOTS / f"{name}.png"
    page.set_viewport_size(VIEWPORT)  # type: ignore[arg-type]
    page.screenshot(path=str(path), full_page=True)
    return path
