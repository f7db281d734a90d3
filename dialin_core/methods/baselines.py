"""One discovery run end to end over a stored data set: embed, cluster, name, persist.

The result is written to the workspace in one transaction at the end, and the run row records its
configuration, so every run in a workspace can be inspected and reproduced later.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dialin_core.clustering.algorithms import (
    NOISE,
    OUTLIER_NAME,
    AgglomerativeClusterer,
    Clusterer,
    HDBSCANClusterer,
    KMeansClusterer,
    choose_k_by_silhouette,
    map_2d,
)
from dialin_core.config import RunConfig
from dialin_core.data.store import Store
from dialin_core.embedding.adapted import check_embedder, embedder_for
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import Embedder
from dialin_core.evaluation.metrics import score_clustering
from dialin_core.methods.registry import RunHooks
from dialin_core.naming.keywords import keyword_names

MAP_POINTS = 50_000  # the most utterances a run places on the map (the studio is measured to 50,000)


@dataclass(frozen=True)
class RunResult:
    run_id: int
    assignments: pd.DataFrame  # utterance_id, text, frequency, gold_label, cluster_id, intent_name, x, y
    clusters: pd.DataFrame  # cluster_id, name, size, iteration, verdict, probability
    summary: dict[str, Any]


ClusterFunction = Callable[[np.ndarray, RunConfig], tuple[np.ndarray, dict[str, Any]]]


def _k_clustering(make: Callable[[int, int], Clusterer]) -> ClusterFunction:
    """A method with one k: the configured one, or the best silhouette over the configured search space."""

    def cluster(vectors: np.ndarray, config: RunConfig) -> tuple[np.ndarray, dict[str, Any]]:
        if config.k is not None:
            if config.k >= len(vectors):
                raise ValueError(f"k={config.k} needs more than {len(vectors)} utterances")
            return make(config.k, config.seed).fit_predict(vectors), {"k": config.k}
        choice = choose_k_by_silhouette(vectors, config.k_candidates(len(vectors)), lambda k: make(k, config.seed))
        return choice.labels, {"k": choice.k, "silhouette": {str(k): round(s, 5) for k, s in choice.scores.items()}}

    return cluster


def _hdbscan(vectors: np.ndarray, config: RunConfig) -> tuple[np.ndarray, dict[str, Any]]:
    return HDBSCANClusterer(min_cluster_size=config.min_cluster_size, seed=config.seed).fit_predict(vectors), {}


@dataclass(frozen=True)
class BaselineMethod:
    """A clustering of the embeddings with keyword names and no LLM: one pass, so a resumed run starts over."""

    name: str
    description: str
    cluster: ClusterFunction
    settings: frozenset[str] = frozenset({"k", "k_bounds"})
    follow_ups: frozenset[str] = frozenset()
    resumes: bool = False
    llm_budget: bool = False

    def validate(self, config: RunConfig) -> None:
        """Nothing beyond RunConfig's own checks: a baseline reads only the embedder, k and the seed."""

    def create(self, store: Store, dataset_id: int, config: RunConfig) -> int:
        return create_run(store, dataset_id, config)

    def complete(self, store: Store, run_id: int, hooks: RunHooks) -> "RunResult":
        return complete_run(store, run_id)

    def cost_estimate(self, config: RunConfig) -> str:
        return "no LLM calls"


BASELINES: tuple[BaselineMethod, ...] = (
    BaselineMethod("kmeans", "k-means on the embeddings", _k_clustering(lambda k, seed: KMeansClusterer(k, seed))),
    BaselineMethod("agglomerative", "Ward agglomerative clustering of the embeddings", _k_clustering(lambda k, seed: AgglomerativeClusterer(k))),
    BaselineMethod("hdbscan", "HDBSCAN on the embeddings: k follows from density, sparse points are outliers", _hdbscan,
                   settings=frozenset({"min_cluster_size"})),
)
_BY_NAME = {method.name: method for method in BASELINES}


def cluster_table(texts: list[str], labels: np.ndarray, language: str | None = "en") -> pd.DataFrame:
    names = keyword_names(texts, [int(x) for x in labels], language=language)
    ids, sizes = np.unique(labels, return_counts=True)
    return pd.DataFrame(
        {
            "cluster_id": ids.astype(int),
            "name": [OUTLIER_NAME if cid == NOISE else names[int(cid)] for cid in ids],
            "size": sizes.astype(int),
            "iteration": pd.array([None] * len(ids), dtype="Int64"),
            "verdict": pd.array([None] * len(ids), dtype="string"),
            "probability": np.full(len(ids), np.nan),
        }
    )


def run_discovery(
    store: Store, dataset_id: int, config: RunConfig, embedder: Embedder | None = None
) -> RunResult:
    """Run `config.method` on the data set's utterances (filtered by role) and store the result."""
    return complete_run(store, create_run(store, dataset_id, config), embedder)


def create_run(store: Store, dataset_id: int, config: RunConfig) -> int:
    """The run's row, once its data set is known to hold enough utterances; `complete_run` (a baseline) or
    the method's own `complete` does the work."""
    _utterances(store, dataset_id, config)
    check_embedder(store, config.embedder)
    return store.create_run(dataset_id, config.method, config.as_dict())


def _utterances(store: Store, dataset_id: int, config: RunConfig) -> pd.DataFrame:
    utterances = store.utterances(dataset_id, roles=config.roles or None)
    if len(utterances) < 3:
        raise ValueError(
            f"data set {dataset_id} has {len(utterances)} utterances"
            + (f" spoken by {', '.join(config.roles)}" if config.roles else "")
            + "; clustering needs at least 3"
        )
    return utterances


def complete_run(store: Store, run_id: int, embedder: Embedder | None = None) -> RunResult:
    """Cluster, name and store a created baseline run, from scratch: it has no steps worth resuming."""
    started = time.perf_counter()
    run = store.run(run_id)
    config = run.config
    utterances = _utterances(store, run.dataset_id, config)
    try:
        texts = utterances["text"].tolist()
        vectors = embed_texts(texts, embedder or embedder_for(store, config.embedder), store)
        labels, details = _BY_NAME[config.method].cluster(vectors, config)
        clusters = cluster_table(texts, labels, store.dataset_language(run.dataset_id))
        return store_result(store, run_id, utterances, vectors, labels, clusters, details, started)
    except BaseException as error:
        store.fail_run(run_id, f"{type(error).__name__}: {error}")
        raise


def store_result(
    store: Store, run_id: int, utterances: pd.DataFrame, vectors: np.ndarray, labels: np.ndarray, clusters: pd.DataFrame,
    details: dict[str, Any], started: float,
) -> RunResult:
    """A run's final clusters, assignments and summary, stored in one transaction; what a finished run returns."""
    config = store.run(run_id).config
    assignments = assignment_table(utterances, vectors, labels, clusters, config)
    summary = run_summary(assignments, details, config, time.perf_counter() - started)
    store.finish_run(run_id, clusters=clusters, assignments=assignments, summary=summary)
    return RunResult(run_id=run_id, assignments=assignments, clusters=clusters, summary=summary)


def assignment_table(
    utterances: pd.DataFrame, vectors: np.ndarray, labels: np.ndarray, clusters: pd.DataFrame, config: RunConfig,
    in_sample: np.ndarray | None = None,
) -> pd.DataFrame:
    """Each utterance with its cluster, intent name and map coordinates (NaN when the map is off, and for those
    the map leaves out past MAP_POINTS); `in_sample` marks the utterances the method clustered where it
    clustered a sample (`sampled`, NULL otherwise)."""
    coordinates = np.full((len(vectors), 2), np.nan)
    if config.with_map:
        placed = map_rows(len(vectors), in_sample, config.seed)
        coordinates[placed] = map_2d(vectors[placed], config.seed)
    assignments = utterances[["utterance_id", "text", "frequency", "gold_label"]].assign(
        cluster_id=labels.astype(int), x=coordinates[:, 0], y=coordinates[:, 1],
        sampled=pd.array(in_sample, dtype="boolean") if in_sample is not None else pd.NA,
    )
    assignments["intent_name"] = assignments["cluster_id"].map(dict(zip(clusters["cluster_id"], clusters["name"])))
    return assignments


def map_rows(n_rows: int, in_sample: np.ndarray | None, seed: int) -> np.ndarray:
    """Sorted rows the map places: all of them up to MAP_POINTS, else that many at random, the clustered
    sample's rows first (a 2-D UMAP of a million points would take hours; the map draws far fewer anyway)."""
    if n_rows <= MAP_POINTS:
        return np.arange(n_rows)
    priority = np.random.default_rng(seed).random(n_rows) - (in_sample if in_sample is not None else 0)
    return np.sort(np.argsort(priority)[:MAP_POINTS])


def run_summary(
    assignments: pd.DataFrame, details: dict[str, Any], config: RunConfig, seconds: float
) -> dict[str, Any]:
    """The figures every method reports; metrics only over utterances that carry a gold label."""
    labels = assignments["cluster_id"]
    summary: dict[str, Any] = {
        "method": config.method,
        "embedder": config.embedder,
        "n_utterances": int(len(assignments)),
        "n_clusters": int(labels[labels != NOISE].nunique()),
        "n_outliers": int((labels == NOISE).sum()),
        "llm_calls": 0,
        "seconds": round(seconds, 3),
        **details,
    }
    sampled = assignments.get("sampled")
    if sampled is not None and sampled.notna().any():
        summary["n_sampled"] = int(sampled.sum())
    placed = int(assignments["x"].notna().sum()) if "x" in assignments else 0
    if 0 < placed < len(assignments):
        summary["n_mapped"] = placed
    gold = assignments["gold_label"]
    labelled = assignments[gold.notna() & (gold != "")]
    if len(labelled):
        summary["metrics"] = score_clustering(labelled["gold_label"].tolist(), labelled["cluster_id"].tolist()).as_dict()
        summary["n_scored"] = int(len(labelled))
    return summary
