"""A labelgen run over a stored data set (Text Clustering as Classification with LLMs), and the combined mode over a Dial-In run's leftovers.

The run is stored like any other (clusters named by their labels, one assignment per utterance), so the
studio's Review, Map, Merges and Export pages and the analyst's decisions work on it. Each stage is an
event in `run_events` with the LLM calls and tokens spent so far; a re-run costs no new calls, because
every answer is in the workspace's call cache.

Combined mode: a finished Dial-In run leaves utterances no kept cluster took (`-1 / outlier`). Labelgen
labels them with the run's intents shown as labels to reuse; a new label that only rewords an existing
intent folds into it, and each leftover is classified among the existing intents and the new ones, so
new intents surface instead of being forced into old clusters. The result is a new run: the source
run's clusters as the analyst left them, plus the new intents.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from dialin_core.clustering.algorithms import NOISE, OUTLIER_NAME
from dialin_core.config import RunConfig
from dialin_core.curation.review import ReviewState, review_state
from dialin_core.data.store import Store
from dialin_core.embedding.adapted import embedder_for
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import Embedder
from dialin_core.llm.backends import open_backend
from dialin_core.llm.base import LLMBackend
from dialin_core.llm.cache import CachedLLM
from dialin_core.methods.baselines import RunResult, create_run, store_result
from dialin_core.methods.label_generation import (
    LabelgenSettings,
    classify,
    generate_labels,
    label_prototypes,
    merge_labels,
    min_members,
    refine_prototypes,
)
from dialin_core.methods.registry import RunHooks
from dialin_core.naming.names import name_as_text, scheme_for

SAMPLE_SIZE = 10  # member utterances stored with each cluster for the studio to show


def approved_names(store: Store, run_id: int) -> list[str]:
    """The names of the clusters an analyst approved in a run: the example labels the paper gives the LLM."""
    clusters = review_state(store, run_id).live_clusters()
    return sorted(clusters.loc[clusters["status"] == "approved", "name"].dropna().unique())


@dataclass(frozen=True)
class LabelgenMethod:
    """Label generation (Text Clustering as Classification with LLMs): the LLM writes labels over mini-batches
    and classifies every utterance into them, so k follows from the labels; a resumed run starts over."""

    name: str = "labelgen"
    description: str = "the LLM writes labels and classifies every utterance into them (no k)"
    settings: frozenset[str] = frozenset({"llm", "labelgen"})
    follow_ups: frozenset[str] = frozenset({"leftovers_of"})
    resumes: bool = False
    llm_budget: bool = False

    def validate(self, config: RunConfig) -> None:
        if config.llm == "none":
            raise ValueError("the labelgen method has an LLM label and classify the utterances: choose --llm local or openai")
        if config.k is not None:
            raise ValueError("the labelgen method needs no k: the labels it generates are the clusters; drop --k")

    def create(self, store: Store, dataset_id: int, config: RunConfig) -> int:
        return create_run(store, dataset_id, config)

    def complete(self, store: Store, run_id: int, hooks: RunHooks) -> RunResult:
        return complete_labelgen_run(store, run_id)

    def cost_estimate(self, config: RunConfig) -> str:
        return f"about one LLM call per {config.labelgen_batch} utterances (more with a sure margin)"


LABELGEN = LabelgenMethod()


def run_labelgen(
    store: Store, dataset_id: int, config: RunConfig, *, embedder: Embedder | None = None, backend: LLMBackend | None = None
) -> RunResult:
    """Start a labelgen run on a data set and take it to the end."""
    return complete_labelgen_run(store, create_run(store, dataset_id, config), embedder=embedder, backend=backend)


def create_leftover_run(store: Store, source_run_id: int, overrides: dict[str, Any] | None = None) -> int:
    """A labelgen run over the leftovers of a finished Dial-In run; `complete_labelgen_run` works it."""
    source = store.run(source_run_id)
    if source.method != "dialin" or source.status != "finished":
        raise ValueError(f"run {source_run_id} is a {source.status} {source.method} run: leftovers come from a finished dialin run")
    if not (review_state(store, source_run_id).members["cluster_id"] == NOISE).any():
        raise ValueError(f"run {source_run_id} has no leftovers: every utterance is in a cluster")
    config = replace(source.config, method="labelgen", k=None, refine_of=None, roles_from=None, auto_merge=False,
                     leftovers_of=source_run_id, **(overrides or {}))
    return create_run(store, source.dataset_id, config)


def complete_labelgen_run(
    store: Store, run_id: int, *, embedder: Embedder | None = None, backend: LLMBackend | None = None
) -> RunResult:
    """Generate, merge and classify, storing an event per stage and the final clusters."""
    started = time.perf_counter()
    run = store.run(run_id)
    config = run.config
    try:
        utterances = store.utterances(run.dataset_id, roles=config.roles or None)
        llm = CachedLLM(backend or open_backend(config.llm, config.llm_model), store)
        embedder = embedder or embedder_for(store, config.embedder)
        texts = utterances["text"].tolist()
        vectors = embed_texts(texts, embedder, store)
        source = review_state(store, config.leftovers_of) if config.leftovers_of is not None else None
        labels, names, details = _label(store, run_id, llm, texts, vectors, utterances["utterance_id"].to_numpy(), source, config, embedder)
        clusters = _cluster_table(labels, names, set(details.get("kept_from_source", ())), utterances["utterance_id"].to_numpy())
        calls = llm.counts.calls + llm.counts.cached_calls
        details |= {"llm": config.llm, "llm_model": llm.backend.model, "llm_calls": calls,
                    "llm_tokens": llm.counts.prompt_tokens + llm.counts.completion_tokens,
                    "llm_counts_this_session": llm.counts.as_dict(), "llm_calls_per_utterance": round(calls / len(texts), 4)}
        return store_result(store, run_id, utterances, vectors, labels, clusters, details, started)
    except BaseException as error:
        store.fail_run(run_id, f"{type(error).__name__}: {error}")
        raise


def _label(
    store: Store, run_id: int, llm: CachedLLM, texts: list[str], vectors: np.ndarray, utterance_ids: np.ndarray,
    source: ReviewState | None, config: RunConfig, embedder: Embedder,
) -> tuple[np.ndarray, dict[int, str], dict[str, Any]]:
    """Cluster ids per utterance and the name of each id: an existing cluster's id (combined mode) or a new
    label's id from 0 (or from after the source run's largest id), largest new cluster first."""
    settings = LabelgenSettings.of(config)
    labels = np.full(len(texts), NOISE)
    existing: dict[str, int] = {}
    rows = np.arange(len(texts))
    if source is not None:
        live = source.live_clusters().sort_values("size", ascending=False)
        existing = dict(zip(live["name"], live["cluster_id"].astype(int)))
        member_of = dict(zip(source.members["utterance_id"], source.members["cluster_id"]))
        labels = np.array([member_of.get(int(u), NOISE) for u in utterance_ids])
        rows = np.flatnonzero(labels == NOISE)
    examples = list(existing) or list(config.example_labels)

    def record(payload: dict[str, Any]) -> None:
        counts = llm.counts
        store.save_step(run_id, {**payload, "llm_calls_total": counts.calls + counts.cached_calls,
                                 "llm_tokens_total": counts.prompt_tokens + counts.completion_tokens})

    def name_vectors(names: list[str]) -> np.ndarray:
        return embed_texts([name_as_text(n) for n in names], embedder, store)

    subset = [texts[i] for i in rows]
    proposals = generate_labels(llm, subset, settings, examples, scheme_for(store.dataset_language(store.run(run_id).dataset_id)))
    proposed = Counter(proposals.values())
    record({"kind": "labels_generated", "n_items": len(subset), "n_labels": len(proposed), "labels": dict(proposed.most_common())})
    if not proposed and not existing:
        raise ValueError(f"the LLM ({llm.backend.model}) proposed no action-objective label for any of {len(subset)} utterances")
    merged = merge_labels(proposed, name_vectors, fixed=list(existing))
    candidates = sorted(set(merged.values()))
    index = {label: i for i, label in enumerate(candidates)}
    name_of = {cid: name for name, cid in existing.items()}
    owners = np.array([index.get(name_of.get(int(c), ""), -1) for c in labels])
    owners[rows[list(proposals)]] = [index[merged[label]] for label in proposals.values()]
    prototypes, kept = refine_prototypes(
        vectors, label_prototypes(vectors, owners, name_vectors(candidates)), np.isin(candidates, list(existing)),
        min_members(len(texts), settings.min_share),
    )
    n_merged, candidates = len(candidates), [candidates[i] for i in kept]
    record({"kind": "labels_merged", "n_labels": n_merged, "n_kept": len(candidates), "merged": {k: v for k, v in merged.items() if k != v}})
    result = classify(llm, subset, vectors[rows], candidates, prototypes, settings)
    chosen = [candidates[i] for i in result.label_index]
    new_labels = [label for label, _ in Counter(c for c in chosen if c not in existing).most_common()]
    next_id = max(existing.values(), default=-1) + 1
    label_id = {**existing, **{label: next_id + i for i, label in enumerate(new_labels)}}
    labels[rows] = [label_id[c] for c in chosen]
    record({"kind": "utterances_classified", "n_items": len(subset), "asked_llm": int(result.asked_llm.sum()),
            "off_list": result.off_list, "n_new_intents": len(new_labels)})
    details = {"labels_proposed": len(proposed), "labels_after_merge": n_merged, "labels_kept": len(candidates),
               "asked_llm": int(result.asked_llm.sum()),
               "off_list": result.off_list, "example_labels": examples}
    if source is not None:
        details |= {"leftovers_of": config.leftovers_of, "n_leftovers": len(subset), "n_new_intents": len(new_labels),
                    "joined_existing": int(sum(c in existing for c in chosen)), "kept_from_source": sorted(existing.values())}
    return labels, {cid: name for name, cid in label_id.items()}, details


def _cluster_table(labels: np.ndarray, names: dict[int, str], from_source: set[int], utterance_ids: np.ndarray) -> pd.DataFrame:
    """One row per cluster that holds utterances, named by its label, with its first members as the sample
    the studio shows; a source run's cluster says so."""
    ids, sizes = np.unique(labels, return_counts=True)
    return pd.DataFrame({
        "cluster_id": ids.astype(int),
        "name": [OUTLIER_NAME if c == NOISE else names[int(c)] for c in ids],
        "size": sizes.astype(int),
        "verdict": pd.array([None] * len(ids), dtype="string"),
        "evidence": [json.dumps({"source_run_cluster": int(c)}) if int(c) in from_source else None for c in ids],
        "sample": [utterance_ids[labels == c][:SAMPLE_SIZE].tolist() for c in ids],
    })
