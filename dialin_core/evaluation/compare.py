"""Two runs on one data set side by side: how many clusters each found, how far their assignments agree,
and how each scores against gold intents when the data has them.

Both runs are read as the analyst sees them now (engine output plus decisions, `review.review_state`), so
comparing a reviewed run with a fresh one shows what the review changed too. Agreement is over the
utterances both runs assigned: adjusted Rand index and NMI between the two partitions (a partition
compared with itself scores 1), and, per cluster of the first run, the cluster of the second that holds
most of its utterances, from their contingency table.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from dialin_core.clustering.algorithms import NOISE
from dialin_core.curation.review import review_state
from dialin_core.data.store import Store
from dialin_core.evaluation.goodness import run_goodness
from dialin_core.evaluation.metrics import score_clustering


@dataclass(frozen=True)
class RunComparison:
    runs: pd.DataFrame  # one row per run: run_id, method, n_utterances, n_clusters, n_outliers, acc, nmi, ... when gold exists
    agreement: dict[str, Any]  # n_shared, ari, nmi
    overlap: pd.DataFrame  # per cluster of the first run: its best-matching cluster of the second and the share it holds


def _current_assignments(store: Store, run_id: int) -> pd.DataFrame:
    """utterance_id, cluster_id, name, gold_label of a finished run as the analyst sees it now."""
    run = store.run(run_id)
    if run.status != "finished":
        raise ValueError(f"run {run_id} is {run.status}: only finished runs can be compared")
    state = review_state(store, run_id)
    names = dict(zip(state.clusters["cluster_id"], state.clusters["name"]))
    gold = store.utterances(run.dataset_id).set_index("utterance_id")["gold_label"]
    members = state.members.assign(name=lambda f: f["cluster_id"].map(names))
    return members.assign(gold_label=members["utterance_id"].map(gold))


def _run_row(store: Store, run_id: int, members: pd.DataFrame) -> dict[str, Any]:
    labels = members["cluster_id"]
    row: dict[str, Any] = {
        "run_id": run_id, "method": store.run(run_id).method, "n_utterances": len(members),
        "n_clusters": int(labels[labels != NOISE].nunique()), "n_outliers": int((labels == NOISE).sum()),
    }
    labelled = members[members["gold_label"].notna() & (members["gold_label"] != "")]
    if len(labelled):
        row |= score_clustering(labelled["gold_label"].tolist(), labelled["cluster_id"].tolist()).as_dict()
    return row


def compare_runs(store: Store, first: int, second: int, goodness: bool = False) -> RunComparison:
    """The comparison of two finished runs over the same data set; a clear error otherwise. With `goodness`,
    each run's row also holds its goodness by a judge neither run used (`dialin_core.evaluation.goodness`)."""
    if store.run(first).dataset_id != store.run(second).dataset_id:
        raise ValueError(f"runs {first} and {second} cluster different data sets: compare runs of one data set")
    a, b = _current_assignments(store, first), _current_assignments(store, second)
    shared = a.merge(b, on="utterance_id", suffixes=("_a", "_b"))
    if shared.empty:
        raise ValueError(f"runs {first} and {second} assign no utterance in common")
    agreement = {
        "n_shared": int(len(shared)),
        "ari": float(adjusted_rand_score(shared["cluster_id_a"], shared["cluster_id_b"])),
        "nmi": float(normalized_mutual_info_score(shared["cluster_id_a"], shared["cluster_id_b"])),
    }
    rows = pd.DataFrame([_run_row(store, first, a), _run_row(store, second, b)])
    if goodness:
        scored = [run_goodness(store, first, a), run_goodness(store, second, b)]
        rows["goodness"] = [g.share if g else None for g in scored]
        rows["goodness_judge"] = [g.judge if g else None for g in scored]
    return RunComparison(rows, agreement, _overlap(shared))


def _overlap(shared: pd.DataFrame) -> pd.DataFrame:
    """Per cluster of the first run, largest first: the second run's cluster holding most of it, and how much."""
    rows_a, a_index = np.unique(shared["cluster_id_a"], return_inverse=True)
    cols_b, b_index = np.unique(shared["cluster_id_b"], return_inverse=True)
    table = contingency_matrix(a_index, b_index)
    best = table.argmax(axis=1)
    name_a = dict(zip(shared["cluster_id_a"], shared["name_a"]))
    name_b = dict(zip(shared["cluster_id_b"], shared["name_b"]))
    sizes = table.sum(axis=1)
    frame = pd.DataFrame({
        "cluster": [name_a[c] for c in rows_a], "size": sizes,
        "best_match": [name_b[cols_b[j]] for j in best], "share_in_best_match": table[np.arange(len(rows_a)), best] / sizes,
    })
    return frame.sort_values("size", ascending=False, kind="stable").reset_index(drop=True)
