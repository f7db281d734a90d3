"""Coherence judges on BANKING77 *train* clusters: cohesion, LLM, cascade; AUC, accuracy, time.

Usage: .venv/bin/python bench/judges.py [--n 30] [--model NAME_OR_GGUF] [--band 0.25] [--cohesion-only]
       [--llm-judge shipped|ADAPTER.gguf | --tune OUT.gguf [--tune-examples 1200]] [--no-untuned] [--json]

Protocol (never touches BANKING77 test): train utterances are split 50/50, stratified by intent. A
cohesion judge is trained on half A exactly as `train-judge` does; all clusters judged come from half B:
- easy: n pure and n random mixes of 3-5 intents, 20 utterances each;
- realistic: k-means clusterings, and cuts of a Ward tree (the loop's default clustering), of a
  3,000-utterance subset of B at k = 50, 80, 120, n good and n bad clusters drawn from each, good
  meaning the shipped rule (one intent >= 90% of the members and >= 50% of that intent's utterances in
  the clustering).
The LLM sees the same 20-sentence convex sample the discovery loop shows it. The untuned model's calibration
for the cascade (Platt scaling of logit P(good)) is fitted here, on half B, and printed for judging/cascade.py.
A tuned LLM judge (LoRA) is measured with the calibration in its record, fitted on examples of its own training
data; `--tune` trains it first on half A exactly as `fine-tune-judge --labelled` does (the shipped adapter is
`--tune dialin_core/models/llm-judge-<model>.gguf`), so no cluster it is measured on shares an utterance with
what it learnt.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dialin_core.clustering.sampling import convex_sample  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder  # noqa: E402
from dialin_core.judging.cascade import LLMCalibration  # noqa: E402
from dialin_core.judging.llm_judge import LLMJudge  # noqa: E402
from dialin_core.judging.llm_tuning import SHIPPED, Source, labelled_examples, read_judge, tune_judge, tuned_judge  # noqa: E402
from dialin_core.judging.training_sets import composed_clusters, loop_clusters, train_cohesion_judge  # noqa: E402
from dialin_core.llm.backends import open_backend  # noqa: E402
from dialin_core.llm.cache import CachedLLM  # noqa: E402
from dialin_core.llm.local_backend import LocalBackend  # noqa: E402
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL  # noqa: E402

TRAIN = REPO.parent / "shared" / "data" / "banking77" / "train.csv"


def pick(clusters, n: int, rng: np.random.Generator):
    good = [c for c in clusters if c.good]
    bad = [c for c in clusters if not c.good]
    return [good[i] for i in rng.choice(len(good), min(n, len(good)), replace=False)] + [
        bad[i] for i in rng.choice(len(bad), min(n, len(bad)), replace=False)
    ]


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def report(name: str, good: np.ndarray, probability: np.ndarray, seconds: float) -> str:
    auc = roc_auc_score(good, probability)
    accuracy = ((probability >= 0.5) == good).mean()
    return f"| {name} | {auc:.3f} | {accuracy:.3f} | {seconds * 1000:.1f} ms |"


def llm_probabilities(judge: LLMJudge, clusters, vectors: np.ndarray, texts: list[str]) -> tuple[np.ndarray, float]:
    """The judge's raw P(good) of each cluster's 20-sentence convex sample, and its mean seconds a call."""
    raw, seconds = [], []
    for c in clusters:
        sample = c.members[convex_sample(vectors[c.members], 20, 0)]
        started = time.perf_counter()
        raw.append(judge.judge([texts[i] for i in sample]).probability_good)
        seconds.append(time.perf_counter() - started)
    return np.array(raw), float(np.mean(seconds))


def combined(cohesion: np.ndarray, raw: np.ndarray, calibration: LLMCalibration, escalated: np.ndarray) -> np.ndarray:
    """The cascade's P(good): the cohesion judge's log-odds plus the calibrated LLM's where it was asked."""
    out = cohesion.copy()
    out[escalated] = 1 / (1 + np.exp(-(logit(cohesion[escalated]) + np.array([calibration.log_odds(p) for p in raw[escalated]]))))
    return out


def tune_on_half_a(half_a: pd.DataFrame, vectors_a: np.ndarray, out: Path, n: int) -> Path:
    """The tuned LLM judge as `fine-tune-judge --labelled` trains it, on half A only (the shipped one is this one)."""
    examples, kinds = labelled_examples(half_a["text"].tolist(), vectors_a, half_a["category"].tolist(), n, seed=0)
    source = Source("labelled", "banking77 train, half A (bench/judges.py)", examples,
                    {"kinds": dict(kinds), "embedder": DEFAULT_EMBEDDER, "intents": int(half_a["category"].nunique())})
    judge = tune_judge([source], out, "en", on_progress=lambda done, total: print(f"\rtuning: {done} of {total}", end="", file=sys.stderr, flush=True))
    print(f"\ntuned LLM judge written to {out}: {json.dumps({k: judge.record[k] for k in ('taught', 'held_out', 'calibration', 'seconds', 'peak_memory_mb')})}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="clusters per class in each set")
    parser.add_argument("--model", default=DEFAULT_LOCAL_MODEL)
    parser.add_argument("--band", type=float, default=0.25)
    parser.add_argument("--cohesion-only", action="store_true", help="no LLM: the cohesion judge's rows alone")
    parser.add_argument("--no-untuned", action="store_true", help="leave out the untuned LLM's rows")
    parser.add_argument("--llm-judge", help=f"a tuned LLM judge to measure beside: {SHIPPED} or the path of an adapter .gguf")
    parser.add_argument("--tune", type=Path, metavar="OUT.gguf", help="first tune an LLM judge on half A (as fine-tune-judge does), then measure it")
    parser.add_argument("--tune-examples", type=int, default=1200)
    parser.add_argument("--json", action="store_true", help="print the AUCs and seconds per call as one JSON object at the end")
    parser.add_argument("--workspace", type=Path, default=REPO / "bench" / "out" / "judges.duckdb")
    args = parser.parse_args()
    args.workspace.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    frame = pd.read_csv(TRAIN).drop_duplicates("text")
    half_a, half_b = train_test_split(frame, test_size=0.5, stratify=frame["category"], random_state=0)
    with Store(args.workspace) as store:
        embedder = load_embedder(DEFAULT_EMBEDDER)
        vectors_a = embed_texts(half_a["text"].tolist(), embedder, store)
        vectors_b = embed_texts(half_b["text"].tolist(), embedder, store)
    if args.tune is not None:
        args.llm_judge = str(tune_on_half_a(half_a, vectors_a, args.tune, args.tune_examples))
    with Store(args.workspace) as store:
        cohesion = train_cohesion_judge(vectors_a, half_a["category"].to_numpy(), DEFAULT_EMBEDDER, "banking77 train, half A")
        gold_b, texts_b = half_b["category"].to_numpy(), half_b["text"].tolist()
        sets = {
            "easy (pure vs random mix)": [c for c in composed_clusters(vectors_b, gold_b, n_each=args.n, sizes=(20,), seed=1) if c.kind != "neighbour-mix"],
            **{
                f"realistic ({label})": pick(
                    loop_clusters(vectors_b, gold_b, algorithm=algorithm, subset_size=3000, ks=(50, 80, 120), repeats=1, seed=2), args.n, rng
                )
                for algorithm, label in (("kmeans", "k-means clusters"), ("ward", "Ward cuts"))
            },
        }
        print(f"cohesion judge trained on half A: {cohesion.training['n_clusters']} clusters {cohesion.training['kinds']}, "
              f"cross-validated AUC {cohesion.training['cross_validated_auc']}")
        if args.cohesion_only:
            for name, clusters in sets.items():
                good = np.array([c.good for c in clusters])
                started = time.perf_counter()
                probability = cohesion.probability_good(np.stack([c.features for c in clusters]))
                print(f"\n### {name}: {int(good.sum())} good, {int((~good).sum())} bad\n")
                print(report("cohesion", good, probability, (time.perf_counter() - started) / len(clusters)))
            return
        judges: dict[str, tuple[LLMJudge, LLMCalibration | None]] = {}
        if not args.no_untuned:
            judges["llm"] = (LLMJudge(CachedLLM(open_backend("local", args.model), store)), None)
        if args.llm_judge:
            tuned = tuned_judge(None, SHIPPED) if args.llm_judge == SHIPPED else read_judge(Path(args.llm_judge))
            judges["tuned_llm"] = (LLMJudge(CachedLLM(LocalBackend(args.model, adapter=tuned.path), store)), LLMCalibration(*tuned.calibration))
            print(f"tuned LLM judge: {tuned.describe()}; calibration from its held-out examples: {tuned.calibration}")
        results: dict[str, dict] = {}
        for name, clusters in sets.items():
            started = time.perf_counter()
            p_cohesion = cohesion.probability_good(np.stack([c.features for c in clusters]))
            results[name] = {"good": np.array([c.good for c in clusters]), "cohesion": p_cohesion,
                             "cohesion_s": (time.perf_counter() - started) / len(clusters)}
            for key, (judge, _) in judges.items():
                results[name][key], results[name][f"{key}_s"] = llm_probabilities(judge, clusters, vectors_b, texts_b)

        summary: dict[str, dict] = {}
        for key, (_, stored) in judges.items():
            good = np.concatenate([r["good"] for r in results.values()])
            raw = np.concatenate([r[key] for r in results.values()])
            platt = LogisticRegression().fit(logit(raw)[:, None], good)
            fitted = LLMCalibration(slope=float(platt.coef_[0, 0]), centre=float(-platt.intercept_[0] / platt.coef_[0, 0]))
            print(f"{key}: calibration fitted on half B: slope={fitted.slope:.4f}, centre={fitted.centre:.4f}")
            judges[key] = (judges[key][0], stored or fitted)  # a tuned judge keeps its own, fitted on examples of half A
        for name, r in results.items():
            uncertain = np.abs(r["cohesion"] - 0.5) < args.band
            print(f"\n### {name}: {int(r['good'].sum())} good, {int((~r['good']).sum())} bad\n")
            print("| judge | AUC | accuracy at 0.5 | time per cluster |")
            print("| --- | --- | --- | --- |")
            print(report("cohesion (logistic regression on embedding geometry)", r["good"], r["cohesion"], r["cohesion_s"]))
            short = name.split("(")[-1].rstrip(")").split()[0].lower().replace("k-means", "kmeans")
            summary[short] = {"cohesion": round(float(roc_auc_score(r["good"], r["cohesion"])), 3)}
            for key, (_, calibration) in judges.items():
                label = "LLM raw first-token P(good), untuned" if key == "llm" else "tuned LLM raw first-token P(good)"
                print(report(label, r["good"], r[key], r[f"{key}_s"]))
                if key == "llm":
                    out_of_fold = cross_val_predict(LogisticRegression(), logit(r[key])[:, None], r["good"],
                                                    cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba")[:, 1]
                    print(report("LLM calibrated (out-of-fold Platt)", r["good"], out_of_fold, r[f"{key}_s"]))
                cascade = combined(r["cohesion"], r[key], calibration, uncertain)
                every = combined(r["cohesion"], r[key], calibration, np.ones_like(uncertain))
                print(report(f"cascade with the {'untuned' if key == 'llm' else 'tuned'} LLM (band {args.band}: {uncertain.mean():.0%} escalated)",
                             r["good"], cascade, r["cohesion_s"] + uncertain.mean() * r[f"{key}_s"]))
                print(report(f"cohesion + {'untuned' if key == 'llm' else 'tuned'} LLM on every cluster", r["good"], every,
                             r["cohesion_s"] + r[f"{key}_s"]))
                summary[short][key] = round(float(roc_auc_score(r["good"], r[key])), 3)
                summary[short][f"cascade_{key}"] = round(float(roc_auc_score(r["good"], cascade)), 3)
                summary[short][f"every_{key}"] = round(float(roc_auc_score(r["good"], every)), 3)
                summary[short][f"seconds_per_call_{'untuned' if key == 'llm' else 'tuned'}"] = round(r[f"{key}_s"], 2)
                print(f"\n{key} P(good): mean {r[key][r['good']].mean():.3f} on good, {r[key][~r['good']].mean():.3f} on bad")
        if args.json:
            print(json.dumps(summary))


if __name__ == "__main__":
    main()
