"""How well cluster names say what the clusters hold, scored against gold intent names.

A name is right when, embedded, it lies nearer to the gold name of its cluster's majority intent than to
any other gold name; the score is the share of utterances in clusters with a right name. Embedding both
sides lets a name be right in other words (`inquire-balance` for `balance_query`) and in another language
(`查询-天气` for `weather.QUERY`, read by a multilingual model), and the nearest-of-all-gold rule means a
vague name (`request-help`) that is nearer to some other intent scores nothing, where a string match
would score either nothing or everything. Outliers are left out: they carry no name.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dialin_core.clustering.algorithms import NOISE
from dialin_core.naming.names import base_name, name_as_text


def gold_name_as_text(label: str) -> str:
    """`app.LAUNCH` reads as "app launch", `card_arrival` as "card arrival"."""
    return re.sub(r"[._\-\s]+", " ", label).strip().lower()


def cluster_name_as_text(name: str) -> str:
    return name_as_text(base_name(name))


@dataclass(frozen=True)
class NameScore:
    share: float  # of the scored utterances, those in a cluster whose name is nearest its majority gold name
    named_right: int  # clusters
    n_clusters: int

    def as_dict(self) -> dict[str, float | int]:
        return {"name_score": round(self.share, 4), "clusters_named_right": self.named_right, "clusters_scored": self.n_clusters}


def name_score(
    labels: Sequence[int], names: Mapping[int, str], gold: Sequence[str], embed: Callable[[list[str]], np.ndarray]
) -> NameScore:
    """Score the names of a clustering (`labels` per utterance, NOISE left out) against `gold` per utterance;
    `embed` turns texts into unit vectors (one model for both sides)."""
    frame = pd.DataFrame({"cluster": np.asarray(labels), "gold": list(gold)})
    frame = frame[frame["cluster"] != NOISE]
    if frame.empty:
        return NameScore(0.0, 0, 0)
    gold_names = sorted(frame["gold"].unique())
    majority = frame.groupby("cluster")["gold"].agg(lambda g: g.value_counts().index[0])
    clusters = majority.index.tolist()
    gold_vectors = embed([gold_name_as_text(g) for g in gold_names])
    name_vectors = embed([cluster_name_as_text(names[int(c)]) for c in clusters])
    nearest = np.asarray(gold_names)[(name_vectors @ gold_vectors.T).argmax(axis=1)]
    right = {c for c, near in zip(clusters, nearest) if near == majority[c]}
    return NameScore(float(frame["cluster"].isin(right).mean()), len(right), len(clusters))
