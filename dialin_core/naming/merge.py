"""Merge proposals for clusters whose names say the same intent (Dial-In LLM paper, section 3.3).

Late iterations of the discovery loop split one intent into several small clusters worded
differently; their names ("inquire-balance", "check-balance") stay close. Names are embedded onto the
unit hypersphere; a geodesic (angular) distance below `max_distance` proposes an edge; a von
Mises-Fisher mixture, one component per cluster name with a shared concentration `kappa` and uniform
weights, then gives the probability that one name was drawn from the other's component rather than
from any other cluster's; edges whose probability (the smaller of both directions) exceeds
`min_probability` are kept. Connected components of kept edges are the proposals. With a shared kappa
the vMF normalising constant cancels, so the posterior is a softmax of kappa * cosine.

Proposals are data: nothing is merged until the analyst (or `--auto-merge`) accepts them.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import softmax


@dataclass(frozen=True)
class MergeEdge:
    a: int  # cluster ids
    b: int
    distance: float  # geodesic distance of the two names, radians
    probability: float  # vMF posterior that they name one intent


@dataclass(frozen=True)
class MergeProposal:
    cluster_ids: tuple[int, ...]
    edges: tuple[MergeEdge, ...]


def geodesic_distances(vectors: np.ndarray) -> np.ndarray:
    """Angles between rows after projection onto the unit sphere."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.arccos(np.clip(unit @ unit.T, -1.0, 1.0))


def same_intent_probabilities(vectors: np.ndarray, kappa: float) -> np.ndarray:
    """P[i, j]: posterior that name j belongs to cluster i's vMF component, among all clusters but j."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    logits = kappa * (unit @ unit.T)
    np.fill_diagonal(logits, -np.inf)
    return softmax(logits, axis=0)


def propose_merges(
    cluster_ids: Sequence[int],
    name_vectors: np.ndarray,
    *,
    max_distance: float = 0.6,
    min_probability: float = 0.5,
    kappa: float = 20.0,
) -> list[MergeProposal]:
    """Groups of two or more clusters to merge, largest first, each with the evidence for its edges."""
    if len(cluster_ids) != len(name_vectors):
        raise ValueError(f"{len(cluster_ids)} cluster ids but {len(name_vectors)} name vectors")
    if len(cluster_ids) < 2:
        return []
    distances = geodesic_distances(name_vectors)
    posterior = same_intent_probabilities(name_vectors, kappa)
    edges = [
        MergeEdge(cluster_ids[i], cluster_ids[j], float(distances[i, j]), float(min(posterior[i, j], posterior[j, i])))
        for i in range(len(cluster_ids))
        for j in range(i + 1, len(cluster_ids))
        if distances[i, j] < max_distance and min(posterior[i, j], posterior[j, i]) > min_probability
    ]
    position = {cid: i for i, cid in enumerate(cluster_ids)}
    rows = [position[e.a] for e in edges]
    cols = [position[e.b] for e in edges]
    graph = coo_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(cluster_ids),) * 2)
    _, component = connected_components(graph, directed=False)
    proposals = []
    for label in np.unique(component):
        members = tuple(cluster_ids[i] for i in np.flatnonzero(component == label))
        if len(members) > 1:
            member_set = set(members)
            proposals.append(MergeProposal(members, tuple(e for e in edges if e.a in member_set)))
    return sorted(proposals, key=lambda p: (-len(p.cluster_ids), p.cluster_ids))
