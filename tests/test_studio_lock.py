"""One writer rule: while a studio is up it alone writes its workspace. Another process holds the lock here
(a real second process, as a second server or a terminal would be); the CLI and a studio in this process
are refused with a message, nothing is written, and the workspace is free again once the holder is gone."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialin_core.cli import main
from dialin_core.data.store import Store
from dialin_core.data.studio_lock import lock_path
from tests.conftest import REPO, SAMPLE_DIALOGUES
from tests.test_studio import open_app

HOLD = """
import sys, time
from dialin_core.data.studio_lock import hold_for_studio
hold_for_studio(sys.argv[1])
print("held", flush=True)
time.sleep(120)
"""


@pytest.fixture
def held_workspace(tmp_path) -> Iterator[tuple[Path, subprocess.Popen]]:
    """A workspace with the sample stored, held by a studio lock in another process."""
    workspace = tmp_path / "w.duckdb"
    assert main(["ingest", str(SAMPLE_DIALOGUES), "--workspace", str(workspace)]) == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(workspace)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield workspace, holder
    holder.kill()
    holder.wait()


def test_a_cli_write_to_a_workspace_a_studio_holds_is_refused_until_the_studio_stops(held_workspace, capsys):
    workspace, holder = held_workspace
    capsys.readouterr()
    assert main(["ingest", str(SAMPLE_DIALOGUES), "--workspace", str(workspace), "--mask-pii"]) == 2
    message = capsys.readouterr().err
    assert f"is open in a studio (process {holder.pid})" in message and "use another workspace" in message
    holder.kill()
    holder.wait()  # the kernel drops a dead process's lock: no stale lock file blocks anyone
    assert lock_path(workspace).exists()
    assert main(["ingest", str(SAMPLE_DIALOGUES), "--workspace", str(workspace), "--mask-pii"]) == 0
    with Store(workspace) as store:
        assert len(store.datasets()) == 2


def test_a_second_studio_on_a_held_workspace_says_so_on_every_page_and_writes_nothing(held_workspace):
    workspace, holder = held_workspace
    app = open_app(workspace)
    assert f"is open in a studio (process {holder.pid})" in app.error[0].value
    assert not [b for b in app.button if b.label == "Load the sample dialogues"]  # the page stopped there
    app.switch_page("pages/review.py").run()
    assert not app.exception and "is open in a studio" in app.error[0].value
    holder.kill()
    holder.wait()
    # The other studio has stopped: the next session this server opens takes the workspace (a new AppTest: its
    # reruns run the page alone, not app.py, since the repository has a pages/ folder)
    app = open_app(workspace)
    assert not app.error, [e.value for e in app.error]
    assert [b for b in app.button if b.label == "Load the sample dialogues"]
    with Store(workspace) as store:
        assert len(store.datasets()) == 1
