"""Representative sampling picks at most n members, reproducibly, and convex sampling spans the cluster."""

import numpy as np
import pytest

from dialin_core.clustering.sampling import SAMPLERS, convex_sample, random_sample


def ring_with_core(seed: int = 0) -> np.ndarray:
    """12 points on a wide ring around 88 points packed at the centre (in 2 of 8 dimensions)."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = np.column_stack([np.cos(angles), np.sin(angles)]) * 10
    core = rng.normal(scale=0.5, size=(88, 2))
    flat = np.vstack([ring, core])
    return np.hstack([flat, rng.normal(scale=0.01, size=(100, 6))])


@pytest.mark.parametrize("sampler", SAMPLERS.values())
def test_samplers_return_distinct_members_at_most_n_and_are_reproducible(sampler):
    vectors = ring_with_core()
    first = sampler(vectors, 20, 3)
    assert len(first) == 20 and len(set(first.tolist())) == 20
    assert first.min() >= 0 and first.max() < 100
    np.testing.assert_array_equal(first, sampler(vectors, 20, 3))


@pytest.mark.parametrize("sampler", SAMPLERS.values())
def test_small_clusters_are_shown_whole(sampler):
    vectors = ring_with_core()[:7]
    assert sorted(sampler(vectors, 20, 0).tolist()) == list(range(7))


def test_convex_sample_takes_the_outer_ring_first():
    chosen = convex_sample(ring_with_core(), 12)
    assert chosen.tolist() == list(range(12))


def test_convex_sample_peels_a_second_layer_when_the_hull_is_too_small():
    chosen = convex_sample(ring_with_core(), 20)
    assert set(range(12)) <= set(chosen.tolist())  # the ring, plus 8 from the core's own hull


def test_convex_sample_spreads_round_a_hull_larger_than_n():
    chosen = convex_sample(ring_with_core(), 4)
    ring_positions = sorted(chosen.tolist())
    assert all(i < 12 for i in ring_positions)
    assert np.diff(ring_positions).min() >= 2  # not four neighbours on one side


def test_convex_sample_survives_duplicate_sentences():
    vectors = np.tile(np.array([[1.0, 0.0, 0.0]]), (30, 1))
    assert len(convex_sample(vectors, 20)) == 20


def test_random_sample_is_a_subset_of_the_right_size():
    assert len(random_sample(np.zeros((50, 3)), 20, 1)) == 20
