"""The cohesion judge: features from embedding geometry, a calibrated model, training from labels."""

import numpy as np
import pytest

from dialin_core.judging.cohesion import (
    FEATURES,
    CohesionModel,
    cluster_features,
    clustering_features,
    default_model_path,
    load_cohesion_model,
    unit_rows,
)
from dialin_core.judging.training_sets import completeness, composed_clusters, loop_clusters, purity, train_cohesion_judge


def blobs(n_blobs: int, per_blob: int, spread: float, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around `n_blobs` random directions, and the blob of each."""
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.normal(size=(n_blobs, dim)))
    labels = np.repeat(np.arange(n_blobs), per_blob)
    return unit_rows(centres[labels] + spread * rng.normal(size=(len(labels), dim))), labels


def test_mean_pairwise_cosine_is_exact():
    vectors, _ = blobs(1, 30, 0.5)
    brute = (vectors @ vectors.T)[~np.eye(30, dtype=bool)].mean()
    assert cluster_features(vectors, np.empty((0, 32)))[FEATURES.index("mean_pairwise_cosine")] == pytest.approx(brute)


def test_a_pure_cluster_is_more_cohesive_than_a_mixed_one():
    vectors, labels = blobs(4, 25, 0.3)
    pure = cluster_features(vectors[labels == 0], vectors[labels != 0][:3])
    mixed = cluster_features(vectors[labels < 2], vectors[labels >= 2][:3])
    for feature in ("mean_pairwise_cosine", "mean_cosine_to_centroid", "mean_margin"):
        assert pure[FEATURES.index(feature)] > mixed[FEATURES.index(feature)]


def test_clustering_features_gives_one_row_per_cluster():
    vectors, labels = blobs(3, 10, 0.3)
    ids, features = clustering_features(vectors, labels)
    assert ids.tolist() == [0, 1, 2] and features.shape == (3, len(FEATURES))


def test_purity_and_completeness():
    gold = np.array(["a", "a", "a", "b", "a", "b"])
    assert purity(["a", "a", "b", "a"]) == 0.75
    assert completeness(np.array([0, 1]), gold, np.arange(6)) == 0.5


@pytest.mark.parametrize("algorithm", ["ward", "kmeans"])
def test_loop_clusters_are_labelled_good_only_when_pure_and_whole(algorithm):
    vectors, labels = blobs(6, 30, 0.2)
    gold = np.array([f"intent{i}" for i in labels])
    clusters = loop_clusters(vectors, gold, algorithm=algorithm, subset_size=180, ks=(6, 18), repeats=1, seed=0)
    assert {c.kind for c in clusters} == {algorithm}
    at_true_k = [c for c in clusters if len(c.members) >= 25]  # k = 6 on well separated blobs: whole intents
    assert at_true_k and all(c.good for c in at_true_k)
    fragments = [c for c in clusters if len(c.members) < 15]  # k = 18: thirds of intents, pure but partial
    assert fragments and not any(c.good for c in fragments)


def test_training_on_labelled_blobs_separates_pure_from_mixed_and_round_trips(tmp_path):
    vectors, labels = blobs(12, 40, 0.35)
    gold = np.array([f"intent{i}" for i in labels])
    model = train_cohesion_judge(vectors, gold, "toy-embedder", "blobs")
    assert model.training["cross_validated_auc"] > 0.8
    held_out = composed_clusters(vectors, gold, n_each=20, sizes=(15,), seed=7)
    pure = [c for c in held_out if c.kind == "pure"]
    mixed = [c for c in held_out if c.kind == "random-mix"]
    assert model.probability_good(np.stack([c.features for c in pure])).mean() > model.probability_good(
        np.stack([c.features for c in mixed])
    ).mean() + 0.3
    path = tmp_path / "judge.json"
    model.save(path)
    assert load_cohesion_model("toy-embedder", path) == model
    with pytest.raises(ValueError, match="trained on 'toy-embedder' embeddings"):
        load_cohesion_model("all-minilm-l6-v2", path)


def test_too_few_intents_to_train_is_a_clear_error():
    vectors, labels = blobs(3, 10, 0.3)
    with pytest.raises(ValueError, match="at least 5 distinct intents"):
        train_cohesion_judge(vectors, labels.astype(str), "toy", "tiny.csv")


def test_the_shipped_judge_loads_for_the_default_embedder_and_says_how_to_get_another():
    model = load_cohesion_model("all-minilm-l6-v2")
    assert isinstance(model, CohesionModel) and default_model_path("all-minilm-l6-v2").is_file()
    assert model.training["source"] == "train.csv" and model.training["cross_validated_auc"] > 0.7
    with pytest.raises(ValueError, match="train-judge"):
        load_cohesion_model("an-embedder-nobody-trained-a-judge-for")
