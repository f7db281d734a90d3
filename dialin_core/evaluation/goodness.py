"""Goodness: the share of a run's final clusters that an evaluator calls good, with no gold labels.

The Dial-In paper (section 4.2, Metrics) reports goodness from "a different LLM evaluator than the one
used for intermediate evaluation to ensure the fairness of the reported metric": a loop that keeps what
its own judge calls good would otherwise score itself. Here the evaluator is the cohesion judge shipped
for a *different* embedder, reading that embedder's vectors: the loop never saw those vectors nor that
judge, so it cannot have fitted the clusters to them. Every method (k-means, HDBSCAN, Dial-In) is scored
by the same evaluator, which is what lets the Compare page rank runs on data without labels. It is scored
on demand (Compare page, `python -m dialin_core goodness RUN`), not inside every run: the evaluator's
model embeds the sampled sentences, which costs about half a minute for 77 clusters on two cores.

Cost is bounded: each cluster is read through a seeded sample of at most `per_cluster` members (fewer
when there are many clusters, never under `MIN_PER_CLUSTER`), so a 500-cluster run embeds a few
thousand sentences with the evaluator's model, not the whole data set. The features of a sampled
cluster estimate those of the whole (its size feature is the true size).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dialin_core.clustering.algorithms import NOISE
from dialin_core.clustering.sampling import MAX_SAMPLE
from dialin_core.curation.review import review_state
from dialin_core.data.store import Store
from dialin_core.embedding.adapted import judged_as
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import DEFAULT_EMBEDDER, EMBEDDER_CHOICES, load_embedder, reads_language
from dialin_core.judging.cascade import THRESHOLD
from dialin_core.judging.cohesion import FEATURES, clustering_features, default_model_path, load_cohesion_model

SENTENCE_BUDGET = 3000  # evaluator embeddings per run, spread over the clusters
MAX_PER_CLUSTER = MAX_SAMPLE  # the sample size the loop's judge reads too
MIN_PER_CLUSTER = 8


@dataclass(frozen=True)
class Goodness:
    share: float  # of the scored clusters, the share judged good
    judge: str  # which evaluator: "cohesion judge of <embedder>"
    n_clusters: int

    def as_details(self) -> dict[str, object]:
        return {"goodness": round(self.share, 4), "goodness_judge": self.judge, "goodness_clusters": self.n_clusters}


def evaluator_embedder(embedder: str, language: str | None = "en") -> str | None:
    """The shipped embedder with a shipped cohesion judge that is not `embedder` and reads `language`, the default
    first; None when there is none (text that is not English has one multilingual model: a run on it has no second
    judge that could read it, and an English model's judge would score characters, not intents)."""
    shipped = [name for name in EMBEDDER_CHOICES
               if default_model_path(name).is_file() and name != embedder and reads_language(name, language)]
    if not shipped:
        return None
    return DEFAULT_EMBEDDER if DEFAULT_EMBEDDER in shipped else shipped[0]


def sample_members(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of a seeded sample of each cluster's members (noise left out) and each row's cluster."""
    ids = np.unique(labels[labels != NOISE])
    per_cluster = int(np.clip(SENTENCE_BUDGET // max(len(ids), 1), MIN_PER_CLUSTER, MAX_PER_CLUSTER))
    rng = np.random.default_rng(seed)
    rows = [np.sort(rng.permutation(np.flatnonzero(labels == c))[:per_cluster]) for c in ids]
    return np.concatenate(rows) if rows else np.zeros(0, dtype=int), np.repeat(ids, [len(r) for r in rows])


def score_goodness(
    texts: list[str], labels: np.ndarray, embedder: str, store: Store | None = None, seed: int = 0, language: str | None = "en"
) -> Goodness | None:
    """Goodness of a clustering of `texts` (NOISE rows left out) by the evaluator for a run that embedded
    with `embedder`; None when there are fewer than two clusters, where the judge's features are undefined,
    or when no other shipped judge reads the texts' language."""
    labels = np.asarray(labels)
    evaluator = evaluator_embedder(embedder, language)
    if evaluator is None or len(np.unique(labels[labels != NOISE])) < 2:
        return None
    rows, sampled = sample_members(labels, seed)
    vectors = embed_texts([texts[i] for i in rows], load_embedder(evaluator), store)
    ids, features = clustering_features(vectors, sampled)
    _, sizes = np.unique(labels[labels != NOISE], return_counts=True)  # the same sorted ids as `ids`
    features[:, FEATURES.index("log_size")] = np.log(sizes)  # the true size, not the sample's
    share = float((load_cohesion_model(evaluator).probability_good(features) >= THRESHOLD).mean())
    return Goodness(share=share, judge=f"cohesion judge of {evaluator}", n_clusters=len(ids))


def run_goodness(store: Store, run_id: int, members: pd.DataFrame | None = None) -> Goodness | None:
    """Goodness of a finished run as the analyst sees it now (its decisions applied), by the evaluator for
    the embedder the run used; its sampled sentences' vectors are cached in the workspace like any other.
    `members` (utterance_id, cluster_id) when the caller has derived the review state already."""
    run = store.run(run_id)
    if run.status != "finished":
        raise ValueError(f"run {run_id} is {run.status}: goodness scores a finished run's clusters")
    config = run.config
    members = review_state(store, run_id).members if members is None else members
    texts = members["utterance_id"].map(store.utterance_texts(run_id)).tolist()
    # an adapted model is scored as its packaged base is: by the other packaged model's judge
    return score_goodness(texts, members["cluster_id"].to_numpy(), judged_as(store, config.embedder, config.cohesion_model), store,
                          config.seed, store.dataset_language(run.dataset_id))
