"""Clustering quality against gold intents, as the papers it builds on and the DSTC11 intent-induction track report it.

ACC uses the Hungarian one-to-one matching (the usual intent-clustering ACC); precision and recall use
the DSTC11 many-to-one mappings in each direction, which, unlike ACC, do not punish a clustering for
splitting an intent into several clean clusters (precision) or for merging intents (recall).
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


@dataclass(frozen=True)
class ClusteringScores:
    acc: float
    nmi: float
    ari: float
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 6) for name, value in asdict(self).items()}


def hungarian_accuracy(gold: Sequence, predicted: Sequence) -> float:
    """Share of items whose cluster maps to their gold intent under the best one-to-one mapping."""
    table = contingency_matrix(gold, predicted)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def many_to_one_precision(gold: Sequence, predicted: Sequence) -> float:
    """Each predicted cluster takes its most frequent gold intent (cluster purity)."""
    table = contingency_matrix(gold, predicted)
    return float(table.max(axis=0).sum() / table.sum())


def many_to_one_recall(gold: Sequence, predicted: Sequence) -> float:
    """Each gold intent takes its most frequent predicted cluster (inverse purity)."""
    table = contingency_matrix(gold, predicted)
    return float(table.max(axis=1).sum() / table.sum())


def score_clustering(gold: Sequence, predicted: Sequence) -> ClusteringScores:
    """All reported metrics at once; gold and predicted are aligned label sequences."""
    if len(gold) != len(predicted):
        raise ValueError(f"gold has {len(gold)} labels but predicted has {len(predicted)}")
    if len(gold) == 0:
        raise ValueError("cannot score an empty clustering")
    gold_arr, pred_arr = np.asarray(gold, dtype=object).astype(str), np.asarray(predicted, dtype=object).astype(str)
    precision = many_to_one_precision(gold_arr, pred_arr)
    recall = many_to_one_recall(gold_arr, pred_arr)
    return ClusteringScores(
        acc=hungarian_accuracy(gold_arr, pred_arr),
        nmi=float(normalized_mutual_info_score(gold_arr, pred_arr)),
        ari=float(adjusted_rand_score(gold_arr, pred_arr)),
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / (precision + recall),
    )
