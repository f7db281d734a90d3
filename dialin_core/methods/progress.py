"""A run's progress read back from its stored events: what the studio shows live and the summary keeps.

The events are the loop's own log (`run_events`), so the live view, a resumed run's summary and the
CLI all read one account of what happened.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dialin_core.data.store import LIVE_STATUSES, Store
from dialin_core.methods.registry import discovery_method

PHASE_FRACTIONS = {"embedding": 0.02, "clustering": 0.05, "assigning leftovers": 0.82, "naming": 0.88,
                   "proposing merges": 0.95, "done": 1.0}


@dataclass(frozen=True)
class Timing:
    """Seconds: since the run started, in its current phase, and an estimate of what the phase has left."""

    elapsed: float
    phase_elapsed: float
    phase_left: float | None  # None where nothing measured yet says (embedding, merging, a first iteration)

    def caption(self) -> str:
        left = f", about {_duration(self.phase_left)} left in it" if self.phase_left is not None else ""
        return f"{_duration(self.elapsed)} since it started; this phase {_duration(self.phase_elapsed)}{left}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


# The event that opens each phase; embedding opens with the run itself.
PHASE_OPENED_BY = {"assigning leftovers": "loop_stopped", "naming": "leftovers_assigned", "proposing merges": "clusters_named"}


def run_timing(phase: str, log: list[tuple[str, Any]], started: Any, now: Any, max_iterations: int,
               naming: tuple[int, int] = (0, 0), embedding: Sequence[tuple[Any, int, int]] = ()) -> Timing:
    """Elapsed time per phase from the events' timestamps, and what the phase has left at the pace it has
    kept so far: the loop by its mean iteration (an upper bound: it may stop before `max_iterations`),
    naming by its mean name (`naming`: clusters named so far, and to name), embedding by its pace between
    its first and last logged batch (`embedding`: (logged at, texts embedded, texts to embed) of one model's)."""
    seconds = lambda a, b: (b - a).total_seconds()  # noqa: E731
    if phase == "embedding" and len(embedding) >= 2 and embedding[-1][1] > embedding[0][1]:
        (first_at, first, _), (last_at, last, total) = embedding[0], embedding[-1]
        pace = seconds(first_at, last_at) / (last - first)
        return Timing(elapsed=seconds(started, now), phase_elapsed=seconds(started, now), phase_left=pace * (total - last))
    if phase == "clustering":
        opened = log[0][1] if log else started
    elif phase in PHASE_OPENED_BY:
        opened = max((t for k, t in log if k == PHASE_OPENED_BY[phase]), default=now)
    else:
        opened = started
    left = None
    done = [t for k, t in log if k == "iteration_done"]
    if phase == "clustering" and done:
        left = seconds(opened, done[-1]) / len(done) * max(0, max_iterations - len(done))
    named = [t for k, t in log if k == "cluster_named" and t >= opened]
    if phase == "naming" and named and naming[0]:
        left = seconds(opened, named[-1]) / naming[0] * max(0, naming[1] - naming[0])
    return Timing(elapsed=seconds(started, now), phase_elapsed=seconds(opened, now), phase_left=left)


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
    timing: Timing | None = None  # while the run is live
    detail: str = ""  # what the phase has done so far, where it says (naming: "12 of 79 named")

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
    for kind, phase in (("clusters_named", "proposing merges"), ("cluster_named", "naming"), ("leftovers_assigned", "naming"),
                        ("loop_stopped", "assigning leftovers"), ("candidate_judged", "clustering"),
                        ("space_reduced", "clustering"), ("sample_drawn", "clustering")):
        if kind in kinds:
            return phase
    return "embedding"


def run_progress(store: Store, run_id: int) -> Progress:
    run = store.run(run_id)
    events = store.events(run_id)
    config = run.config
    totals = [e["llm_calls_total"] for e in events if "llm_calls_total" in e]
    summary = run.summary or {}
    phase = _phase(run.status, [e["kind"] for e in events])
    max_iterations = config.max_iterations * (2 if config.separate_roles else 1)
    named = [e for e in events if e["kind"] == "cluster_named"]
    naming = (named[-1]["n_named"], named[-1]["n_to_name"]) if named else (0, 0)
    # the embedder being waited for (a run may embed with two: its own and the judge's)
    embedding = [e for e in events if e["kind"] == "texts_embedded"]
    model = embedding[-1]["model"] if embedding else None
    embedded = [e for e in embedding if e["model"] == model]
    timing = None
    if run.status in LIVE_STATUSES:
        log, now = store.event_times(run_id)  # the events' times, in the events' order
        pace = [(at, e["done"], e["total"]) for (kind, at), e in zip(log, events) if kind == "texts_embedded" and e["model"] == model]
        timing = run_timing(phase, log, store.run_times(run_id)[0], now, max_iterations, naming, pace)
    detail = ""
    if phase == "naming" and named:
        detail = f"{naming[0]} of {naming[1]} named by the LLM"
    elif phase == "embedding" and embedded:
        detail = f"{embedded[-1]['done']:,} of {embedded[-1]['total']:,} sentences embedded by {embedded[-1]['model']}"
    return Progress(
        status=run.status,
        phase=phase,
        iterations=iterations_from_events(events),
        stopped=[(e["role"], e["reason"]) for e in events if e["kind"] == "loop_stopped"],
        llm_calls=summary.get("llm_calls", totals[-1] if totals else 0),
        llm_budget=config.llm_call_budget if discovery_method(config.method).llm_budget else 0,
        error=summary.get("error"),
        max_iterations=max_iterations,
        timing=timing,
        detail=detail,
    )


def kept_clusters(store: Store, run_id: int) -> pd.DataFrame:
    """The clusters a run has kept so far, with their verdict evidence and sample sentences."""
    clusters = store.clusters(run_id)
    clusters = clusters[clusters["cluster_id"] >= 0].copy()
    # a method that stores no judge sample (a baseline) leaves the column NULL, which reads as None or pd.NA
    samples = clusters["sample"].map(lambda ids: [int(u) for u in ids] if isinstance(ids, (list, tuple, np.ndarray)) else [])
    shown = store.sentences(run_id, [u for ids in samples for u in ids])  # only the texts shown, not the data set's
    texts = dict(zip(shown["utterance_id"], shown["text"]))
    evidence = clusters["evidence"].map(lambda e: json.loads(e) if isinstance(e, str) else {})
    clusters["judged_by"] = evidence.map(lambda e: e.get("judged_by"))
    clusters["samples"] = samples.map(lambda ids: [texts.get(u, "") for u in ids])
    return clusters.drop(columns=["evidence", "sample"])
