"""Two runs side by side: cluster counts, agreement of their assignments, gold metrics; and the Compare page."""

from pathlib import Path

import pytest

from dialin_core.config import RunConfig
from dialin_core.curation.review import move
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.store import Store
from dialin_core.evaluation.compare import compare_runs
from dialin_core.methods.baselines import run_discovery
from tests.conftest import SAMPLE_TURNS
from tests.test_studio import labelled, open_app


@pytest.fixture
def two_runs(tmp_path: Path, banking77_subset: Path) -> tuple[Path, int, int]:
    """k-means with 8 and with 4 clusters on eight BANKING77 intents."""
    path = tmp_path / "w.duckdb"
    with Store(path) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        fine = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=8, with_map=False)).run_id
        coarse = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=4, with_map=False)).run_id
    return path, fine, coarse


def test_two_runs_are_compared_on_counts_agreement_and_gold_metrics(two_runs):
    path, fine, coarse = two_runs
    with Store(path) as store:
        comparison = compare_runs(store, fine, coarse)
        itself = compare_runs(store, fine, fine)
    assert comparison.runs["n_clusters"].tolist() == [8, 4] and comparison.runs["method"].tolist() == ["kmeans", "kmeans"]
    assert comparison.runs["acc"].iloc[0] > comparison.runs["acc"].iloc[1]  # eight intents: eight clusters match them better
    assert comparison.agreement["n_shared"] == comparison.runs["n_utterances"].iloc[0]
    assert 0 < comparison.agreement["ari"] < 1 and itself.agreement["ari"] == pytest.approx(1.0)
    overlap = comparison.overlap
    assert len(overlap) == 8 and overlap["size"].sum() == comparison.agreement["n_shared"]
    assert overlap["share_in_best_match"].between(0.25, 1).all() and (itself.overlap["share_in_best_match"] == 1).all()


def test_the_comparison_follows_the_analysts_decisions_and_refuses_what_it_cannot_compare(two_runs, tmp_path):
    path, fine, coarse = two_runs
    with Store(path) as store:
        members = store.cluster_members(fine)
        move(store, fine, "ana", members["utterance_id"].iloc[:10].tolist(), -1)
        comparison = compare_runs(store, fine, coarse)
        assert comparison.runs["n_outliers"].tolist() == [10, 0]
        other = ingest_file(store, SAMPLE_TURNS, ColumnMapping(text="text"))
        elsewhere = run_discovery(store, other, RunConfig(method="kmeans", k=3, with_map=False)).run_id
        with pytest.raises(ValueError, match="different data sets"):
            compare_runs(store, fine, elsewhere)
        running = store.create_run(other, "kmeans", RunConfig(method="kmeans").as_dict())
        with pytest.raises(ValueError, match="only finished runs"):
            compare_runs(store, elsewhere, running)


def test_the_compare_page_shows_both_runs_and_their_agreement(two_runs):
    path, fine, coarse = two_runs
    app = open_app(path)
    app.switch_page("pages/compare.py").run()
    assert not app.exception, app.exception
    assert labelled(app.selectbox, "First run").value == coarse and labelled(app.selectbox, "Second run").value == fine
    assert app.dataframe[0].value["n_clusters"].tolist() == [4, 8]
    labelled(app.selectbox, "Second run").set_value(coarse).run()
    assert labelled(app.metric, "Adjusted Rand index").value == "1.000"
    assert not app.error
