"""Metric values checked against examples worked by hand."""

import math

import pytest

from dialin_core.evaluation.metrics import (
    hungarian_accuracy,
    many_to_one_precision,
    many_to_one_recall,
    score_clustering,
)

# Six items, gold intents a/b/c; the clustering merges b and c and splits a.
GOLD = ["a", "a", "a", "b", "b", "c"]
PRED = [0, 0, 1, 2, 2, 2]


def test_hungarian_accuracy_uses_one_to_one_mapping():
    # Best mapping: 0->a (2 items), 2->b (2 items), 1->c (0 items) => 4/6.
    assert hungarian_accuracy(GOLD, PRED) == pytest.approx(4 / 6)


def test_precision_maps_each_cluster_to_its_majority_intent():
    # cluster 0: a,a -> 2; cluster 1: a -> 1; cluster 2: b,b,c -> 2 => 5/6.
    assert many_to_one_precision(GOLD, PRED) == pytest.approx(5 / 6)


def test_recall_maps_each_intent_to_its_majority_cluster():
    # a: 0 holds 2; b: 2 holds 2; c: 2 holds 1 => 5/6.
    assert many_to_one_recall(GOLD, PRED) == pytest.approx(5 / 6)


def test_perfect_clustering_scores_one_whatever_the_cluster_names():
    scores = score_clustering(GOLD, ["x", "x", "x", "y", "y", "z"])
    assert scores.as_dict() == {"acc": 1.0, "nmi": 1.0, "ari": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_nmi_and_ari_match_hand_computation():
    # Two gold classes of 2, one predicted cluster: no information, ARI 0.
    scores = score_clustering(["a", "a", "b", "b"], [0, 0, 0, 0])
    assert scores.nmi == pytest.approx(0.0)
    assert scores.ari == pytest.approx(0.0)
    # Gold {a,a,b,b}, predicted {0,1,0,1}: independent, NMI 0; pairs agreeing is below chance, ARI -0.5.
    scores = score_clustering(["a", "a", "b", "b"], [0, 1, 0, 1])
    assert scores.nmi == pytest.approx(0.0, abs=1e-12)
    assert scores.ari == pytest.approx(-0.5)


def test_nmi_partial_agreement_hand_worked():
    # Gold a,a,b,b; predicted 0,0,0,1. H(G)=ln2; H(P)=-(3/4 ln 3/4 + 1/4 ln 1/4);
    # I = H(G) - H(G|P) with H(G|P) = 3/4 * H(1/3, 2/3).
    h_g = math.log(2)
    h_p = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    h_g_given_p = 0.75 * -((1 / 3) * math.log(1 / 3) + (2 / 3) * math.log(2 / 3))
    expected = (h_g - h_g_given_p) / ((h_g + h_p) / 2)
    assert score_clustering(["a", "a", "b", "b"], [0, 0, 0, 1]).nmi == pytest.approx(expected)


def test_f1_is_harmonic_mean_of_many_to_one_precision_and_recall():
    scores = score_clustering(["a", "a", "b", "b"], [0, 0, 0, 0])
    # precision 2/4, recall 4/4 => F1 = 2*0.5*1/1.5
    assert scores.precision == pytest.approx(0.5)
    assert scores.recall == pytest.approx(1.0)
    assert scores.f1 == pytest.approx(2 / 3)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="gold has 2 labels but predicted has 1"):
        score_clustering(["a", "b"], [0])
