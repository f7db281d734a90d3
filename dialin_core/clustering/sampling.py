"""Which sentences of a cluster the judge and the namer see: at most 20, chosen to represent it.

The Dial-In LLM paper (section 5.6, Figure 3) found convex sampling, the points that span the cluster in a
2-D projection, judges coherence better than random sampling: a mixed cluster shows its mix at the
edges, where random draws from the dense core hide it. Both samplers are pure functions of the
embeddings and a seed, so a run is reproducible.
"""

from typing import Protocol

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from sklearn.decomposition import PCA

MAX_SAMPLE = 20


class Sampler(Protocol):
    """Row indices (into `vectors`) of the representative members, at most `n`."""

    def __call__(self, vectors: np.ndarray, n: int, seed: int) -> np.ndarray: ...


def random_sample(vectors: np.ndarray, n: int = MAX_SAMPLE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(vectors), size=min(n, len(vectors)), replace=False))


def convex_sample(vectors: np.ndarray, n: int = MAX_SAMPLE, seed: int = 0) -> np.ndarray:
    """Hull vertices of the cluster's 2-D PCA projection, peeled layer by layer until `n` are taken.

    When one layer holds more vertices than are still wanted, an evenly spaced subset along the
    hull is taken, so the sample still goes all the way round.
    """
    if len(vectors) <= n:
        return np.arange(len(vectors))
    projected = PCA(n_components=2, random_state=seed).fit_transform(vectors)
    remaining = np.arange(len(vectors))
    chosen: list[int] = []
    while len(chosen) < n and len(remaining):
        layer = _hull_layer(projected[remaining])
        wanted = n - len(chosen)
        if len(layer) > wanted:
            layer = layer[np.linspace(0, len(layer), wanted, endpoint=False).astype(int)]
        chosen.extend(remaining[layer].tolist())
        remaining = np.delete(remaining, layer)
    return np.sort(np.array(chosen))


def _hull_layer(points: np.ndarray) -> np.ndarray:
    """Indices of the convex-hull vertices in order round the hull; all points when no hull exists."""
    if len(points) < 3:
        return np.arange(len(points))
    try:
        return ConvexHull(points).vertices
    except QhullError:  # all points on a line (e.g. duplicates): every one is on the "hull"
        return np.arange(len(points))


SAMPLERS: dict[str, Sampler] = {"convex": convex_sample, "random": random_sample}
