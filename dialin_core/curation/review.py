"""The analyst's review of a run: decisions recorded append-only, the current state derived from them.

A run's stored clusters and assignments are the engine's word and are never edited by a review. Each
analyst action is one row in `decisions` whose `after` holds everything needed to replay it, so the
current state is a fold of the active decisions over the run's output: a re-run never overwrites
human work, and undo is one more row (an `undo` naming the decision it cancels). Bulk actions are
one decision, so one undo takes back the whole selection.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dialin_core.clustering.vocabulary import NOISE, OUTLIER_NAME
from dialin_core.data.store import Store

VERDICTS = ("good", "bad")
STATUSES = ("open", "approved")
UNASSIGNED = NOISE
MAX_NAME_LENGTH = 80


class ReviewError(ValueError):
    """An action the analyst asked for that cannot apply; the message says why and nothing is stored."""


@dataclass(frozen=True)
class ReviewState:
    """Clusters as the analyst sees them now, each utterance's current cluster, and the merge proposals.

    `clusters` keeps the engine's verdict (`auto_verdict`) and name (`auto_name`) beside the current
    ones, so the export can say which labels a human set.
    """

    clusters: pd.DataFrame
    members: pd.DataFrame  # utterance_id, cluster_id
    proposals: pd.DataFrame

    def cluster(self, cluster_id: int) -> pd.Series:
        rows = self.clusters[self.clusters["cluster_id"] == cluster_id]
        if rows.empty:
            raise ReviewError(f"this run has no cluster {cluster_id}")
        return rows.iloc[0]

    def live_clusters(self) -> pd.DataFrame:
        """Clusters that still hold utterances, the unassigned pool excluded."""
        return self.clusters[(self.clusters["size"] > 0) & (self.clusters["cluster_id"] != UNASSIGNED)]


def active_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    """Decisions not taken back by an `undo`, in the order they were made; the undos themselves drop out."""
    if decisions.empty:
        return decisions
    undos = decisions[decisions["action"] == "undo"]
    undone = {json.loads(a)["decision_id"] for a in undos["after"]}
    keep = (decisions["action"] != "undo") & ~decisions["decision_id"].isin(undone)
    return decisions[keep].sort_values("decision_id")


def derive_state(
    clusters: pd.DataFrame, members: pd.DataFrame, proposals: pd.DataFrame, decisions: pd.DataFrame
) -> ReviewState:
    """Replay the active decisions over a run's output; a decision about a cluster that no longer exists
    (its creation was undone) changes nothing."""
    table = clusters.assign(
        auto_name=clusters["name"], auto_verdict=clusters["verdict"], status="open", origin="run"
    ).set_index("cluster_id", drop=False)
    membership = members.set_index("utterance_id")["cluster_id"].copy()
    proposal_table = proposals.set_index("proposal_id", drop=False).copy()
    for decision in active_decisions(decisions).itertuples():
        after = json.loads(decision.after)
        _apply(decision.action, after, table, membership, proposal_table)
    if (membership == UNASSIGNED).any() and UNASSIGNED not in table.index:
        table.loc[UNASSIGNED] = pd.Series({"cluster_id": UNASSIGNED, "name": OUTLIER_NAME, "status": "open", "origin": "run"})
    sizes = membership.value_counts()
    table["size"] = table["cluster_id"].map(sizes).fillna(0).astype(int)
    table["cluster_id"] = table["cluster_id"].astype(int)
    current = membership.rename("cluster_id").reset_index()
    return ReviewState(table.reset_index(drop=True), current, proposal_table.reset_index(drop=True))


def _apply(action: str, after: dict[str, Any], table: pd.DataFrame, membership: pd.Series, proposals: pd.DataFrame) -> None:
    present = [c for c in after.get("cluster_ids", []) if c in table.index]
    if action == "set_verdict":
        table.loc[present, "verdict"] = after["verdict"]
    elif action == "set_status":
        table.loc[present, "status"] = after["status"]
    elif action == "rename" and after["cluster_id"] in table.index:
        table.loc[after["cluster_id"], "name"] = after["name"]
    elif action == "new_cluster":
        table.loc[after["cluster_id"]] = pd.Series({
            "cluster_id": after["cluster_id"], "name": after["name"], "verdict": "good", "role": after.get("role"),
            "status": "open", "origin": "analyst", "auto_name": None, "auto_verdict": None,
        })
        membership.loc[after["utterance_ids"]] = after["cluster_id"]
    elif action == "move" and (after["cluster_id"] in table.index or after["cluster_id"] == UNASSIGNED):
        membership.loc[after["utterance_ids"]] = after["cluster_id"]
    elif action == "accept_merge":
        keeper = after["cluster_id"]
        others = [c for c in after["cluster_ids"] if c != keeper and c in table.index]
        if keeper in table.index:
            membership[membership.isin(others)] = keeper
            table.drop(index=others, inplace=True)
            table.loc[keeper, "name"] = after["name"]
            if "verdict" in after:  # decisions stored before merges chose a verdict kept the keeper's
                table.loc[keeper, "verdict"] = after["verdict"]
        proposals.loc[after["proposal_id"], ["status", "merged_name"]] = ["accepted", after["name"]]
    elif action == "reject_merge":
        proposals.loc[after["proposal_id"], "status"] = "rejected"


def review_state(store: Store, run_id: int, decisions: pd.DataFrame | None = None) -> ReviewState:
    """The current state; `decisions` when the caller has already read them for another purpose."""
    decisions = store.decisions(run_id) if decisions is None else decisions
    return derive_state(store.clusters(run_id), store.cluster_members(run_id), store.merge_proposals(run_id), decisions)


# -- actions: validate against the current state, then append one decision ----------------------------


def _analyst(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ReviewError("say who you are first: every decision is recorded with the analyst's name")
    return name


def _existing(state: ReviewState, cluster_ids: Sequence[int]) -> list[int]:
    ids = [int(c) for c in cluster_ids]
    if not ids:
        raise ReviewError("select at least one cluster")
    for cluster_id in ids:
        state.cluster(cluster_id)
    return ids


def _checked_name(state: ReviewState, name: str, renaming: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ReviewError("a cluster name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ReviewError(f"a cluster name has at most {MAX_NAME_LENGTH} characters, this one has {len(name)}")
    live = state.live_clusters()
    clash = live[(live["name"].fillna("").str.lower() == name.lower()) & (live["cluster_id"] != renaming)]
    if not clash.empty:
        raise ReviewError(f"cluster {int(clash['cluster_id'].iloc[0])} is already called '{name}'")
    return name


def set_verdict(store: Store, run_id: int, analyst: str, cluster_ids: Sequence[int], verdict: str) -> int:
    """Override the judge: a cluster marked bad goes back to re-clustering in a refined run."""
    return _set_field(store, run_id, analyst, cluster_ids, "verdict", verdict, VERDICTS)


def set_status(store: Store, run_id: int, analyst: str, cluster_ids: Sequence[int], status: str) -> int:
    """Approve clusters (kept as they are by a refined run), or reopen them."""
    return _set_field(store, run_id, analyst, cluster_ids, "status", status, STATUSES)


def _set_field(store: Store, run_id: int, analyst: str, cluster_ids: Sequence[int], field: str, value: str,
               allowed: Sequence[str]) -> int:
    """One decision setting `field` on a selection of clusters, with each one's former value."""
    if value not in allowed:
        raise ReviewError(f"a {field} is one of {', '.join(allowed)}, not '{value}'")
    state = review_state(store, run_id)
    ids = _existing(state, cluster_ids)
    before = {str(c): state.cluster(c)[field] for c in ids}
    return store.record_decision(run_id, analyst=_analyst(analyst), action=f"set_{field}", target=_clusters_target(ids),
                                 before={field: before}, after={"cluster_ids": ids, field: value})


def rename(store: Store, run_id: int, analyst: str, cluster_id: int, name: str) -> int:
    state = review_state(store, run_id)
    cluster_id = _existing(state, [cluster_id])[0]
    if cluster_id == UNASSIGNED:
        raise ReviewError("the unassigned pool cannot be renamed: move its sentences to a cluster instead")
    name = _checked_name(state, name, renaming=cluster_id)
    return store.record_decision(run_id, analyst=_analyst(analyst), action="rename", target=f"cluster:{cluster_id}",
                                 before={"name": state.cluster(cluster_id)["name"]}, after={"cluster_id": cluster_id, "name": name})


def _checked_utterances(state: ReviewState, utterance_ids: Sequence[int]) -> tuple[list[int], dict[str, int]]:
    ids = sorted({int(u) for u in utterance_ids})
    if not ids:
        raise ReviewError("select at least one sentence")
    current = state.members.set_index("utterance_id")["cluster_id"]
    unknown = [u for u in ids if u not in current.index]
    if unknown:
        raise ReviewError(f"this run has no utterance {unknown[0]}")
    return ids, {str(u): int(current[u]) for u in ids}


def move(store: Store, run_id: int, analyst: str, utterance_ids: Sequence[int], cluster_id: int) -> int:
    """Move sentences to another cluster, or to the unassigned pool (cluster -1)."""
    state = review_state(store, run_id)
    if cluster_id != UNASSIGNED:
        _existing(state, [cluster_id])
    ids, before = _checked_utterances(state, utterance_ids)
    return store.record_decision(run_id, analyst=_analyst(analyst), action="move", target=f"cluster:{cluster_id}",
                                 before={"clusters": before}, after={"utterance_ids": ids, "cluster_id": int(cluster_id)})


def new_cluster(store: Store, run_id: int, analyst: str, utterance_ids: Sequence[int], name: str) -> int:
    """A new cluster from selected sentences (a split, or a lasso on the map); returns its id."""
    decisions = store.decisions(run_id)
    state = review_state(store, run_id, decisions)
    ids, before = _checked_utterances(state, utterance_ids)
    name = _checked_name(state, name)
    cluster_id = int(max(state.clusters["cluster_id"].max(), _max_created(decisions)) + 1)
    sources = state.clusters.set_index("cluster_id")["role"].reindex(list(before.values())).dropna()
    role = sources.mode().iloc[0] if not sources.empty else None
    store.record_decision(run_id, analyst=_analyst(analyst), action="new_cluster", target=f"cluster:{cluster_id}",
                          before={"clusters": before},
                          after={"utterance_ids": ids, "cluster_id": cluster_id, "name": name, "role": role})
    return cluster_id


def _max_created(decisions: pd.DataFrame) -> int:
    """Ids of created clusters are never reused, even when their creation was undone."""
    made = decisions[decisions["action"] == "new_cluster"]
    return max((json.loads(a)["cluster_id"] for a in made["after"]), default=UNASSIGNED)


def merged_verdict(verdicts: list[str | None]) -> str:
    """The verdict a merge gives when the analyst does not choose one: good when any part was good.

    Accepting a merge says the parts are one intent; a good part makes it one the judge (or the analyst)
    found coherent, so a good and a bad give good, never silently bad. Only bad parts stay bad.
    """
    return "good" if "good" in verdicts else "bad"


def decide_merge(
    store: Store, run_id: int, analyst: str, proposal_id: int, accept: bool, name: str | None = None, verdict: str | None = None
) -> int:
    """Accept a proposal (its clusters fold into the largest, under `name` or the proposed one, with `verdict`
    or the one `merged_verdict` gives) or reject it."""
    if verdict is not None and verdict not in VERDICTS:
        raise ReviewError(f"a verdict is one of {', '.join(VERDICTS)}, not '{verdict}'")
    state = review_state(store, run_id)
    rows = state.proposals[state.proposals["proposal_id"] == proposal_id]
    if rows.empty:
        raise ReviewError(f"this run has no merge proposal {proposal_id}")
    proposal = rows.iloc[0]
    if proposal["status"] != "proposed":
        raise ReviewError(f"merge proposal {proposal_id} is already {proposal['status']}: undo that decision to change it")
    target = f"proposal:{proposal_id}"
    if not accept:
        return store.record_decision(run_id, analyst=_analyst(analyst), action="reject_merge", target=target,
                                     before={"status": "proposed"}, after={"proposal_id": int(proposal_id)})
    ids = [int(c) for c in proposal["cluster_ids"]]
    live = state.clusters.set_index("cluster_id")
    present = [c for c in ids if c in live.index]
    if len(present) < 2:
        raise ReviewError(f"merge proposal {proposal_id} has fewer than two of its clusters left")
    keeper = max(present, key=lambda c: live.loc[c, "size"])
    merged = name if name is not None else proposal["merged_name"]
    taken = ReviewState(state.clusters[~state.clusters["cluster_id"].isin(present)], state.members, state.proposals)
    merged = _checked_name(taken, merged)
    verdicts = [live.loc[c, "verdict"] if isinstance(live.loc[c, "verdict"], str) else None for c in present]
    return store.record_decision(
        run_id, analyst=_analyst(analyst), action="accept_merge", target=target,
        before={"names": {str(c): live.loc[c, "name"] for c in present}, "verdicts": {str(c): v for c, v in zip(present, verdicts)}},
        after={"proposal_id": int(proposal_id), "cluster_ids": present, "cluster_id": keeper, "name": merged,
               "verdict": verdict or merged_verdict(verdicts)},
    )


def undo(store: Store, run_id: int, analyst: str, decision_id: int | None = None) -> int:
    """Take back one decision: the given one, or the latest still active."""
    active = active_decisions(store.decisions(run_id))
    if active.empty:
        raise ReviewError("there is no decision to undo")
    if decision_id is None:
        decision_id = int(active["decision_id"].iloc[-1])
    elif decision_id not in set(active["decision_id"]):
        raise ReviewError(f"decision {decision_id} is not active: it was undone already, or it is not this run's")
    taken_back = active[active["decision_id"] == decision_id].iloc[0]
    return store.record_decision(run_id, analyst=_analyst(analyst), action="undo", target=f"decision:{decision_id}",
                                 before={"action": taken_back["action"], "target": taken_back["target"]},
                                 after={"decision_id": int(decision_id)})


def _clusters_target(ids: Sequence[int]) -> str:
    return "clusters:" + ",".join(str(c) for c in ids)
