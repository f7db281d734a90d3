"""The Dial-In loop ("Dial-In LLM: Human-Aligned LLM-in-the-loop Intent Clustering for Customer Service
Dialogues", Algorithm 1): cluster for several k, judge, keep the good, repeat.

Per iteration, over the still unassigned utterances: cluster for each candidate k (cuts of one Ward
tree by default, the paper's best clustering; k-means on request or past cluster.WARD_MAX_ROWS), judge every
cluster, choose the k with the best good/bad ratio, keep its good clusters and carry the rest into the
next iteration. The loop is a generator of events, one per step, and touches no storage: the caller
(`methods.dialin`) persists each event as it comes, so the studio can watch it live and a killed run can
resume from `LoopState`.

Where the loop clusters: by default on a UMAP reduction of the embeddings (5 dimensions, the manifold
BERTopic clusters), while the judge keeps reading the full vectors. On the same MiniLM vectors a Ward
cut of the manifold at a given k scores 5-8 ACC points above the same cut of the raw 384-d space
(BENCHMARKS.md); the caller reduces once and passes the coordinates in, so a resumed run clusters the
same points.

How k is chosen (`k_choice`):
- "silhouette" (default): the first iteration cuts the tree at SILHOUETTE_GRID k between k_min and
  k_max and takes the centre of the silhouette's plateau in the clustering space (the k scoring within
  SILHOUETTE_TOLERANCE, a share of the best score, of the best: see `plateau_centre`); later iterations take the k
  the log predicts (previous k scaled by how much of the data is left: the same intent density). A
  coherence judge sees a fragment of an intent as a good cluster, so the paper's good/bad ratio always
  grows with k and picks the largest candidate (measured: 150 of 5..150 in every first iteration on
  BANKING77); the silhouette rewards the gaps between intents instead, and the judge decides only what
  is kept and what is clustered again.
- "ratio": the Dial-In paper's criterion (Algorithm 1), the k with the best #good/#bad, over
  `n_candidates` k per iteration; later iterations centre on the predicted k (section 5.6).

With `keep_remainder`, what is still unassigned when the loop stops (its last iteration done, or no
good cluster found) is clustered once more and kept as clusters the judge did not accept, so the
analyst reviews them instead of finding them all under "outlier".
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import silhouette_score

from dialin_core.clustering.algorithms import NOISE, SILHOUETTE_SAMPLE, partitioner
from dialin_core.clustering.sampling import MAX_SAMPLE, Sampler
from dialin_core.config import RunConfig
from dialin_core.judging.cascade import ClusterCase, ClusterJudge, Judgement, LLMBudgetExhausted
from dialin_core.judging.cohesion import clustering_features

PRUNED_MULTIPLES = (0.5, 0.7, 1.0, 1.4, 2.0)
MIN_MEAN_CLUSTER_SIZE = 4  # more clusters than n/4 makes clusters too small to judge
SILHOUETTE_GRID = 24  # candidate k of a first iteration chosen by silhouette: cheap cuts of one tree
SILHOUETTE_TOLERANCE = 0.05  # a share of the best silhouette: k scoring this close are one plateau (see plateau_centre)


@dataclass(frozen=True)
class LoopSettings:
    """What the loop reads of a run's configuration; the defaults are RunConfig's, declared there once."""

    k_min: int = RunConfig.k_min
    k_max: int = RunConfig.k_max
    n_candidates: int = RunConfig.n_candidates
    max_iterations: int = RunConfig.max_iterations
    # What judging may spend; naming has its own share of the run's budget. A run derives it from its budget
    # (RunConfig.judging_calls); the loop used alone is bounded only by what its judge spends.
    judge_llm_calls: int = 400
    min_remainder: int = RunConfig.min_remainder  # stop when fewer utterances are left unassigned
    sample_size: int = MAX_SAMPLE
    min_cluster_size: int = RunConfig.min_intent_size  # smaller clusters are not intents to keep: judged bad without a look
    clustering: str = RunConfig.loop_clustering  # see clustering.algorithms.partitioner
    k_choice: str = RunConfig.loop_k_choice  # see the module docstring
    # Judging calls split evenly over iterations and candidates (the cascade's few escalations); False: each
    # clustering may spend all that is left (a judge that must see every cluster, as the Dial-In paper's LLM judge does).
    spread_judging: bool = True
    keep_remainder: bool = RunConfig.keep_remainder  # cluster what is left when the loop stops, kept with the judge's (bad) verdicts
    seed: int = RunConfig.seed

    @classmethod
    def of(cls, config: RunConfig) -> "LoopSettings":
        """The loop's settings for a run."""
        return cls(
            k_min=config.k_min,
            k_max=config.k_max,
            n_candidates=config.n_candidates,
            max_iterations=config.max_iterations,
            judge_llm_calls=config.judging_calls,
            spread_judging=config.judge != "llm",
            min_remainder=config.min_remainder,
            min_cluster_size=config.min_intent_size,
            clustering=config.loop_clustering,
            k_choice=config.loop_k_choice,
            keep_remainder=config.keep_remainder,
            seed=config.seed,
        )


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
    silhouette: float | None = None  # in the clustering space, when it chose k
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
class RemainderKept:
    """The still unassigned utterances, clustered once more when the loop stopped; verdicts as judged."""

    iteration: int
    k: int
    kept: tuple[KeptCluster, ...]
    n_remaining: int
    kind: str = "remainder_kept"


@dataclass(frozen=True)
class LoopStopped:
    reason: str
    n_remaining: int
    kind: str = "loop_stopped"


LoopEvent = CandidateJudged | IterationDone | RemainderKept | LoopStopped


def good_bad_ratio(judgements: Sequence[Judgement]) -> float:
    """The paper's criterion, #good / #bad, with #bad floored at 1 so an all-good clustering scores #good."""
    good = sum(j.good for j in judgements)
    return good / max(len(judgements) - good, 1)


def candidate_ks(n_items: int, settings: LoopSettings, previous: tuple[int, int] | None) -> list[int]:
    """The search space for one iteration: geometric at first, around the predicted k later (one k when
    the silhouette chose the first: the intent density it found carries over)."""
    upper = _largest_k(n_items, settings)
    if previous is None:
        grid = np.geomspace(min(settings.k_min, upper), upper,
                            SILHOUETTE_GRID if settings.k_choice == "silhouette" else settings.n_candidates)
        return sorted({int(np.clip(round(k), 2, upper)) for k in grid})
    if settings.k_choice == "silhouette":
        return [predicted_k(n_items, settings, previous)]
    best_k, n_before = previous
    return sorted({int(np.clip(round(best_k * n_items / n_before * m), 2, upper)) for m in PRUNED_MULTIPLES})


def predicted_k(n_items: int, settings: LoopSettings, previous: tuple[int, int] | None) -> int:
    """The k of the same intent density as the last finished iteration (its k scaled by the share of data
    left): a silhouette loop's later iterations, and the remainder's cut however the earlier k were chosen."""
    upper = _largest_k(n_items, settings)
    if previous is None:
        return min(settings.k_min, upper)
    best_k, n_before = previous
    return int(np.clip(round(best_k * n_items / n_before), 2, upper))


def _largest_k(n_items: int, settings: LoopSettings) -> int:
    return max(2, min(settings.k_max, n_items // MIN_MEAN_CLUSTER_SIZE))


def silhouette_choice(points: np.ndarray, cut: Callable[[int], np.ndarray], ks: Sequence[int], seed: int) -> tuple[int, float]:
    """The k at the centre of the silhouette's plateau (`plateau_centre`) and its (Euclidean) silhouette, each k
    scored on one fixed sample. A k whose cut has a single cluster scores -1."""
    sample = min(SILHOUETTE_SAMPLE, len(points))

    def score(k: int) -> float:
        labels = cut(k)
        n_labels = len(np.unique(labels))
        return float(silhouette_score(points, labels, sample_size=sample, random_state=seed)) if 2 <= n_labels < len(points) else -1.0

    scores = {k: score(k) for k in ks}
    chosen = plateau_centre(scores)
    return chosen, scores[chosen] if chosen in scores else score(chosen)


def plateau_centre(scores: dict[int, float], tolerance: float = SILHOUETTE_TOLERANCE) -> int:
    """The k the silhouette's plateau points at: the geometric mean of the k scoring within `tolerance` (a share
    of the best score) of the best, each weighted by how far it scores above that floor, so a k at the edge
    counts for little and the choice moves smoothly with the tolerance.

    Why not the best k itself: on a UMAP manifold of intents the silhouette is flat over a wide range (within 5%
    of the best from 40 to 150 clusters for BANKING77's 77 intents) and the same k scores 0.01-0.02 apart between
    UMAP seeds, so its argmax is noise, and it fell at the plateau's low end (62 for 77 intents). Where one k
    stands out (well separated intents) the plateau is that k alone.
    """
    best = max(scores.values())
    floor = best - abs(best) * tolerance
    weights = {k: s - floor for k, s in scores.items() if s > floor}
    if len(weights) <= 1:
        return min(k for k, s in scores.items() if s == best)
    return int(round(float(np.exp(np.average(np.log(list(weights)), weights=list(weights.values()))))))


def assign_leftovers(vectors: np.ndarray, labels: np.ndarray, min_cosine: float, chunk: int = 65_536) -> np.ndarray:
    """Each NOISE row joins the cluster with the nearest centroid (its prototype) when the cosine reaches
    `min_cosine`, else stays NOISE. Rows are compared `chunk` at a time: a million rows against a thousand
    prototypes would be a 4 GB matrix at once."""
    labels = labels.copy()
    leftovers = np.flatnonzero(labels == NOISE)
    kept = labels != NOISE
    ids, members = np.unique(labels[kept], return_inverse=True)
    if not len(leftovers) or not len(ids):
        return labels
    centres = np.zeros((len(ids), vectors.shape[1]))
    np.add.at(centres, members, vectors[kept])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    centres = centres.astype(vectors.dtype)
    for start in range(0, len(leftovers), chunk):
        rows = leftovers[start : start + chunk]
        similarity = vectors[rows] @ centres.T
        best = similarity.argmax(axis=1)
        close = similarity[np.arange(len(rows)), best] >= min_cosine
        labels[rows[close]] = ids[best[close]]
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
    coordinates: np.ndarray | None = None,
) -> Iterator[LoopEvent]:
    """Run iterations until a stopping rule fires; `state` (mutated as it goes) continues an earlier run.

    `vectors` (unit rows) are what the judge reads; `coordinates`, one row per vector, are where the
    loop clusters (None: the vectors themselves). `llm_calls_used` reports the calls spent so far,
    including those of earlier sessions of this run, so the budget holds across a resume.
    """
    state = state or LoopState()
    points = vectors if coordinates is None else coordinates
    by_silhouette = settings.k_choice == "silhouette"
    judged_per_iteration = 1 if by_silhouette else settings.n_candidates
    per_candidate = (settings.judge_llm_calls // (settings.max_iterations * judged_per_iteration)
                     if settings.spread_judging else settings.judge_llm_calls)
    while True:
        rows = state.unassigned(len(vectors))
        if len(rows) < max(settings.min_remainder, 2 * settings.k_min, 4):
            yield LoopStopped(f"{len(rows)} utterances left, below the minimum remainder", len(rows))
            return
        started = time.perf_counter()
        local_vectors, local_texts = vectors[rows], [texts[i] for i in rows]
        if state.iteration > settings.max_iterations:
            if settings.keep_remainder:
                cut = partitioner(points[rows], settings.clustering, settings.seed)
                k = predicted_k(len(rows), settings, state.previous)
                allowance = min(per_candidate, max(0, settings.judge_llm_calls - llm_calls_used()))
                try:
                    members, samples, judgements = _judge_candidate(local_vectors, local_texts, cut(k), judge, sampler, settings, allowance)
                except LLMBudgetExhausted as exhausted:
                    yield LoopStopped(f"LLM call budget: {exhausted}", len(rows))
                    return
                yield from _keep_remainder(state, rows, k, members, samples, judgements, settings)
            yield LoopStopped(f"reached {settings.max_iterations} iterations", len(state.unassigned(len(vectors))))
            return
        cut = partitioner(points[rows], settings.clustering, settings.seed)
        ks = candidate_ks(len(rows), settings, state.previous)
        silhouette = None
        if by_silhouette and len(ks) > 1:
            chosen, silhouette = silhouette_choice(points[rows], cut, ks, settings.seed)
            ks = [chosen]
        best: tuple[float, int, list[np.ndarray], list[np.ndarray], list[Judgement]] | None = None
        for k in ks:
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
                time.perf_counter() - started, silhouette,
            )
            started = time.perf_counter()
            if best is None or ratio > best[0]:
                best = (ratio, k, members, samples, judgements)
        ratio, k, members, samples, judgements = best
        kept = tuple(
            KeptCluster(rows[m], rows[s], state.iteration, k, j) for m, s, j in zip(members, samples, judgements) if j.good
        )
        if not kept:
            if settings.keep_remainder:
                yield from _keep_remainder(state, rows, k, members, samples, judgements, settings)
            yield LoopStopped(f"no good cluster at any candidate k in iteration {state.iteration}", len(state.unassigned(len(vectors))))
            return
        state.kept.extend(kept)
        state.previous = (k, len(rows))
        state.iteration += 1
        yield IterationDone(state.iteration - 1, k, ratio, kept, len(rows) - sum(len(c.members) for c in kept))


def _keep_remainder(
    state: LoopState, rows: np.ndarray, k: int, members: list[np.ndarray], samples: list[np.ndarray],
    judgements: list[Judgement], settings: LoopSettings,
) -> Iterator[RemainderKept]:
    """Keep every cluster of the remainder's clustering big enough to be an intent, whatever its verdict."""
    kept = tuple(
        KeptCluster(rows[m], rows[s], state.iteration, k, j)
        for m, s, j in zip(members, samples, judgements) if len(m) >= settings.min_cluster_size
    )
    if kept:
        state.kept.extend(kept)
        yield RemainderKept(state.iteration, k, kept, len(rows) - sum(len(c.members) for c in kept))
