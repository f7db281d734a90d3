"""The home page through a real Streamlit server and headless Chromium: what a user clicking sees."""

import pytest
from playwright.sync_api import Page

from dialin_core.store import Store
from tests.browser import StudioServer, page, screenshot, studio, wait_for_app, wait_for_text  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_home_page_loads_the_sample_dialogues(studio: StudioServer, page: Page) -> None:
    page.goto(studio.url)
    wait_for_text(page, "Dial-In Studio")
    page.get_by_role("button", name="Load the sample dialogues").click()
    wait_for_text(page, "Sample dialogues are data set 1.", timeout=120)
    wait_for_app(page)
    screenshot(page, "home")

    # The server holds the DuckDB file open; read the workspace only once it has let go.
    studio.stop()
    with Store(studio.workspace) as store:
        (dataset,) = store.datasets()
    assert dataset.n_dialogues == 300
