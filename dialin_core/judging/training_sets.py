"""Labelled clusters for training and measuring coherence judges, built from labelled utterances.

Random mixes of intents are the easy case; the clusters the discovery loop really judges come from
its clustering and mix *neighbouring* intents (card_arrival with card_delivery_estimate). So the
training set holds both: k-means clusterings of random subsets (several k, labelled by purity), pure
and randomly mixed clusters, and mixes of an intent with its nearest intents. Ward cuts, the loop's
default, are harder to judge than k-means clusters, and adding them to the training set did not help
on held-out Ward cuts (BENCHMARKS.md), so `loop_clusters` builds them for measurement only.

A cluster is good when one gold intent holds at least GOOD_PURITY of its members (an analyst would
accept it as that intent with a few strays to move) and, within a clustering, it holds at least
GOOD_COMPLETENESS of that intent's utterances. The second half matters: a fragment of an intent is
pure too, and a judge that calls fragments good makes the loop's good/bad ratio grow with k forever
(measured: it always chose k_max and returned five times too many clusters).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from dialin_core.clustering.algorithms import partitioner
from dialin_core.judging.cohesion import (
    CohesionModel,
    centroids,
    cluster_features,
    clustering_features,
    cohesion_estimator,
    fit_cohesion_model,
)

GOOD_PURITY = 0.9
GOOD_COMPLETENESS = 0.5
ClusterKind = Literal["ward", "kmeans", "pure", "random-mix", "neighbour-mix"]


@dataclass(frozen=True)
class LabelledCluster:
    members: np.ndarray  # row indices into the labelled utterances
    features: np.ndarray
    good: bool
    purity: float
    kind: ClusterKind


def purity(labels: Sequence[str]) -> float:
    """Share of the most common gold label among a cluster's members."""
    return Counter(labels).most_common(1)[0][1] / len(labels)


def completeness(members: np.ndarray, gold: np.ndarray, among: np.ndarray) -> float:
    """Share of the cluster's dominant intent, among the rows `among` that were clustered, that it holds."""
    dominant, count = Counter(gold[members].tolist()).most_common(1)[0]
    return count / int((gold[among] == dominant).sum())


def loop_clusters(
    vectors: np.ndarray, gold: np.ndarray, *, algorithm: str, subset_size: int, ks: Sequence[int], repeats: int, seed: int
) -> list[LabelledCluster]:
    """Clusters as the discovery loop meets them: Ward cuts or k-means (one restart) on random subsets."""
    rng = np.random.default_rng(seed)
    found: list[LabelledCluster] = []
    for repeat in range(repeats):
        subset = rng.choice(len(vectors), size=min(subset_size, len(vectors)), replace=False)
        # k-means with one restart: many cheap, varied clusterings rather than a few polished ones
        cut = partitioner(vectors[subset], algorithm, seed + repeat, kmeans_restarts=1)
        for k in ks:
            if k >= len(subset):
                continue
            labels = cut(k)
            ids, features = clustering_features(vectors[subset], labels)
            for cid, row in zip(ids, features):
                members = subset[labels == cid]
                if len(members) < 2:
                    continue
                share = purity(gold[members].tolist())
                good = share >= GOOD_PURITY and completeness(members, gold, subset) >= GOOD_COMPLETENESS
                found.append(LabelledCluster(members, row, good, share, algorithm))
    return found


def composed_clusters(
    vectors: np.ndarray, gold: np.ndarray, *, n_each: int, sizes: Sequence[int], seed: int
) -> list[LabelledCluster]:
    """Pure clusters, random mixes of 3-5 intents and mixes of an intent with its 1-3 nearest ones."""
    rng = np.random.default_rng(seed)
    intents = np.unique(gold)
    members_of = {intent: np.flatnonzero(gold == intent) for intent in intents}
    _, intent_centres = centroids(vectors, np.searchsorted(intents, gold))
    similarity = intent_centres @ intent_centres.T
    np.fill_diagonal(similarity, -np.inf)

    def build(chosen: np.ndarray, size: int, kind: ClusterKind) -> LabelledCluster:
        shares = rng.dirichlet(np.ones(len(chosen)) * 2) if len(chosen) > 1 else np.ones(1)
        counts = np.maximum(1, np.round(shares * size).astype(int))
        members = np.concatenate(
            [rng.choice(members_of[intents[i]], size=min(c, len(members_of[intents[i]])), replace=False) for i, c in zip(chosen, counts)]
        )
        others = np.delete(intent_centres, chosen, axis=0)
        share = purity(gold[members].tolist())
        return LabelledCluster(members, cluster_features(vectors[members], others), share >= GOOD_PURITY, share, kind)

    found: list[LabelledCluster] = []
    for _ in range(n_each):
        size = int(rng.choice(sizes))
        anchor = int(rng.integers(len(intents)))
        found.append(build(np.array([anchor]), size, "pure"))
        found.append(build(rng.choice(len(intents), size=int(rng.integers(3, 6)), replace=False), size, "random-mix"))
        neighbours = np.argsort(-similarity[anchor])[: int(rng.integers(1, 4))]
        found.append(build(np.concatenate([[anchor], neighbours]), size, "neighbour-mix"))
    return found


def training_clusters(vectors: np.ndarray, gold: np.ndarray, seed: int = 0) -> list[LabelledCluster]:
    """The default training mix: sizes and k chosen to span what a run on a few thousand utterances meets."""
    return [
        *loop_clusters(vectors, gold, algorithm="kmeans", subset_size=3000, ks=(30, 50, 80, 110, 150), repeats=3, seed=seed),
        *loop_clusters(vectors, gold, algorithm="kmeans", subset_size=1000, ks=(10, 20, 40), repeats=3, seed=seed + 100),
        *composed_clusters(vectors, gold, n_each=300, sizes=(8, 15, 25, 40, 80), seed=seed),
    ]


def cross_validated_auc(features: np.ndarray, good: np.ndarray, seed: int = 0) -> float:
    """Out-of-fold AUC of the cohesion model on its own training clusters."""
    model = cohesion_estimator()
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, features, good, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(good, scores))


def training_set(vectors: np.ndarray, gold: np.ndarray, source: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Features and good/bad labels of clusters built from labelled utterances, with what describes them."""
    if len(np.unique(gold)) < 5:
        raise ValueError(f"{source}: training a cohesion judge needs at least 5 distinct intents, found {len(np.unique(gold))}")
    clusters = training_clusters(vectors, gold, seed)
    features = np.stack([c.features for c in clusters])
    good = np.array([c.good for c in clusters])
    training = {
        "source": source,
        "good_rule": f"one gold intent holds >= {GOOD_PURITY:.0%} of the members and, in a clustering, "
        f">= {GOOD_COMPLETENESS:.0%} of that intent's utterances",
        "n_utterances": int(len(vectors)),
        "n_intents": int(len(np.unique(gold))),
        "n_clusters": int(len(clusters)),
        "n_good": int(good.sum()),
        "kinds": dict(Counter(c.kind for c in clusters)),
        "cross_validated_auc": round(cross_validated_auc(features, good, seed), 4),
    }
    return features, good, training


def train_cohesion_judge(
    vectors: np.ndarray, gold: np.ndarray, embedder: str, source: str, seed: int = 0
) -> CohesionModel:
    """Fit the cohesion judge on clusters built from labelled utterances (embedded by `embedder`)."""
    features, good, training = training_set(vectors, gold, source, seed)
    return fit_cohesion_model(features, good, embedder, training)
