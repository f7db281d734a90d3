"""The local LLM taught to judge clusters: LoRA adapters trained on labelled clusters, kept with their record.

The Dial-In LLM paper's judge is a small LLM fine-tuned on clusters people labelled good or bad (section 4.1,
Table 2: Qwen2.5-7B from 75.6% untuned to 96.3% tuned). Here the examples come from two places:
- labelled utterances (a data set with gold intents): clusters as the loop meets them (Ward cuts and k-means
  clusterings of random subsets at several k) and the paper's perturbations (pure clusters, random mixes of
  intents, an intent mixed with its nearest ones), each shown as the loop's 20-sentence convex sample; the
  answer is Good when one intent holds at least GOOD_PURITY of the cluster. Unlike the cohesion judge's rule,
  a fragment of an intent counts as Good here: a sample of 20 sentences cannot show whether the cluster holds
  half of its intent, so teaching the LLM to call pure fragments Bad would teach it noise;
- the analyst's verdicts on this workspace's clusters (set good or bad, approved, made), each its cluster's
  sample, continuing from the shipped adapter, which is the prior, as the re-fitted cohesion judge continues
  from its training clusters.

The shipped adapter was trained on BANKING77 *train* (`fine-tune-judge --labelled`); adapters trained for a
workspace are `judges/llm-judge-N.gguf` beside it, each with a record (`.json`) saying what it learnt from, what
it cost and how it scored on examples held out of training, and the Platt calibration fitted on them, which the
cascade uses to weigh its vote (`judging.cascade`). The record also says the language of the clusters it was
taught on: a run on data in another language is judged without it (`methods.dialin.Tools.judge_for`), since the
shipped adapter, taught on English, cost ACC on Chinese (BENCHMARKS.md, SMP2019).
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from dialin_core.clustering.sampling import MAX_SAMPLE, convex_sample
from dialin_core.data.language import language_name, taught_language
from dialin_core.data.store import Store
from dialin_core.embedding.adapted import embedder_for
from dialin_core.judging.feedback import AnalystLabel, analyst_labels, workspace_judges
from dialin_core.judging.llm_judge import judge_messages
from dialin_core.judging.training_sets import GOOD_PURITY, LabelledCluster, composed_clusters, loop_clusters
from dialin_core.llm.adapters import (
    Adapter, Source, adapters_in, next_adapter_path, read_adapter, resolve_adapter, train_adapter,
)
from dialin_core.llm.lora import ChatExample, LoraSettings, TrainedLora
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL

PREFIX = "llm-judge-"
SHIPPED = "shipped"  # the adapter that comes with the product, for the packaged model
ANSWERS = ("Good", "Bad")
MIN_EXAMPLES = 20
TUNING_SECONDS_PER_EXAMPLE = 2.2  # measured on 2 cores (BENCHMARKS.md), for the estimate said before training starts
ProgressListener = Callable[[int, int], None]


@dataclass(frozen=True)
class TunedJudge(Adapter):
    """A judge's adapter: its record also holds the calibration fitted on the held-out examples."""

    @property
    def calibration(self) -> tuple[float, float]:
        """(slope, centre) of the Platt scaling fitted on held-out examples; (1, 0) when there were too few."""
        fitted = self.record.get("calibration") or {}
        return float(fitted.get("slope", 1.0)), float(fitted.get("centre", 0.0))

    def describe(self) -> str:
        sources = "; ".join(f"{s['kind']}: {s['examples']} clusters ({s['good']} good) from {s['source']}" for s in self.record["sources"])
        held = self.record.get("held_out") or {}
        scored = f", held-out AUC {held['auc']:.2f}" if held.get("auc") is not None else ""
        start = f" after {self.record['start_from']}" if self.record.get("start_from") else ""
        only = f"; judges {language_name(self.language)} data only" if self.language else ""
        return f"{self.name}: {sources}{start}{scored}{only}"


def labelled_examples(texts: Sequence[str], vectors: np.ndarray, gold: Sequence[str], n: int, seed: int = 0
                      ) -> tuple[list[ChatExample], Counter]:
    """`n` judge examples, half Good and half Bad, from clusters built from labelled utterances; with the kinds
    of cluster they came from."""
    gold = np.asarray(gold)
    if len(np.unique(gold)) < 5:
        raise ValueError(f"teaching the LLM judge from labels needs at least 5 distinct intents, found {len(np.unique(gold))}")
    subset = min(3000, len(gold))
    ks = [k for k in (30, 60, 100, 150) if k < subset // 4] or [max(2, subset // 8)]
    pool: list[LabelledCluster] = [
        *loop_clusters(vectors, gold, algorithm="ward", subset_size=subset, ks=ks, repeats=2, seed=seed + 10),
        *loop_clusters(vectors, gold, algorithm="kmeans", subset_size=subset, ks=ks, repeats=2, seed=seed + 20),
        *composed_clusters(vectors, gold, n_each=max(50, n // 6), sizes=(8, 15, 20, 30), seed=seed + 30),
    ]
    pool = [c for c in pool if len(c.members) >= 5]
    pure = [c for c in pool if c.purity >= GOOD_PURITY]
    mixed = [c for c in pool if c.purity < GOOD_PURITY]
    rng = np.random.default_rng(seed)
    half = min(n // 2, len(pure), len(mixed))
    chosen = [pure[i] for i in rng.choice(len(pure), half, replace=False)] + [mixed[i] for i in rng.choice(len(mixed), half, replace=False)]
    examples = [_example([texts[i] for i in c.members[convex_sample(vectors[c.members], MAX_SAMPLE, seed)]], c.purity >= GOOD_PURITY)
                for c in chosen]
    return examples, Counter(f"{c.kind} ({'good' if c.purity >= GOOD_PURITY else 'bad'})" for c in chosen)


def analyst_examples(labels: Sequence[AnalystLabel]) -> list[ChatExample]:
    """The analyst's verdicts as examples: each labelled cluster's sample and what the analyst said of it."""
    return [_example(list(label.sample), label.good) for label in labels if label.sample]


def _example(sentences: list[str], good: bool) -> ChatExample:
    return ChatExample(judge_messages(sentences), ANSWERS[0] if good else ANSWERS[1])


def tune_judge(sources: Sequence[Source], out: Path, language: str, settings: LoraSettings = LoraSettings(),
               model: str = DEFAULT_LOCAL_MODEL, start_from: Path | None = None, on_progress: ProgressListener | None = None
               ) -> TunedJudge:
    """Train an adapter on the sources' examples (less a held-out share), score and calibrate it on the held-out
    ones, write it to `out` (.gguf) with its record (.json, which says the `language` of the clusters taught) and
    return it."""
    examples = [e for s in sources for e in s.examples]
    if len(examples) < MIN_EXAMPLES:
        raise ValueError(f"{len(examples)} labelled clusters are too few to teach the LLM judge: at least {MIN_EXAMPLES} are needed")
    counted = [Source(s.kind, s.source, s.examples, {"good": sum(e.answer == ANSWERS[0] for e in s.examples), **s.detail}) for s in sources]
    adapter = train_adapter(counted, out, _score_judge, settings, model, start_from, on_progress, language=language)
    return TunedJudge(adapter.name, adapter.path, adapter.record)


def _score_judge(trained: TrainedLora, held: list[ChatExample], step: Callable[[], None]) -> dict:
    if not held:
        return {"held_out": None, "calibration": None}
    probabilities = []
    for example in held:
        probabilities.append(float(trained.first_token_probabilities(example.messages, ANSWERS)[0]))
        step()
    held_out, calibration = _held_out_scores(np.array([e.answer == ANSWERS[0] for e in held]), np.array(probabilities))
    return {"held_out": held_out, "calibration": calibration}


def _held_out_scores(good: np.ndarray, probability: np.ndarray) -> tuple[dict[str, Any], dict[str, float] | None]:
    scores: dict[str, Any] = {"n": int(len(good)), "n_good": int(good.sum()),
                              "accuracy": round(float(((probability >= 0.5) == good).mean()), 4), "auc": None}
    if good.all() or not good.any():
        return scores, None
    scores["auc"] = round(float(roc_auc_score(good, probability)), 4)
    logits = np.log(np.clip(probability, 1e-6, 1 - 1e-6) / np.clip(1 - probability, 1e-6, 1))
    platt = LogisticRegression().fit(logits[:, None], good)
    slope = float(platt.coef_[0, 0])
    return scores, {"slope": round(slope, 4), "centre": round(float(-platt.intercept_[0] / slope), 4) if slope else 0.0}


def tune_workspace_judge(store: Store, embedder: str, on_progress: ProgressListener | None = None, start_from: str = SHIPPED,
                         settings: LoraSettings = LoraSettings()) -> dict[str, Any]:
    """Teach the LLM judge the verdicts the workspace's analyst gave on `embedder`'s runs, continuing from the
    `start_from` adapter; kept as the workspace's next llm-judge-N. The job the Judge page has the run worker do."""
    if store.path == ":memory:":
        raise ValueError("a tuned LLM judge is kept beside a workspace file; this store has none")
    labels = analyst_labels(store, embedder_for(store, embedder))
    source = Source("analyst", f"the analyst's verdicts in {Path(store.path).name}", analyst_examples(labels),
                    {"runs": sorted({label.run_id for label in labels}), "embedder": embedder})
    if len(source.examples) < MIN_EXAMPLES:
        raise ValueError(f"{len(source.examples)} clusters carry your verdict; the LLM judge needs at least {MIN_EXAMPLES}: mark clusters "
                         "good or bad, approve or make them on the Review page first")
    prior = tuned_judge(store.path, start_from)
    return tune_judge([source], next_judge_path(store.path), analyst_language(store, labels), settings,
                      start_from=prior.path if prior else None, on_progress=on_progress).record


def analyst_language(store: Store, labels: Sequence[AnalystLabel]) -> str:
    """The language most of the analyst's labelled clusters are in (their runs' data sets')."""
    per_run = Counter(label.run_id for label in labels)  # each run's data set is looked up once, not once a verdict
    languages: Counter[str] = Counter()
    for run_id, n in per_run.items():
        languages[taught_language(store.dataset_language(store.run(run_id).dataset_id))] += n
    return languages.most_common(1)[0][0] if languages else "en"


def shipped_path(model: str = DEFAULT_LOCAL_MODEL) -> Path:
    return Path(str(resources.files("dialin_core") / "models" / f"{PREFIX}{model}.gguf"))


def read_judge(path: Path) -> TunedJudge:
    try:
        adapter = read_adapter(path)
    except ValueError:
        raise ValueError(f"no tuned LLM judge at {path} (an adapter .gguf and its .json record)") from None
    return TunedJudge(adapter.name, adapter.path, adapter.record)


def workspace_tuned_judges(workspace: Path | str) -> list[TunedJudge]:
    """The workspace's tuned LLM judges, newest first."""
    return [TunedJudge(a.name, a.path, a.record) for a in adapters_in(workspace_judges(Path(workspace)), PREFIX)]


def offered_judges(workspace: Path | str) -> dict[str, TunedJudge]:
    """The tuned LLM judges a run or the Judge page may use, by the name `tuned_judge` reads: the shipped one
    (when it is installed) first, then the workspace's, newest first."""
    shipped = {SHIPPED: read_judge(shipped_path())} if shipped_path().is_file() else {}
    return {**shipped, **{j.name: j for j in workspace_tuned_judges(workspace)}}


def tuned_judge(workspace: Path | str | None, name: str, model: str = DEFAULT_LOCAL_MODEL) -> TunedJudge | None:
    """The adapter a run's `llm_judge` names: None for "none", the shipped one, or one of the workspace's."""
    found = resolve_adapter(name, what="LLM judge", prefix=PREFIX, shipped=shipped_path(model),
                            folder=workspace_judges(Path(workspace)) if workspace is not None else None)
    return TunedJudge(found.name, found.path, found.record) if found is not None else None


def next_judge_path(workspace: Path | str) -> Path:
    return next_adapter_path(workspace_judges(Path(workspace)), PREFIX)
