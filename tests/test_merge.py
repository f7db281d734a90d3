"""Merge proposals from name embeddings: geodesic edges filtered by the vMF posterior."""

import numpy as np
import pytest

from dialin_core.naming.merge import geodesic_distances, propose_merges, same_intent_probabilities


def unit(*angles_degrees: float) -> np.ndarray:
    """Points on a great circle of the 3-sphere at the given angles."""
    radians = np.radians(angles_degrees)
    return np.column_stack([np.cos(radians), np.sin(radians), np.zeros(len(radians))])


def test_geodesic_distance_is_the_angle():
    distances = geodesic_distances(unit(0, 90, 180) * 3.0)  # scale must not matter
    assert distances[0, 1] == pytest.approx(np.pi / 2)
    assert distances[0, 2] == pytest.approx(np.pi)
    assert distances[1, 1] == pytest.approx(0.0, abs=1e-6)


def test_posterior_is_a_softmax_over_the_other_clusters():
    posterior = same_intent_probabilities(unit(0, 10, 90), kappa=10.0)
    cos = np.cos(np.radians([10, 90]))
    # Name 0 drawn from cluster 1's component, against cluster 2's: exp(k cos10) / (exp(k cos10) + exp(k cos90)).
    expected = np.exp(10 * cos[0]) / (np.exp(10 * cos[0]) + np.exp(10 * cos[1]))
    assert posterior[1, 0] == pytest.approx(expected)
    np.testing.assert_allclose(posterior.sum(axis=0), 1.0)
    assert np.all(np.diag(posterior) == 0)


def test_close_names_merge_and_distant_ones_do_not():
    proposals = propose_merges([10, 11, 20], unit(0, 5, 80), max_distance=0.3, kappa=20.0)
    assert [p.cluster_ids for p in proposals] == [(10, 11)]
    (edge,) = proposals[0].edges
    assert edge.distance == pytest.approx(np.radians(5))
    assert edge.probability > 0.9


def test_an_ambiguous_name_between_two_neighbours_is_not_merged():
    # Cluster 1 sits halfway between 0 and 2: both edges are short, but the posterior splits, so neither
    # reaches 0.5 in both directions.
    proposals = propose_merges([0, 1, 2], unit(0, 10, 20), max_distance=0.4, min_probability=0.5, kappa=20.0)
    assert proposals == []


def test_chains_of_edges_become_one_proposal():
    proposals = propose_merges([1, 2, 3, 4], unit(0, 4, 8, 90), max_distance=0.2, min_probability=0.2, kappa=50.0)
    assert [p.cluster_ids for p in proposals] == [(1, 2, 3)]


def test_inputs_must_line_up():
    with pytest.raises(ValueError, match="3 cluster ids but 2 name vectors"):
        propose_merges([1, 2, 3], unit(0, 1))
