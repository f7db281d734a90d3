"""A run's progress read back from its stored events: what the studio shows live and the summary keeps.

The events are the loop's own log (`run_events`), so the live view, a resumed run's summary and the
CLI all read one account of what happened.
"""

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dialin_core.config import RunConfig
from dialin_core.store import Store

PHASE_FRACTIONS = {"embedding": 0.02, "clustering": 0.05, "assigning leftovers": 0.82, "naming": 0.88,
                   "proposing merges": 0.95, "done": 1.0}


@dataclass(frozen=True)
class Progress:
    status: str
    phase: str
    iterations: list[dict[str, Any]]  # role, iteration, candidates [...], chosen_k, n_kept, n_remaining
    stopped: list[tuple[str, str]]  # (role group, why its loop stopped)
    llm_calls: int
    llm_budget: int
    error: str | None
    max_iterations: int  # over all role groups

    @property
    def fraction(self) -> float:
        """How far along the run is, for a progress bar: the loop is most of it, the finishing steps the rest."""
        if self.phase == "clustering":
            done = sum("chosen_k" in i for i in self.iterations)
            return 0.05 + 0.75 * min(1.0, done / max(1, self.max_iterations))
        return PHASE_FRACTIONS[self.phase]

    def candidates_frame(self) -> pd.DataFrame:
        """One row per (role, iteration, candidate k): the good/bad counts the chart plots."""
        rows = [
            {"role": i["role"], "iteration": i["iteration"], **c, "chosen": c["k"] == i.get("chosen_k")}
            for i in self.iterations for c in i["candidates"]
        ]
        columns = ["role", "iteration", "k", "n_good", "n_bad", "ratio", "llm_calls", "escalated", "silhouette", "chosen"]
        return pd.DataFrame(rows, columns=columns)


def iterations_frame(iterations: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (role, iteration): the k it cut at, what it kept, what it left, and the clusters so far.

    The remainder (what the loop left when it stopped, clustered once more) is its own row.
    """
    rows, so_far = [], {}
    for i in iterations:
        if "chosen_k" not in i:
            continue  # under way
        so_far[i["role"]] = so_far.get(i["role"], 0) + i["n_kept"]
        chosen = next((c for c in i["candidates"] if c["k"] == i["chosen_k"]), {})
        rows.append({"role": i["role"], "iteration": i["iteration"], "step": "remainder" if i.get("remainder") else "loop",
                     "k": i["chosen_k"], "silhouette": chosen.get("silhouette"), "kept": i["n_kept"],
                     "remaining": i["n_remaining"], "clusters so far": so_far[i["role"]]})
    return pd.DataFrame(rows, columns=["role", "iteration", "step", "k", "silhouette", "kept", "remaining", "clusters so far"])


def iterations_from_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The loop's log grouped by (role, iteration): each candidate k judged, then the k chosen."""
    iterations: list[dict[str, Any]] = []
    for event in events:
        if event["kind"] == "candidate_judged":
            if not iterations or (iterations[-1]["role"], iterations[-1]["iteration"]) != (event["role"], event["iteration"]):
                iterations.append({"role": event["role"], "iteration": event["iteration"], "candidates": []})
            iterations[-1]["candidates"].append({k: event.get(k) for k in ("k", "n_good", "n_bad", "ratio", "llm_calls", "escalated", "silhouette")})
        elif event["kind"] == "iteration_done":
            iterations[-1].update(chosen_k=event["k"], n_kept=event["n_kept"], n_remaining=event["n_remaining"])
        elif event["kind"] == "remainder_kept":  # what the loop left, clustered once more with the judge's verdicts
            iterations.append({"role": event["role"], "iteration": event["iteration"], "candidates": [], "chosen_k": event["k"],
                               "n_kept": event["n_kept"], "n_remaining": event["n_remaining"], "remainder": True,
                               "n_good": event["n_good"]})
    return iterations


def _phase(status: str, kinds: list[str]) -> str:
    if status == "finished":
        return "done"
    for kind, phase in (("clusters_named", "proposing merges"), ("leftovers_assigned", "naming"),
                        ("loop_stopped", "assigning leftovers"), ("candidate_judged", "clustering"),
                        ("space_reduced", "clustering")):
        if kind in kinds:
            return phase
    return "embedding"


def run_progress(store: Store, run_id: int) -> Progress:
    run = store.run(run_id)
    events = store.events(run_id)
    config = RunConfig.from_dict(run["config"])
    totals = [e["llm_calls_total"] for e in events if "llm_calls_total" in e]
    summary = run["summary"] or {}
    return Progress(
        status=run["status"],
        phase=_phase(run["status"], [e["kind"] for e in events]),
        iterations=iterations_from_events(events),
        stopped=[(e["role"], e["reason"]) for e in events if e["kind"] == "loop_stopped"],
        llm_calls=summary.get("llm_calls", totals[-1] if totals else 0),
        llm_budget=config.llm_call_budget if config.method == "dialin" else 0,
        error=summary.get("error"),
        max_iterations=config.max_iterations * (2 if config.separate_roles else 1),
    )


def kept_clusters(store: Store, run_id: int) -> pd.DataFrame:
    """The clusters a run has kept so far, with their verdict evidence and sample sentences."""
    clusters = store.clusters(run_id)
    texts = store.utterance_texts(run_id)
    clusters = clusters[clusters["cluster_id"] >= 0].copy()
    evidence = clusters["evidence"].map(lambda e: json.loads(e) if isinstance(e, str) else {})
    clusters["judged_by"] = evidence.map(lambda e: e.get("judged_by"))
    clusters["samples"] = clusters["sample"].map(lambda ids: [texts.get(int(u), "") for u in (ids if ids is not None else [])])
    return clusters.drop(columns=["evidence", "sample"])
