"""What a reviewed run hands to the run that refines it: the clusters the analyst let stand.

A cluster stands when the analyst approved it, or its current verdict is good (the judge's, or the
analyst's override); a cluster marked bad, and every unassigned sentence, goes back to be clustered
again. Standing clusters keep their current members and names, so the analyst's moves, splits,
renames and merges carry into the new run.
"""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dialin_core.clustering.sampling import MAX_SAMPLE
from dialin_core.curation.review import UNASSIGNED, ReviewState


@dataclass(frozen=True)
class StandingCluster:
    source_id: int
    name: str | None
    role: str
    members: list[int]  # utterance ids, all of this role group
    sample: list[int]  # utterance ids the judge saw, still members; else the first members
    probability: float
    judged_by: str  # "analyst" when a human approved, overrode or made it


def standing_clusters(state: ReviewState, role_of: dict[int, str]) -> list[StandingCluster]:
    """The clusters that stand, each cut to the members of its majority role group (the others return)."""
    clusters = state.clusters[state.clusters["cluster_id"] != UNASSIGNED]
    stands = (clusters["status"] == "approved") | (clusters["verdict"] == "good")
    members = state.members.groupby("cluster_id")["utterance_id"].apply(list)
    standing = []
    for row in clusters[stands & (clusters["size"] > 0)].itertuples():
        ids = [int(u) for u in members.get(row.cluster_id, [])]
        role = pd.Series([role_of[u] for u in ids]).mode().iloc[0]
        ids = [u for u in ids if role_of[u] == role]
        stored = row.sample if isinstance(row.sample, (list, np.ndarray)) else []
        sample = [int(u) for u in stored if int(u) in set(ids)] or ids[:MAX_SAMPLE]
        human = row.status == "approved" or row.origin == "analyst" or row.verdict != row.auto_verdict
        evidence = json.loads(row.evidence) if isinstance(row.evidence, str) else {}
        standing.append(StandingCluster(
            source_id=int(row.cluster_id), name=row.name if isinstance(row.name, str) else None, role=role,
            members=ids, sample=sample, probability=1.0 if human else float(evidence.get("probability", row.probability)),
            judged_by="analyst" if human else evidence.get("judged_by", "run"),
        ))
    return standing
