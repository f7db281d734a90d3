"""The Discover page offers labelgen: its settings reach the run, `llm none` is refused, and its steps are shown."""

from pathlib import Path

from dialin_core.config import RunConfig
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.store import Store
from dialin_core.embedding.models import load_embedder
from dialin_core.methods.labelgen import run_labelgen
from tests.fakes import ScriptedLLM
from tests.test_labelgen import scripted_answer
from tests.test_studio import labelled, open_app


def test_discover_offers_labelgen_refuses_it_without_an_llm_and_shows_a_run_s_steps(tmp_path: Path, banking77_subset: Path):
    path = tmp_path / "w.duckdb"
    with Store(path) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        run_id = run_labelgen(store, dataset_id, RunConfig(method="labelgen", with_map=False, sure_margin=0.05),
                              embedder=load_embedder(), backend=ScriptedLLM(scripted_answer)).run_id
    app = open_app(path)
    app.switch_page("pages/discover.py").run()
    assert "labelgen" in labelled(app.selectbox, "Method").options
    steps = app.dataframe[0].value
    assert steps["kind"].tolist() == ["labels_generated", "labels_merged", "utterances_classified"]
    assert steps["llm_calls_total"].is_monotonic_increasing

    labelled(app.selectbox, "Method").set_value("labelgen").run()
    assert not any(e.label == "Judge" for e in app.selectbox)  # the form shows what labelgen reads
    labelled(app.selectbox, "LLM back end").set_value("none")
    labelled(app.button, "Start the run").click().run()
    assert any("choose --llm local or openai" in e.value for e in app.error)
    with Store(path) as store:
        assert store.runs()["run_id"].tolist() == [run_id]  # nothing was started
        assert store.run(run_id).config.sure_margin == 0.05
