"""Clustering back ends on data whose answer is known: well separated blobs on the unit sphere."""

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from dialin_core.clustering.algorithms import (
    NOISE,
    WARD_FROM_POINTS_UP_TO,
    AgglomerativeClusterer,
    HDBSCANClusterer,
    KMeansClusterer,
    choose_k_by_silhouette,
    map_2d,
    partitioner,
)


def blobs(k: int = 4, per: int = 30, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:k] * 5
    points = np.concatenate([c + rng.normal(scale=0.3, size=(per, dim)) for c in centres])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32), np.repeat(np.arange(k), per)


@pytest.mark.parametrize("clusterer", [KMeansClusterer(4), AgglomerativeClusterer(4)])
def test_k_clusterers_recover_separated_blobs(clusterer):
    points, truth = blobs()
    assert adjusted_rand_score(truth, clusterer.fit_predict(points)) == pytest.approx(1.0)


@pytest.mark.parametrize("dim", [5, 64])  # a tree from the points themselves (few dimensions), and from the distances
def test_one_ward_tree_gives_sklearn_wards_partition_at_every_k(dim):
    assert (dim <= WARD_FROM_POINTS_UP_TO) == (dim == 5)
    points, truth = blobs(k=4, per=30, dim=dim)
    cut = partitioner(points, "ward")
    assert adjusted_rand_score(truth, cut(4)) == pytest.approx(1.0)
    for k in (2, 7, 12):
        labels = cut(k)
        assert sorted(set(labels)) == list(range(k))
        assert adjusted_rand_score(AgglomerativeClustering(k, linkage="ward").fit_predict(points), labels) == pytest.approx(1.0)


def test_ward_falls_back_to_k_means_past_its_memory_bound(monkeypatch):
    points, _ = blobs(k=4, per=30)
    monkeypatch.setattr("dialin_core.clustering.algorithms.WARD_MAX_ROWS", len(points) - 1)
    assert np.array_equal(partitioner(points, "ward", seed=3)(5), KMeansClusterer(5, 3).fit_predict(points))


def test_an_unknown_loop_clustering_is_refused():
    with pytest.raises(ValueError, match="unknown loop clustering 'dbscan'.*ward, kmeans"):
        partitioner(np.eye(4, dtype=np.float32), "dbscan")


def test_hdbscan_finds_blobs_without_being_told_k():
    points, truth = blobs(k=3, per=40)
    labels = HDBSCANClusterer(min_cluster_size=10).fit_predict(points)
    kept = labels != NOISE
    assert kept.mean() > 0.8
    assert len(set(labels[kept])) == 3
    assert adjusted_rand_score(truth[kept], labels[kept]) > 0.95


def test_silhouette_picks_the_true_k():
    points, _ = blobs(k=5, per=20)
    choice = choose_k_by_silhouette(points, range(2, 10), KMeansClusterer)
    assert choice.k == 5
    assert set(choice.scores) == set(range(2, 10))
    assert len(set(choice.labels.tolist())) == 5


def test_silhouette_search_works_with_any_k_clusterer():
    points, _ = blobs(k=3, per=20)
    assert choose_k_by_silhouette(points, range(2, 7), AgglomerativeClusterer).k == 3


def test_silhouette_rejects_a_search_space_that_does_not_fit():
    points, _ = blobs(k=2, per=2)
    with pytest.raises(ValueError, match="no candidate k fits 4 utterances"):
        choose_k_by_silhouette(points, [10, 20], KMeansClusterer)


def test_map_2d_gives_one_point_per_row_even_for_tiny_inputs():
    points, _ = blobs(k=2, per=10)
    assert map_2d(points).shape == (20, 2)
    assert map_2d(points[:2]).shape == (2, 2)
