"""The audit trail in words: each recorded decision as a sentence an analyst reads, with cluster names.

Decisions are stored as JSON keyed by ids (`dialin_core.curation.review`), which is what a replay needs; a reader
needs "ana renamed 'card issue' to 'report lost card'". Names come from the decision itself where it
recorded them (a rename's old name, a merge's parts) and otherwise from `names`, the run's cluster names
(the current ones, falling back to the engine's for clusters merged away).
"""

import json
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from dialin_core.curation.review import UNASSIGNED, ReviewState, active_decisions, review_state
from dialin_core.data.store import Store

COLUMNS = ["decision_id", "decided_at", "analyst", "decision", "active"]


def _quoted(name: Any) -> str:
    return f"'{name}'" if isinstance(name, str) and name else "an unnamed cluster"


def _clusters(ids: list[int], name_of: Callable[[int], str]) -> str:
    named = [name_of(int(c)) for c in ids]
    if len(named) > 4:
        return f"{len(named)} clusters ({', '.join(named[:3])}, …)"
    return ", ".join(named)


def _sentences(n: int) -> str:
    return "1 sentence" if n == 1 else f"{n} sentences"


def describe(action: str, before: dict[str, Any], after: dict[str, Any], name_of: Callable[[int], str],
             described: Mapping[int, str] | None = None) -> str:
    """One decision in words (without its analyst); `described` holds earlier decisions' words, for an undo."""
    if action in ("set_verdict", "set_status"):
        field = action.removeprefix("set_")
        value = after[field]
        verb = {"good": "marked", "bad": "marked", "approved": "approved", "open": "reopened"}[value]
        what = _clusters(after["cluster_ids"], name_of)
        return f"{verb} {what} {value}" if field == "verdict" else f"{verb} {what}"
    if action == "rename":
        return f"renamed {_quoted(before.get('name'))} to {_quoted(after['name'])}"
    if action == "move":
        target = "unassigned" if after["cluster_id"] == UNASSIGNED else name_of(after["cluster_id"])
        return f"moved {_sentences(len(after['utterance_ids']))} to {target}"
    if action == "new_cluster":
        return f"made the cluster {_quoted(after['name'])} from {_sentences(len(after['utterance_ids']))}"
    if action == "accept_merge":
        parts = before.get("names") or {}
        named = [_quoted(parts[str(c)]) if str(c) in parts else name_of(c) for c in after["cluster_ids"]]
        verdict = f", verdict {after['verdict']}" if "verdict" in after else ""
        return f"merged {', '.join(named)} into {_quoted(after['name'])}{verdict}"
    if action == "reject_merge":
        return f"rejected merge proposal {after['proposal_id']}"
    if action == "undo":
        taken_back = (described or {}).get(after["decision_id"], f"decision {after['decision_id']}")
        return f"took back: {taken_back}"
    return action.replace("_", " ")


def audit_trail(decisions: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame:
    """The run's decisions in order, each in words, with whether it still counts (not taken back)."""
    if decisions.empty:
        return pd.DataFrame(columns=COLUMNS)
    active = set(active_decisions(decisions)["decision_id"])
    name_of = lambda c: "unassigned" if c == UNASSIGNED else _quoted(names.get(int(c), f"cluster {c}"))  # noqa: E731
    words: dict[int, str] = {}
    rows = []
    for d in decisions.sort_values("decision_id").itertuples():
        before, after = json.loads(d.before or "{}"), json.loads(d.after or "{}")
        words[int(d.decision_id)] = text = describe(d.action, before, after, name_of, words)
        rows.append([int(d.decision_id), d.decided_at, d.analyst, text, int(d.decision_id) in active])
    return pd.DataFrame(rows, columns=COLUMNS)


def run_audit_trail(store: Store, run_id: int, state: ReviewState | None = None, decisions: pd.DataFrame | None = None) -> pd.DataFrame:
    """`audit_trail` of a run, named with its clusters' current names, the engine's for those merged away;
    `state` and `decisions` when the caller has read them already."""
    decisions = store.decisions(run_id) if decisions is None else decisions
    engine = store.clusters(run_id)
    current = (state or review_state(store, run_id, decisions)).clusters
    names = {**dict(zip(engine["cluster_id"].astype(int), engine["name"])), **dict(zip(current["cluster_id"].astype(int), current["name"]))}
    return audit_trail(decisions, names)
