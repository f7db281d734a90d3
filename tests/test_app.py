"""The studio's home page, driven through Streamlit's AppTest against a real workspace file."""

from streamlit.testing.v1 import AppTest

from dialin_core.data.store import Store
from tests.conftest import REPO


def test_home_page_loads_the_sample_dialogues_into_the_workspace(tmp_path, monkeypatch):
    workspace = tmp_path / "w.duckdb"
    monkeypatch.setenv("DIALIN_WORKSPACE", str(workspace))
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "Dial-In Studio"
    assert "No data set yet" in app.info[0].value

    app.button[0].click().run()
    assert not app.exception
    assert "Sample dialogues are data set 1" in app.success[0].value
    with Store(workspace) as store:
        (dataset,) = store.datasets()
    assert dataset.name == "dialogues.jsonl" and dataset.n_dialogues == 300
