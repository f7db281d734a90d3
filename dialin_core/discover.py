"""The Dial-In loop (seed 001, Algorithm 1): cluster for several k, judge, keep the good, repeat.

Per iteration, over the still unassigned utterances: cluster for each candidate k (cuts of one Ward
tree by default, the seed's best clustering; k-means on request or past cluster.WARD_MAX_ROWS), judge every
cluster, choose the k with the best good/bad ratio, keep its good clusters and carry the rest into the
next iteration. The loop is a generator of events, one per step, and touches no storage: the caller
(`dialin_run`) persists each event as it comes, so the studio can watch it live and a killed run can
resume from `LoopState`.

Search-space pruning (seed section 5.6): the first iteration spans k_min..k_max geometrically; later
ones centre on the k the log predicts, previous best k scaled by how much of the data is left (the
same intent density), and try a few multiples around it.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from dialin_core.cascade import ClusterCase, ClusterJudge, Judgement, LLMBudgetExhausted
from dialin_core.cluster import NOISE, partitioner
from dialin_core.cohesion import clustering_features
from dialin_core.sampling import Sampler

PRUNED_MULTIPLES = (0.5, 0.7, 1.0, 1.4, 2.0)
MIN_MEAN_CLUSTER_SIZE = 4  # more clusters than n/4 makes clusters too small to judge


@dataclass(frozen=True)
class LoopSettings:
    k_min: int = 5
    k_max: int = 150
    n_candidates: int = 5
    max_iterations: int = 5
    judge_llm_calls: int = 400  # what judging may spend; naming has its own share of the run's budget
    min_remainder: int = 20  # stop when fewer utterances are left unassigned
    sample_size: int = 20
    min_cluster_size: int = 5  # smaller clusters are not intents to keep: judged bad without a look
    clustering: str = "ward"  # or "kmeans"; see cluster.partitioner
    seed: int = 0


@dataclass(frozen=True)
class KeptCluster:
    members: np.ndarray  # row indices into the loop's input
    sample: np.ndarray  # row indices of the representative sentences the judge saw
    iteration: int
    k: int
    judgement: Judgement


@dataclass
class LoopState:
    """Everything needed to continue: what was kept, and where the search space stood."""

    kept: list[KeptCluster] = field(default_factory=list)
    iteration: int = 1  # the next iteration to run
    previous: tuple[int, int] | None = None  # (best k, items clustered) of the last finished iteration

    def unassigned(self, n_items: int) -> np.ndarray:
        taken = np.zeros(n_items, dtype=bool)
        for cluster in self.kept:
            taken[cluster.members] = True
        return np.flatnonzero(~taken)


@dataclass(frozen=True)
class CandidateJudged:
    iteration: int
    k: int
    n_items: int
    n_good: int
    n_bad: int
    ratio: float
    llm_calls: int  # calls this candidate cost
    escalated: int  # clusters the LLM saw
    seconds: float
    kind: str = "candidate_judged"


@dataclass(frozen=True)
class IterationDone:
    iteration: int
    k: int
    ratio: float
    kept: tuple[KeptCluster, ...]
    n_remaining: int
    kind: str = "iteration_done"


@dataclass(frozen=True)
class LoopStopped:
    reason: str
    n_remaining: int
    kind: str = "loop_stopped"


LoopEvent = CandidateJudged | IterationDone | LoopStopped


def good_bad_ratio(judgements: Sequence[Judgement]) -> float:
    """The seed's criterion, #good / #bad, with #bad floored at 1 so an all-good clustering scores #good."""
    good = sum(j.good for j in judgements)
    return good / max(len(judgements) - good, 1)


def candidate_ks(n_items: int, settings: LoopSettings, previous: tuple[int, int] | None) -> list[int]:
    """The search space for one iteration: geometric at first, pruned around the predicted k later."""
    upper = max(2, min(settings.k_max, n_items // MIN_MEAN_CLUSTER_SIZE))
    lower = min(settings.k_min, upper)
    if previous is None:
        grid = np.geomspace(lower, upper, settings.n_candidates)
    else:
        best_k, n_before = previous
        predicted = best_k * n_items / n_before
        grid = predicted * np.array(PRUNED_MULTIPLES)
    return sorted({int(np.clip(round(k), 2, upper)) for k in grid})


def assign_leftovers(vectors: np.ndarray, labels: np.ndarray, min_cosine: float) -> np.ndarray:
    """Each NOISE row joins the cluster with the nearest centroid when the cosine reaches `min_cosine`."""
    labels = labels.copy()
    leftovers = np.flatnonzero(labels == NOISE)
    ids = np.unique(labels[labels != NOISE])
    if not len(leftovers) or not len(ids):
        return labels
    centres = np.stack([vectors[labels == c].mean(axis=0) for c in ids])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    similarity = vectors[leftovers] @ centres.T
    best = similarity.argmax(axis=1)
    close = similarity[np.arange(len(leftovers)), best] >= min_cosine
    labels[leftovers[close]] = ids[best[close]]
    return labels


def kept_labels(n_items: int, kept: Sequence[KeptCluster]) -> np.ndarray:
    """Cluster id per row, clusters numbered in the order they were kept; NOISE for the rest."""
    labels = np.full(n_items, NOISE)
    for cluster_id, cluster in enumerate(kept):
        labels[cluster.members] = cluster_id
    return labels


def _judge_candidate(
    vectors: np.ndarray, texts: Sequence[str], labels: np.ndarray, judge: ClusterJudge, sampler: Sampler,
    settings: LoopSettings, allowance: int,
) -> tuple[list[np.ndarray], list[np.ndarray], list[Judgement]]:
    """Members and samples (local row indices) and the judgement of each cluster of one clustering."""
    ids, features = clustering_features(vectors, labels)
    members = [np.flatnonzero(labels == c) for c in ids]
    samples = [m[sampler(vectors[m], settings.sample_size, settings.seed)] for m in members]
    judged = [i for i, m in enumerate(members) if len(m) >= settings.min_cluster_size]
    cases = [ClusterCase([texts[j] for j in samples[i]], features[i]) for i in judged]
    judgements = [Judgement(0.0, "size")] * len(members)
    for i, judgement in zip(judged, judge.judge_all(cases, allowance)):
        judgements[i] = judgement
    return members, samples, judgements


def dialin_loop(
    vectors: np.ndarray,
    texts: Sequence[str],
    judge: ClusterJudge,
    sampler: Sampler,
    settings: LoopSettings,
    llm_calls_used: Callable[[], int],
    state: LoopState | None = None,
) -> Iterator[LoopEvent]:
    """Run iterations until a stopping rule fires; `state` (mutated as it goes) continues an earlier run.

    `llm_calls_used` reports the calls spent so far, including those of earlier sessions of this run,
    so the budget holds across a resume.
    """
    state = state or LoopState()
    per_candidate = max(0, settings.judge_llm_calls // (settings.max_iterations * settings.n_candidates))
    while True:
        rows = state.unassigned(len(vectors))
        if state.iteration > settings.max_iterations:
            yield LoopStopped(f"reached {settings.max_iterations} iterations", len(rows))
            return
        if len(rows) < max(settings.min_remainder, 2 * settings.k_min, 4):
            yield LoopStopped(f"{len(rows)} utterances left, below the minimum remainder", len(rows))
            return
        best: tuple[float, int, list[np.ndarray], list[np.ndarray], list[Judgement]] | None = None
        started = time.perf_counter()
        local_vectors, local_texts = vectors[rows], [texts[i] for i in rows]
        cut = partitioner(local_vectors, settings.clustering, settings.seed)
        for k in candidate_ks(len(rows), settings, state.previous):
            calls_before = llm_calls_used()
            allowance = min(per_candidate, settings.judge_llm_calls - calls_before)
            try:
                members, samples, judgements = _judge_candidate(
                    local_vectors, local_texts, cut(k), judge, sampler, settings, allowance
                )
            except LLMBudgetExhausted as exhausted:
                yield LoopStopped(f"LLM call budget: {exhausted}", len(rows))
                return
            ratio = good_bad_ratio(judgements)
            n_good = sum(j.good for j in judgements)
            yield CandidateJudged(
                state.iteration, k, len(rows), n_good, len(judgements) - n_good, ratio,
                llm_calls_used() - calls_before, sum(j.llm is not None for j in judgements),
                time.perf_counter() - started,
            )
            started = time.perf_counter()
            if best is None or ratio > best[0]:
                best = (ratio, k, members, samples, judgements)
        ratio, k, members, samples, judgements = best
        kept = tuple(
            KeptCluster(rows[m], rows[s], state.iteration, k, j) for m, s, j in zip(members, samples, judgements) if j.good
        )
        if not kept:
            yield LoopStopped(f"no good cluster at any candidate k in iteration {state.iteration}", len(rows))
            return
        state.kept.extend(kept)
        state.previous = (k, len(rows))
        state.iteration += 1
        yield IterationDone(state.iteration - 1, k, ratio, kept, len(rows) - sum(len(c.members) for c in kept))
