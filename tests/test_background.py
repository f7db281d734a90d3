"""Work on a thread of the studio's server: its progress while it runs, then its result or its error."""

import threading

import pytest

from studio.background import Background


def test_work_reports_progress_while_it_runs_then_its_result():
    release = threading.Event()

    def work(on_progress):
        on_progress(3, 10)
        release.wait(30)
        on_progress(10, 10)
        return "prepared"

    background = Background(work)
    assert not background.finished(wait=0.2) and (background.done, background.total) == (3, 10)
    release.set()
    assert background.finished(wait=30) and background.outcome() == "prepared" and background.done == 10


def test_the_work_s_error_is_raised_where_its_outcome_is_asked_for():
    def work(on_progress):
        raise ValueError("run 3 is paused, not finished")

    background = Background(work)
    assert background.finished(wait=30)
    with pytest.raises(ValueError, match="run 3 is paused"):
        background.outcome()
