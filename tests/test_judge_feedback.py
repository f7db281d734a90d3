"""Analyst verdicts as labelled clusters: agreement with the judge, and a judge re-fitted on them."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dialin_core.cli import main
from dialin_core.config import RunConfig
from dialin_core.curation import review
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.store import Store
from dialin_core.embedding.models import load_embedder
from dialin_core.judging.cohesion import (
    FEATURES,
    CohesionModel,
    cluster_features,
    default_model_path,
    examples_path,
    load_cohesion_model,
)
from dialin_core.judging.feedback import ANALYST_WEIGHT, agreement, analyst_labels, feature_members, refit_judge, trained_on
from dialin_core.methods.baselines import run_discovery


@pytest.fixture
def reviewed(tmp_path: Path, banking77_subset: Path):
    """A k=12 clustering of 8 intents (some clusters pure, some mixed), reviewed by an analyst who knows
    the gold labels: clusters under 90% one intent are marked bad, the others good, the purest approved."""
    store = Store(tmp_path / "w.duckdb")
    dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
    run_id = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=12, with_map=False)).run_id
    assigned = store.assignments(run_id)
    purity = assigned.groupby("cluster_id")["gold_label"].agg(lambda g: g.value_counts(normalize=True).iloc[0])
    review.set_verdict(store, run_id, "ana", purity.index[purity < 0.9].tolist(), "bad")
    review.set_verdict(store, run_id, "ana", purity.index[purity >= 0.9].tolist(), "good")
    review.set_status(store, run_id, "ana", [int(purity.idxmax())], "approved")
    yield store, run_id, purity
    store.close()


def test_every_cluster_the_analyst_judged_is_a_label_with_the_analysts_verdict(reviewed):
    store, run_id, purity = reviewed
    labels = analyst_labels(store, load_embedder("all-minilm-l6-v2"))
    assert sorted(label.cluster_id for label in labels) == sorted(purity.index.tolist())
    assert {label.cluster_id: label.good for label in labels} == {int(c): bool(p >= 0.9) for c, p in purity.items()}
    assert all(label.features.shape == (9,) for label in labels)


def test_an_undone_verdict_is_no_label(reviewed):
    store, run_id, purity = reviewed
    before = len(analyst_labels(store, load_embedder("all-minilm-l6-v2")))
    extra = review.set_verdict(store, run_id, "ana", [int(purity.idxmin())], "good")
    review.undo(store, run_id, "ana", extra)
    labels = {l.cluster_id: l.good for l in analyst_labels(store, load_embedder("all-minilm-l6-v2"))}
    assert len(labels) == before and labels[int(purity.idxmin())] is False


def test_agreement_and_a_refit_that_moves_towards_the_analyst(reviewed):
    store, run_id, _ = reviewed
    labels = analyst_labels(store, load_embedder("all-minilm-l6-v2"))
    shipped = load_cohesion_model("all-minilm-l6-v2")
    before = agreement(shipped, labels)
    assert before["n"] == len(labels) and 0 <= before["agreement"] <= 1
    refitted = refit_judge("all-minilm-l6-v2", labels)
    after = agreement(refitted, labels)
    assert after["agreement"] >= before["agreement"]
    assert refitted.coef != shipped.coef
    assert refitted.training["n_analyst_labels"] == len(labels) and refitted.training["analyst_weight"] == ANALYST_WEIGHT
    features = np.stack([l.features for l in labels])
    truth = np.array([l.good for l in labels])
    moved = refitted.probability_good(features) - shipped.probability_good(features)
    assert moved[truth].mean() > moved[~truth].mean()  # good clusters gain probability relative to bad ones
    assert trained_on(shipped) == "train.csv: 2370 synthetic clusters (513 good) of 77 intents"
    assert trained_on(refitted).startswith(trained_on(shipped) + f", then {len(labels)} of your verdicts (")


def test_refit_without_verdicts_or_without_a_prior_says_why(tmp_path, reviewed):
    store, _, _ = reviewed
    with pytest.raises(ValueError, match="no analyst verdict yet"):
        refit_judge("all-minilm-l6-v2", [])
    lone = tmp_path / "lone.json"
    CohesionModel.load(default_model_path("all-minilm-l6-v2")).save(lone)
    labels = analyst_labels(store, load_embedder("all-minilm-l6-v2"))
    with pytest.raises(ValueError, match="no training examples beside it"):
        refit_judge("all-minilm-l6-v2", labels, prior_model=lone)
    assert examples_path(default_model_path("all-minilm-l6-v2")).is_file()


def test_the_cli_refits_and_reports_agreement(tmp_path, reviewed, capsys):
    store, _, _ = reviewed
    path = store.path
    store.close()  # the CLI opens the workspace itself; DuckDB lets one process hold it
    out = tmp_path / "refit.json"
    assert main(["refit-judge", "--workspace", path, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert '"refitted_in_sample"' in printed and load_cohesion_model("all-minilm-l6-v2", out).training["n_analyst_labels"] > 0


def test_an_llm_judge_is_asked_about_each_labelled_clusters_sample_and_scored_like_the_cohesion_judge(reviewed):
    from dialin_core.judging.feedback import llm_agreement
    from dialin_core.judging.llm_judge import LLMJudge
    from tests.fakes import ScriptedLLM, verdict_response

    store, run_id, purity = reviewed
    labels = analyst_labels(store, load_embedder("all-minilm-l6-v2"))
    texts = set(store.utterance_texts(run_id).values())
    assert all(0 < len(label.sample) <= 20 and set(label.sample) <= texts for label in labels)
    llm = ScriptedLLM(lambda request: verdict_response(0.9))  # says good to everything
    progress = []
    figures = llm_agreement(labels, LLMJudge(llm), lambda done, total: progress.append((done, total)))
    assert len(llm.requests) == len(labels) and progress[-1] == (len(labels), len(labels))
    n_good = sum(label.good for label in labels)
    assert figures == {"n": len(labels), "n_good": n_good, "agreement": round(n_good / len(labels), 4), "kappa": 0.0}


def test_a_large_clusters_features_come_from_a_seeded_sample_and_its_whole_size():
    members = pd.DataFrame({"utterance_id": np.arange(100), "cluster_id": [0] * 70 + [1] * 30})

    drawn = feature_members(members, cap=40)

    assert drawn["cluster_id"].value_counts().to_dict() == {0: 40, 1: 30}  # the small cluster whole
    assert drawn.index.is_monotonic_increasing and drawn.equals(feature_members(members, cap=40))
    assert feature_members(members, cap=70) is members
    vectors = np.random.default_rng(0).normal(size=(100, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sampled = cluster_features(vectors[drawn["utterance_id"][drawn["cluster_id"] == 0]], vectors[70:72], size=70)
    assert sampled[FEATURES.index("log_size")] == pytest.approx(np.log(70))
