"""The analyst as the judge's teacher: verdicts from reviews become labelled clusters.

A cluster carries an analyst's label when a still-active decision set its verdict, when the analyst
approved it (good), or when the analyst made it (good). Its features are those of its current members,
against the other clusters of its run, so moves and merges count (read from a seeded sample of a cluster larger
than MAX_FEATURE_MEMBERS, its size counted whole). Two uses:

- agreement: how often a judge says what the analyst said (the Dial-In paper's human-alignment figure);
- refit: the cohesion judge fitted again on its synthetic training clusters (the prior) plus the
  analyst's clusters, each analyst label weighing ANALYST_WEIGHT synthetic ones, so a handful of
  verdicts moves the judge without a few dozen of them overturning thousands of training clusters.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from dialin_core.clustering.sampling import MAX_SAMPLE, convex_sample
from dialin_core.curation.review import UNASSIGNED, ReviewState, active_decisions, review_state
from dialin_core.data.store import Store
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import Embedder
from dialin_core.judging.cohesion import CohesionModel, centroids, cluster_features, default_model_path, fit_cohesion_model, load_examples
from dialin_core.judging.llm_judge import LLMJudge
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL

ANALYST_WEIGHT = 20.0
MAX_FEATURE_MEMBERS = 500  # members a labelled cluster's features are read from; a seeded sample beyond


@dataclass(frozen=True)
class AnalystLabel:
    run_id: int
    cluster_id: int
    good: bool
    features: np.ndarray  # what the cohesion judge reads
    sample: tuple[str, ...] = ()  # what an LLM judge reads: the loop's convex sample of the cluster's members


def _labelled_clusters(store: Store, run_id: int, state: ReviewState) -> dict[int, bool]:
    """cluster_id -> good, for the clusters of one run (whose review is `state`) an analyst has judged, approved or made."""
    live = state.live_clusters().set_index("cluster_id")
    labels: dict[int, bool] = {}
    for decision in active_decisions(store.decisions(run_id)).itertuples():
        after = json.loads(decision.after)
        if decision.action == "set_verdict":
            labels.update({int(c): after["verdict"] == "good" for c in after["cluster_ids"]})
    labels.update({int(c): True for c in live.index[live["status"] == "approved"]})
    labels.update({int(c): True for c in live.index[live["origin"] == "analyst"]})
    return {c: good for c, good in labels.items() if c in live.index}


def analyst_labels(store: Store, embedder: Embedder) -> list[AnalystLabel]:
    """Every analyst-labelled cluster of the workspace's finished runs made with `embedder`'s vectors."""
    found: list[AnalystLabel] = []
    runs = store.runs()
    for run_id in runs.loc[runs["status"] == "finished", "run_id"].astype(int):
        run = store.run(run_id)
        if run.config.embedder != embedder.name:
            continue
        state = review_state(store, run_id)
        labelled = _labelled_clusters(store, run_id, state)
        if not labelled:
            continue
        members = state.members
        members = members[members["cluster_id"] != UNASSIGNED]
        sizes = members["cluster_id"].value_counts()
        members = feature_members(members)
        texts = store.utterances(run.dataset_id, utterance_ids=members["utterance_id"].tolist()).set_index("utterance_id")["text"]
        member_texts = texts.loc[members["utterance_id"]].to_numpy(dtype=object)
        vectors = embed_texts(member_texts.tolist(), embedder, store)
        labels = members["cluster_id"].to_numpy()
        ids, centres = centroids(vectors, labels)
        for cluster_id, good in sorted(labelled.items()):
            inside = labels == cluster_id
            others = centres[ids != cluster_id]
            sample = tuple(member_texts[inside][convex_sample(vectors[inside], MAX_SAMPLE, 0)])
            features = cluster_features(vectors[inside], others, size=int(sizes[cluster_id]))
            found.append(AnalystLabel(run_id, cluster_id, good, features, sample))
    return found


def feature_members(members: pd.DataFrame, cap: int = MAX_FEATURE_MEMBERS) -> pd.DataFrame:
    """Each cluster's members (utterance_id, cluster_id), or a seeded sample of `cap` of a larger cluster, in their
    order: what a cluster's features and its neighbours' centroids are read from. A run over a million utterances
    has clusters of thousands, whose vectors the features would otherwise read and hold all at once; its loop judged
    them from a sample too."""
    size = members.groupby("cluster_id")["utterance_id"].transform("size")
    large = members[size > cap]
    if large.empty:
        return members
    drawn = large.groupby("cluster_id", group_keys=False).sample(n=cap, random_state=0)
    return pd.concat([members[size <= cap], drawn]).sort_index()


def agreement(model: CohesionModel, labels: list[AnalystLabel]) -> dict[str, float | int | None]:
    """How often the judge's verdict (p(good) >= 0.5) matches the analyst's, and Cohen's kappa."""
    if not labels:
        return agreement_of([], [])
    return agreement_of([label.good for label in labels], model.probability_good(np.stack([label.features for label in labels])) >= 0.5)


def llm_agreement(labels: list[AnalystLabel], judge: LLMJudge, on_progress: Callable[[int, int], None] | None = None
                  ) -> dict[str, float | int | None]:
    """The same figures for an LLM judge, asked about each labelled cluster's sample (one call each, cached)."""
    said = []
    for done, label in enumerate(labels, start=1):
        said.append(judge.judge(list(label.sample)).verdict == "good")
        if on_progress:
            on_progress(done, len(labels))
    return agreement_of([label.good for label in labels], said)


def llm_judge_agreement(store: Store, embedder: str, llm: str, model: str | None,
                        on_progress: Callable[[int, int], None] | None = None, llm_judge: str = "none") -> dict[str, Any]:
    """The LLM judge's agreement with the workspace's analyst on `embedder`'s runs, untuned or with the tuned
    adapter `llm_judge`: the job the Judge page has the run worker do (it loads the LLM and makes a call per
    labelled cluster). A tuned judge's verdict is its calibrated probability at 0.5, as a run's judge reads it."""
    from dialin_core.embedding.adapted import embedder_for
    from dialin_core.judging.cascade import LLMCalibration
    from dialin_core.judging.llm_tuning import tuned_judge
    from dialin_core.llm.backends import open_backend
    from dialin_core.llm.cache import CachedLLM
    from dialin_core.llm.local_backend import LocalBackend

    labels = analyst_labels(store, embedder_for(store, embedder))
    tuned = tuned_judge(store.path, llm_judge) if llm == "local" else None
    backend = LocalBackend(model or DEFAULT_LOCAL_MODEL, adapter=tuned.path) if tuned else open_backend(llm, model)
    threshold = LLMCalibration(*tuned.calibration).raw_threshold() if tuned else 0.5
    judge = LLMJudge(CachedLLM(backend, store), threshold=threshold)
    return {**llm_agreement(labels, judge, on_progress), "model": backend.model, "llm_judge": llm_judge}


def agreement_of(truth: Sequence[bool], said: Sequence[bool]) -> dict[str, float | int | None]:
    """n, n_good, the share of the analyst's verdicts the judge gives too, and Cohen's kappa (None when either
    side says only one thing: it is undefined)."""
    if not len(truth):
        return {"n": 0, "n_good": 0, "agreement": None, "kappa": None}
    truth, said = np.asarray(truth, dtype=bool), np.asarray(said, dtype=bool)
    kappa = cohen_kappa_score(truth, said) if len(set(truth) | set(said)) > 1 else None
    return {"n": len(truth), "n_good": int(truth.sum()), "agreement": round(float((truth == said).mean()), 4),
            "kappa": None if kappa is None or np.isnan(kappa) else round(float(kappa), 4)}


def refit_judge(embedder: str, labels: list[AnalystLabel], prior_model: Path | None = None) -> CohesionModel:
    """The cohesion judge fitted on its training clusters plus the analyst's labelled clusters."""
    if not labels:
        raise ValueError("no analyst verdict yet: mark clusters good or bad, or approve them, on the Review page first")
    prior_path = prior_model or default_model_path(embedder)
    prior_features, prior_good = load_examples(prior_path)
    features = np.vstack([prior_features, np.stack([label.features for label in labels])])
    good = np.concatenate([prior_good, [label.good for label in labels]])
    weights = np.concatenate([np.ones(len(prior_good)), np.full(len(labels), ANALYST_WEIGHT)])
    prior = CohesionModel.load(prior_path)
    training = {
        **prior.training,
        "refit_from": prior_path.name,
        "refit_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "n_analyst_labels": len(labels),
        "n_analyst_good": int(sum(label.good for label in labels)),
        "analyst_weight": ANALYST_WEIGHT,
    }
    return fit_cohesion_model(features, good, embedder, training, weights)


def trained_on(model: CohesionModel) -> str:
    """What a judge learnt from, in a line: its synthetic clusters and, for a re-fit, the analyst's verdicts."""
    training = model.training
    line = (f"{training.get('source', '?')}: {training.get('n_clusters', '?')} synthetic clusters "
            f"({training.get('n_good', '?')} good) of {training.get('n_intents', '?')} intents")
    if "n_analyst_labels" in training:
        line += (f", then {training['n_analyst_labels']} of your verdicts ({training['n_analyst_good']} good), "
                 f"each weighing {training['analyst_weight']:g} synthetic ones ({training['refit_at'][:10]})")
    return line


def workspace_judges(workspace: Path) -> Path:
    """Judges re-fitted for a workspace live beside its file, so they travel with it."""
    return workspace.parent / "judges"
