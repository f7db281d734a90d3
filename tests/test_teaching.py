"""The analyst teaches the embedder: which decisions become which pairs, and a real fine-tuning of MiniLM on them."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from streamlit.testing.v1 import AppTest

from dialin_core.cli import main
from dialin_core.config import RunConfig
from dialin_core.curation import review
from dialin_core.curation.review import review_state
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.store import Store
from dialin_core.embedding.adapted import (
    MANIFEST,
    adapted_embedders,
    check_embedder,
    embedder_for,
    embedders_folder,
    judged_as,
    next_name,
    pairs_of_run,
    teachable_pairs,
)
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder
from dialin_core.embedding.teaching import vouched_clusters
from dialin_core.methods import jobs
from dialin_core.methods.baselines import run_discovery
from dialin_core.methods.dialin import create_refined_run, resume_dialin
from tests.conftest import REPO

ANALYST = "ana"


@pytest.fixture
def reviewed(tmp_path: Path, banking77_subset: Path):
    """A k-means run of 8 BANKING77 intents in a workspace file, and the store, before any decision."""
    store = Store(tmp_path / "w.duckdb")
    dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
    run_id = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=8, with_map=False)).run_id
    yield store, run_id
    store.close()


def members_of(store: Store, run_id: int) -> dict[int, list[int]]:
    members = review_state(store, run_id).members
    return members.groupby("cluster_id")["utterance_id"].apply(lambda ids: [int(u) for u in ids]).to_dict()


def pair_clusters(pairs, store: Store, run_id: int, members: dict[int, list[int]]) -> pd.DataFrame:
    """Each pair as the clusters (at the time `members` was read) of its two sentences, with its label."""
    cluster_of = {u: c for c, ids in members.items() for u in ids}
    utterance_of = {t: u for u, t in store.utterance_texts(run_id).items()}
    return pd.DataFrame({"a": [utterance_of[t] for t in pairs.first], "b": [utterance_of[t] for t in pairs.second], "same": pairs.same}
                        ).assign(ca=lambda f: f["a"].map(cluster_of), cb=lambda f: f["b"].map(cluster_of))


def test_only_the_analysts_word_teaches_and_each_kind_of_decision_gives_its_pairs(reviewed):
    store, run_id = reviewed
    before = members_of(store, run_id)
    review.set_status(store, run_id, ANALYST, [0], "approved")
    review.set_verdict(store, run_id, ANALYST, [1], "good")
    review.set_verdict(store, run_id, ANALYST, [2], "bad")
    moved = before[0][:2]
    review.move(store, run_id, ANALYST, moved, 3)
    store.save_merge_proposals(run_id, pd.DataFrame({
        "proposal_id": [0, 1], "cluster_ids": [[4, 5], [6, 7]], "evidence": ["{}", "{}"], "status": "proposed",
        "merged_name": ["inquire-card", "request-pin"]}))
    review.decide_merge(store, run_id, ANALYST, 0, accept=False)
    review.decide_merge(store, run_id, ANALYST, 1, accept=True, verdict="good")
    state, decisions = review_state(store, run_id), store.decisions(run_id)
    keeper = 6 if 6 in set(state.live_clusters()["cluster_id"]) else 7
    assert vouched_clusters(state, decisions) == sorted([0, 1, keeper])

    now = members_of(store, run_id)
    pairs = pairs_of_run(store, run_id)
    frame = pair_clusters(pairs, store, run_id, now)
    assert len(pairs) == pairs.summary()["pairs"] and set(pairs.same) == {0, 1}
    bad = set(now[2])
    assert not frame[["a", "b"]].isin(bad).any().any(), "a cluster marked bad teaches nothing"
    positives = frame[frame["same"] == 1]
    vouched_positives = positives[~positives["a"].isin(moved)]
    assert (vouched_positives["ca"] == vouched_positives["cb"]).all()
    assert set(vouched_positives["ca"]) == {0, 1, keeper}
    first_moved = frame[frame["a"] == moved[0]]
    assert ((first_moved["same"] == 1) & (first_moved["cb"] == 3)).any(), "a moved sentence joins its new cluster"
    assert ((first_moved["same"] == 0) & (first_moved["cb"] == 0)).any(), "and leaves its old one"
    across = frame[(frame["same"] == 0) & frame["ca"].isin([4, 5]) & frame["cb"].isin([4, 5])]
    assert len(across) > 0 and (across["ca"] != across["cb"]).all(), "a rejected merge keeps its sides apart"
    negatives = frame[(frame["same"] == 0) & frame["ca"].isin([0, 1, keeper]) & ~frame["a"].isin(moved)]
    assert (negatives["ca"] != negatives["cb"]).all()

    approval = int(decisions.loc[decisions["action"] == "set_status", "decision_id"].iloc[0])
    review.undo(store, run_id, ANALYST, approval)
    assert 0 not in vouched_clusters(review_state(store, run_id), store.decisions(run_id)), "an undone approval teaches nothing"


def test_a_review_that_teaches_too_little_is_refused_with_what_to_do(reviewed, tmp_path: Path):
    store, run_id = reviewed
    with pytest.raises(ValueError, match="fewer than 50: approve, make or set good"):
        teachable_pairs(store, run_id)
    with Store() as memory, pytest.raises(ValueError, match="beside a workspace file"):
        teachable_pairs(memory, run_id)
    with pytest.raises(ValueError, match="no adapted embedder 'adapted-7'"):
        check_embedder(store, "adapted-7")
    runs = len(store.runs())
    with pytest.raises(ValueError, match="no adapted embedder 'adapted-7'"):
        run_discovery(store, store.run(run_id).dataset_id, RunConfig(method="kmeans", k=8, embedder="adapted-7"))
    assert len(store.runs()) == runs, "a run naming a missing embedder is refused before it is stored"
    store.close()
    assert main(["teach-embedder", str(run_id), "--workspace", str(tmp_path / "w.duckdb")]) == 2


def separation(embedder, store: Store, pairs) -> tuple[float, float]:
    """How well the pairs' cosines tell one intent from two: AUC, and the gap between the two means."""
    first, second = embed_texts(pairs.first, embedder, store), embed_texts(pairs.second, embedder, store)
    cosines, same = (first * second).sum(axis=1), np.array(pairs.same) == 1
    return float(roc_auc_score(same, cosines)), float(cosines[same].mean() - cosines[~same].mean())


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """A reviewed k-means run whose four largest clusters the analyst approved, taught in the background as the
    studio does it; the workspace (closed) and the training record."""
    folder = tmp_path_factory.mktemp("taught")
    frame = pd.read_csv(REPO.parent / "shared" / "data" / "banking77" / "test.csv")
    subset = frame[frame["category"].isin(sorted(frame["category"].unique())[:8])]
    subset.to_csv(folder / "subset.csv", index=False)
    workspace = folder / "w.duckdb"
    with Store(workspace) as store:
        dataset_id = ingest_file(store, folder / "subset.csv", ColumnMapping(text="text", label="category"))
        no_llm = RunConfig(method="kmeans", k=8, with_map=False, llm="none", judge="cohesion")  # the refined run needs no LLM
        run_id = run_discovery(store, dataset_id, no_llm).run_id
        largest = store.clusters(run_id).sort_values("size", ascending=False)["cluster_id"].head(4).astype(int).tolist()
        review.set_status(store, run_id, ANALYST, largest, "approved")
    record = jobs.start_teaching(workspace, run_id)
    with pytest.raises(jobs.RunBusy, match="being taught"):
        jobs.start_run(workspace, dataset_id, RunConfig(method="kmeans", k=8))
    record.thread.join(600)
    assert record.error is None, record.error
    return workspace, run_id, record


def test_a_taught_embedder_pulls_together_what_the_analyst_kept_together(taught):
    workspace, run_id, record = taught
    assert record.steps and record.steps_done == record.steps
    (adapted,) = adapted_embedders(workspace)
    assert adapted.name == record.name == "adapted-1" and adapted.base == adapted.parent == DEFAULT_EMBEDDER
    manifest = json.loads((adapted.path / MANIFEST).read_text())
    assert manifest["run_id"] == run_id and manifest["decisions"] == 1 and manifest["pairs"]["pairs"] == record.pairs
    assert not list(embedders_folder(workspace).glob("*.partial"))
    with Store(workspace) as store:
        pairs = pairs_of_run(store, run_id)
        tuned = embedder_for(store, adapted.name)
        assert tuned.name == "adapted-1" and judged_as(store, "adapted-1") == DEFAULT_EMBEDDER
        base_auc, base_gap = separation(load_embedder(DEFAULT_EMBEDDER), store, pairs)
        tuned_auc, tuned_gap = separation(tuned, store, pairs)
        assert tuned_auc > base_auc + 0.01 and tuned_gap > base_gap, (base_auc, base_gap, tuned_auc, tuned_gap)
        assert next_name(store) == "adapted-2"


def test_a_refined_run_clusters_with_the_taught_embedder_and_the_bases_judge(taught):
    workspace, run_id, record = taught
    with Store(workspace) as store:
        source = store.run(run_id)
        refined = create_refined_run(store, run_id, record.name)
        result = resume_dialin(store, refined)
        run = store.run(result.run_id)
        assert run.status == "finished" and run.config.embedder == "adapted-1" and run.config.refine_of == run_id
        assert "adapted-1" in store.embedding_models()
        approved = review_state(store, run_id).clusters.query("status == 'approved'")
        kept = store.clusters(result.run_id)
        assert set(approved["name"]) <= set(kept["name"]), "the approved clusters stand in the refined run"
        assert source.config.embedder == DEFAULT_EMBEDDER


def test_the_studio_offers_the_taught_embedder_where_runs_are_started(taught):
    workspace, run_id, _ = taught
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    app.session_state["workspace"] = str(workspace)
    app.session_state["analyst"] = ANALYST
    app.session_state["run_id"] = run_id  # the reviewed run, not the refined one another test made
    app.run()
    app.switch_page("pages/review.py").run()
    assert not app.exception, app.exception
    (refine,) = [s for s in app.selectbox if s.label == "Embedder of the refined run"]
    assert "adapted-1" in refine.options[1] and f"run {run_id}'s review" in refine.options[1]
    assert any(b.label == "Teach the embedder from this review" for b in app.button)
    app.switch_page("pages/discover.py").run()
    assert not app.exception, app.exception
    (embedder,) = [s for s in app.selectbox if s.label == "Embedder"]
    assert any(o.startswith("adapted-1:") for o in embedder.options)
