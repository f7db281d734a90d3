"""The peers every quality figure stands beside: BERTopic and k-means given the true k, on the same vectors.

BERTopic is a bench dependency only (requirements-dev.txt); the product never imports it. It gets the
stored vectors (`embeddings=`), so it and our methods cluster exactly the same points, and runs with its
defaults (UMAP to 5-d, HDBSCAN with min_cluster_size 10, its own outlier topic -1), then once more with
`reduce_outliers(strategy="embeddings")`, which gives each outlier the topic of the nearest topic embedding,
as its documentation suggests for a partition without outliers.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans

from dialin_core.evaluation.metrics import score_clustering


@dataclass(frozen=True)
class PeerRow:
    label: str
    labels: np.ndarray
    seconds: float
    names: dict[int, str] | None = None  # a name per cluster, where the peer gives one (BERTopic's topic words)

    def summary(self, gold: Sequence[str]) -> dict:
        """The fields of a run summary that the bench tables print, so a peer row prints like a run's."""
        return {"metrics": score_clustering(gold, self.labels).as_dict(), "n_clusters": int(len(np.unique(self.labels))),
                "n_outliers": int((self.labels == -1).sum()), "n_utterances": int(len(self.labels)), "seconds": self.seconds,
                "llm_calls": 0, "llm_tokens": 0}

    def cells(self, gold: Sequence[str]) -> str:
        """ACC | NMI | ARI | clusters (true count) | seconds, as a markdown row's middle."""
        return score_cells(gold, self.labels, self.seconds)


def score_cells(gold: Sequence[str], labels: np.ndarray, seconds: float) -> str:
    m = score_clustering(gold, labels)
    n_gold = len(set(gold))
    n_clusters = len(np.unique(labels))
    return f"{m.acc:.3f} | {m.nmi:.3f} | {m.ari:.3f} | {n_clusters} ({n_clusters / n_gold:.2f}x) | {seconds:.1f}"


def kmeans_true_k(vectors: np.ndarray, n_gold: int, seed: int = 0) -> PeerRow:
    started = time.perf_counter()
    labels = KMeans(n_clusters=n_gold, n_init=10, random_state=seed).fit_predict(vectors)
    return PeerRow(f"k-means, true k = {n_gold}", labels, time.perf_counter() - started)


def bertopic_rows(texts: list[str], vectors: np.ndarray, seed: int = 0) -> list[PeerRow]:
    """BERTopic with its defaults, and the same topics after reduce_outliers; the outlier topic counts as a cluster.

    BERTopic's UMAP has no seed by default; it is seeded here through its own `umap_model` with BERTopic's
    default settings, so reruns of the bench give the same rows.
    """
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
    started = time.perf_counter()
    model = BERTopic(umap_model=umap_model)
    topics, _ = model.fit_transform(texts, embeddings=vectors)
    fitted = time.perf_counter() - started
    reduced = model.reduce_outliers(texts, topics, strategy="embeddings", embeddings=vectors)
    # its default topic labels: the topic's three leading c-TF-IDF words, which its users read as the topic's name
    words = {int(t): " ".join(w for w, _ in model.get_topic(t)[:3]) for t in model.get_topics()}
    return [
        PeerRow("BERTopic, defaults", np.asarray(topics), fitted, words),
        PeerRow("BERTopic, defaults + reduce_outliers", np.asarray(reduced), time.perf_counter() - started, words),
    ]
