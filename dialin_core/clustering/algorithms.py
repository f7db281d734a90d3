"""Clustering back ends behind one protocol, k selection by silhouette, and 2-D maps for views.

The discovery loop and the baselines only ever call `fit_predict`, so swapping k-means for
agglomerative or HDBSCAN is a configuration change, not a code change.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import AgglomerativeClustering, KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from tqdm import tqdm

from dialin_core.clustering.vocabulary import LOOP_CLUSTERINGS, LOOP_SPACES, NOISE, OUTLIER_NAME  # noqa: F401 (read from here too)

MINIBATCH_ABOVE = 20_000  # past this many points full k-means is too slow for a laptop
SILHOUETTE_SAMPLE = 5_000  # silhouette is quadratic in n: score larger inputs on a fixed random sample
WARD_MAX_ROWS = 20_000  # Ward's tree costs time quadratic in n (and n^2/2 distances past WARD_FROM_POINTS_UP_TO); k-means beyond
# Ward's tree is built from the points themselves (fastcluster's nearest-neighbour chain on vectors: memory linear in
# n) up to this many dimensions, the loop's UMAP space among them; from the n^2/2 pairwise distances (scipy) above it,
# where the distance pass is the faster one. On 20,000 of the loop's 5-d points the two gave the same partitions at
# every k tried, the first in 1.9 s and 68 MiB, the second in 25 s and 3.1 GB (`bench/ward_tree.py`); at 8,000
# points they break even near 64 dimensions (BENCHMARKS.md).
WARD_FROM_POINTS_UP_TO = 32


class Clusterer(Protocol):
    """Assigns each row of a unit-normalised embedding matrix to a cluster id (or NOISE)."""

    def fit_predict(self, vectors: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class KMeansClusterer:
    k: int
    seed: int = 0
    n_init: int = 10

    def fit_predict(self, vectors: np.ndarray) -> np.ndarray:
        if len(vectors) > MINIBATCH_ABOVE:
            model = MiniBatchKMeans(n_clusters=self.k, random_state=self.seed, n_init=3, batch_size=4096)
        else:
            model = KMeans(n_clusters=self.k, random_state=self.seed, n_init=self.n_init)
        return model.fit_predict(vectors)


@dataclass(frozen=True)
class AgglomerativeClusterer:
    k: int
    linkage: str = "average"

    def fit_predict(self, vectors: np.ndarray) -> np.ndarray:
        model = AgglomerativeClustering(n_clusters=self.k, metric="cosine", linkage=self.linkage)
        return model.fit_predict(vectors)


def partitioner(vectors: np.ndarray, algorithm: str, seed: int = 0, kmeans_restarts: int = 10) -> Callable[[int], np.ndarray]:
    """Labels of the same rows at any k, for a loop that tries several k over one set of rows.

    Ward: one hierarchical tree, built once and cut at each k, so five candidate k cost one clustering
    instead of five. The Dial-In LLM paper found hierarchical clustering best; here it also lifts BANKING77 NMI by
    ~0.02 over k-means inside the loop (BENCHMARKS.md). Ward needs the full distance matrix, so larger
    inputs fall back to k-means, fitted with `kmeans_restarts` initialisations.
    """
    if algorithm not in LOOP_CLUSTERINGS:
        raise ValueError(f"unknown loop clustering '{algorithm}': choose one of {', '.join(LOOP_CLUSTERINGS)}")
    if algorithm == "ward" and len(vectors) <= WARD_MAX_ROWS:
        tree = ward_tree(vectors)
        return lambda k: fcluster(tree, min(k, len(vectors)), criterion="maxclust") - 1
    return lambda k: KMeansClusterer(k, seed, n_init=kmeans_restarts).fit_predict(vectors)


def ward_tree(points: np.ndarray) -> np.ndarray:
    """Ward's hierarchical tree of `points` as a scipy linkage matrix, built the cheaper way for their dimension."""
    if points.shape[1] <= WARD_FROM_POINTS_UP_TO:
        import fastcluster

        return fastcluster.linkage_vector(points.astype(np.float64), method="ward")
    return linkage(points.astype(np.float64), method="ward")


@dataclass(frozen=True)
class HDBSCANClusterer:
    """Density clustering on a UMAP reduction, the BERTopic recipe: HDBSCAN fails on raw 384-d vectors."""

    min_cluster_size: int = 10
    min_samples: int | None = None
    reduce_to: int = 10
    seed: int = 0

    def fit_predict(self, vectors: np.ndarray) -> np.ndarray:
        import hdbscan

        reduced = reduce_dimensions(vectors, self.reduce_to, self.seed) if vectors.shape[1] > self.reduce_to else vectors
        model = hdbscan.HDBSCAN(min_cluster_size=self.min_cluster_size, min_samples=self.min_samples)
        return model.fit_predict(reduced)


@dataclass(frozen=True)
class SilhouetteChoice:
    k: int
    labels: np.ndarray  # the clustering at the chosen k, so it need not be fitted again
    scores: dict[int, float]


def choose_k_by_silhouette(
    vectors: np.ndarray, candidates: Iterable[int], make_clusterer: Callable[[int], Clusterer]
) -> SilhouetteChoice:
    """The DSTC11 intent-induction baseline: the k whose clustering has the best cosine silhouette.

    Every candidate is scored on the same sample of points, so the comparison between k stays fair.
    """
    usable = [k for k in candidates if 2 <= k < len(vectors)]
    if not usable:
        raise ValueError(f"no candidate k fits {len(vectors)} utterances (need 2 <= k < n)")
    scores: dict[int, float] = {}
    best: tuple[int, np.ndarray] | None = None
    for k in tqdm(usable, desc="silhouette k", disable=None):
        labels = make_clusterer(k).fit_predict(vectors)
        scores[k] = float(
            silhouette_score(
                vectors, labels, metric="cosine", sample_size=min(SILHOUETTE_SAMPLE, len(vectors)), random_state=0
            )
        )
        if best is None or scores[k] > scores[best[0]]:
            best = (k, labels)
    return SilhouetteChoice(k=best[0], labels=best[1], scores=scores)


def reduce_dimensions(vectors: np.ndarray, n_components: int, seed: int = 0) -> np.ndarray:
    """UMAP with cosine distance; small inputs get fewer neighbours so UMAP stays valid."""
    import umap

    n_neighbors = max(2, min(15, len(vectors) - 1))
    reducer = umap.UMAP(
        n_components=n_components, n_neighbors=n_neighbors, metric="cosine", min_dist=0.0, random_state=seed
    )
    return reducer.fit_transform(vectors)


def loop_coordinates(vectors: np.ndarray, space: str, dimensions: int, seed: int = 0) -> np.ndarray | None:
    """The points the Dial-In loop clusters (one of LOOP_SPACES, checked by the run's configuration): a UMAP
    reduction of the unit vectors, or None where the loop clusters the vectors themselves.

    UMAP to a few dimensions with min_dist 0 (BERTopic's recipe) keeps each intent's neighbourhood and
    opens gaps between intents that Ward's variance criterion then finds. Inputs too small for UMAP's
    spectral layout are clustered as they are.
    """
    if space == "embedding" or len(vectors) <= dimensions + 2 or vectors.shape[1] <= dimensions:
        return None
    return reduce_dimensions(vectors, dimensions, seed).astype(np.float32)


def map_2d(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """Coordinates for the cluster map; tiny inputs are laid out on a line rather than failing."""
    if len(vectors) < 4:
        return np.column_stack([np.arange(len(vectors), dtype=float), np.zeros(len(vectors))])
    return reduce_dimensions(vectors, 2, seed)
