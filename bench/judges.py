"""Coherence judges on BANKING77 *train* clusters: cohesion, LLM, cascade; AUC, accuracy, time.

Usage: .venv/bin/python bench/judges.py [--n 30] [--model NAME_OR_GGUF] [--band 0.25] [--cohesion-only]

Protocol (never touches BANKING77 test): train utterances are split 50/50, stratified by intent. A
cohesion judge is trained on half A exactly as `train-judge` does; all clusters judged come from half B:
- easy: n pure and n random mixes of 3-5 intents, 20 utterances each;
- realistic: k-means clusterings, and cuts of a Ward tree (the loop's default clustering), of a
  3,000-utterance subset of B at k = 50, 80, 120, n good and n bad clusters drawn from each, good
  meaning the shipped rule (one intent >= 90% of the members and >= 50% of that intent's utterances in
  the clustering).
The LLM sees the same 20-sentence convex sample the discovery loop shows it. Its calibration for the
cascade (Platt scaling of logit P(good)) is fitted here, on half B, and printed for judging/cascade.py.
"""

import argparse
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
from dialin_core.judging.training_sets import composed_clusters, loop_clusters, train_cohesion_judge  # noqa: E402
from dialin_core.llm.backends import open_backend  # noqa: E402
from dialin_core.llm.cache import CachedLLM  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="clusters per class in each set")
    parser.add_argument("--model", default=DEFAULT_LOCAL_MODEL)
    parser.add_argument("--band", type=float, default=0.25)
    parser.add_argument("--cohesion-only", action="store_true", help="no LLM: the cohesion judge's rows alone")
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
        llm = CachedLLM(open_backend("local", args.model), store)
        judge = LLMJudge(llm)
        results: dict[str, dict[str, np.ndarray]] = {}
        for name, clusters in sets.items():
            started = time.perf_counter()
            p_cohesion = cohesion.probability_good(np.stack([c.features for c in clusters]))
            cohesion_seconds = (time.perf_counter() - started) / len(clusters)
            raw, llm_seconds = [], []
            for c in clusters:
                sample = c.members[convex_sample(vectors_b[c.members], 20, 0)]
                started = time.perf_counter()
                raw.append(judge.judge([texts_b[i] for i in sample]).probability_good)
                llm_seconds.append(time.perf_counter() - started)
            results[name] = {"good": np.array([c.good for c in clusters]), "cohesion": p_cohesion, "llm": np.array(raw),
                             "cohesion_s": cohesion_seconds, "llm_s": float(np.mean(llm_seconds))}

        good = np.concatenate([r["good"] for r in results.values()])
        raw = np.concatenate([r["llm"] for r in results.values()])
        platt = LogisticRegression().fit(logit(raw)[:, None], good)
        calibration = LLMCalibration(slope=float(platt.coef_[0, 0]), centre=float(-platt.intercept_[0] / platt.coef_[0, 0]))
        print(f"LLM: {args.model}; calibration fitted on half B: slope={calibration.slope:.4f}, centre={calibration.centre:.4f}\n")
        for name, r in results.items():
            out_of_fold = cross_val_predict(LogisticRegression(), logit(r["llm"])[:, None], r["good"],
                                            cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba")[:, 1]
            uncertain = np.abs(r["cohesion"] - 0.5) < args.band
            combined = r["cohesion"].copy()
            combined[uncertain] = 1 / (1 + np.exp(-(logit(r["cohesion"][uncertain]) + np.array(
                [calibration.log_odds(p) for p in r["llm"][uncertain]]))))
            print(f"### {name}: {int(r['good'].sum())} good, {int((~r['good']).sum())} bad\n")
            print("| judge | AUC | accuracy at 0.5 | time per cluster |")
            print("| --- | --- | --- | --- |")
            print(report("cohesion (logistic regression on embedding geometry)", r["good"], r["cohesion"], r["cohesion_s"]))
            print(report(f"LLM raw first-token P(good), {args.model}", r["good"], r["llm"], r["llm_s"]))
            print(report("LLM calibrated (out-of-fold Platt)", r["good"], out_of_fold, r["llm_s"]))
            print(report(f"cascade (band {args.band}: {uncertain.mean():.0%} escalated)", r["good"], combined,
                         r["cohesion_s"] + uncertain.mean() * r["llm_s"]))
            print(f"\nraw LLM P(good): mean {r['llm'][r['good']].mean():.3f} on good, {r['llm'][~r['good']].mean():.3f} on bad\n")


if __name__ == "__main__":
    main()
