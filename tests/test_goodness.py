"""Goodness by a judge the run did not use: the evaluator, its sampling, and its verdicts on real clusterings."""

import json

import numpy as np
import pandas as pd
import pytest

from dialin_core.cli import main
from dialin_core.clustering.algorithms import NOISE
from dialin_core.curation.review import move
from dialin_core.data.store import Store
from dialin_core.embedding.models import MULTILINGUAL_EMBEDDER
from dialin_core.evaluation.compare import compare_runs
from dialin_core.evaluation.goodness import (
    MAX_PER_CLUSTER,
    MIN_PER_CLUSTER,
    evaluator_embedder,
    run_goodness,
    sample_members,
    score_goodness,
)
from tests.test_compare import two_runs  # noqa: F401  (fixture)
from tests.test_studio import labelled, open_app

MINILM, MPNET = "all-minilm-l6-v2", "all-mpnet-base-v2"


def test_the_evaluator_is_the_judge_of_another_embedder():
    assert evaluator_embedder(MINILM) == MPNET
    assert evaluator_embedder(MPNET) == MINILM
    assert evaluator_embedder(MULTILINGUAL_EMBEDDER) == MINILM  # no judge of its own: the default's judge is another one


def test_each_cluster_is_read_through_a_bounded_seeded_sample():
    labels = np.array([0] * 3 + [1] * 50 + [NOISE] * 7 + [2] * 25)
    rows, sampled = sample_members(labels, seed=4)
    counts = pd.Series(sampled).value_counts().to_dict()
    assert counts == {0: 3, 1: MAX_PER_CLUSTER, 2: MAX_PER_CLUSTER} and NOISE not in counts
    assert (labels[rows] == sampled).all() and len(set(rows.tolist())) == len(rows)
    again, _ = sample_members(labels, seed=4)
    assert (again == rows).all() and not np.array_equal(sample_members(labels, seed=5)[0], rows)
    many = np.repeat(np.arange(600), 30)  # 600 clusters: the budget spreads thin but never below the minimum
    assert pd.Series(sample_members(many)[1]).value_counts().eq(MIN_PER_CLUSTER).all()


def test_goodness_tells_intents_from_mixtures_on_real_queries(banking77_subset):
    frame = pd.read_csv(banking77_subset)
    texts = frame["text"].tolist()
    gold = pd.factorize(frame["category"])[0]
    mixed = np.random.default_rng(0).permutation(gold)  # same sizes, intents shuffled across clusters
    by_intent = score_goodness(texts, gold, MINILM)
    by_chance = score_goodness(texts, mixed, MINILM)
    assert by_intent.judge == f"cohesion judge of {MPNET}" and by_intent.n_clusters == 8
    # the shipped judges read a clustering made only of mixtures leniently (3 of 8 pass): far apart all the same
    assert by_intent.share >= 0.75 and by_chance.share <= by_intent.share - 0.5
    assert score_goodness(texts, np.zeros(len(texts), dtype=int), MINILM) is None  # one cluster: nothing to compare


def test_runs_are_scored_as_the_analyst_left_them_on_compare_and_the_cli(two_runs, capsys):  # noqa: F811
    path, fine, coarse = two_runs
    with Store(path) as store:
        comparison = compare_runs(store, fine, coarse, goodness=True)
        assert "goodness" not in compare_runs(store, fine, coarse).runs  # only when asked: it embeds with another model
        before = run_goodness(store, fine)
        members = store.cluster_members(fine)
        biggest = members["cluster_id"].value_counts().index[0]
        # the analyst scatters a third of each other cluster into the biggest one: it stops reading as one intent
        strays = members[members["cluster_id"] != biggest].groupby("cluster_id").head(8)["utterance_id"].tolist()
        move(store, fine, "ana", strays, int(biggest))
        after = run_goodness(store, fine)
        with pytest.raises(ValueError, match="finished run"):
            run_goodness(store, store.create_run(store.run(fine).dataset_id, "kmeans", {"method": "kmeans"}))
    shares = comparison.runs["goodness"].tolist()
    assert all(0 <= s <= 1 for s in shares) and comparison.runs["goodness_judge"].eq(f"cohesion judge of {MPNET}").all()
    assert before.share == shares[0] and after.share < before.share
    assert main(["goodness", str(fine), str(coarse), "--workspace", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["runs"][str(fine)]["goodness"] == round(after.share, 4)
    assert printed["runs"][str(coarse)]["goodness"] == round(shares[1], 4)


def test_the_compare_page_scores_goodness_when_asked(two_runs):  # noqa: F811
    path, _, _ = two_runs
    app = open_app(path)
    app.switch_page("pages/compare.py").run()
    assert "goodness" not in app.dataframe[0].value
    app.toggle(key="compare_goodness").set_value(True).run()
    assert not app.exception, app.exception
    assert app.dataframe[0].value["goodness"].between(0, 1).all()
    assert any("similar cluster counts" in c.value for c in app.caption)
    assert labelled(app.selectbox, "First run").value is not None
