"""Does re-fitting the cohesion judge on an analyst's verdicts make it agree better with that analyst?

Usage: .venv/bin/python bench/judge_feedback.py [--seeds 5] [--repeats 2] [--weights 1 5 20 80 320]

Domains: SGD customer (USER) utterances with a gold intent, de-duplicated as the product ingests them
(another domain than the BANKING77 train clusters the shipped judge learnt from), and BANKING77 *test*
(same domain; nothing here is tuned, it is an evaluation).

Protocol, per domain and seed: the utterances are split 50/50, stratified by intent. Each half is
clustered with k-means at several k (`repeats` k-means seeds each) and every cluster is labelled by the
shipped rule (one intent holds >= 90% of the members and >= 50% of that intent's utterances); the rule's
label stands for the analyst's verdict. The analyst "reviews" the first N clusters of a random
permutation of half A's clusters (variant: a balanced sample, up to N/2 good clusters and the rest bad,
as from an analyst who seeks out the good clusters to approve them). The judges are scored on every
cluster of half B, whose clusterings are other repeats over other utterances, so no held-out cluster
shares a member with a reviewed one.

Judges: the shipped one; `refit_judge` (prior = the shipped training examples, each analyst label
weighing ANALYST_WEIGHT) on N labels; the same fit at other weights; and two references: the re-fit on
all of half A's clusters, and a judge fitted on half A's clusters alone (no prior).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dialin_core.data.ingest import deduplicate, read_transcripts  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder  # noqa: E402
from dialin_core.judging.cohesion import CohesionModel, default_model_path, fit_cohesion_model, load_cohesion_model, load_examples  # noqa: E402
from dialin_core.judging.feedback import ANALYST_WEIGHT, AnalystLabel, agreement, refit_judge  # noqa: E402
from dialin_core.judging.training_sets import LabelledCluster, loop_clusters  # noqa: E402

DATA = REPO.parent / "shared" / "data"
N_LABELS = (10, 25, 50, 100)
# k spans well below to about twice the number of intents, measured on half of each domain's utterances.
DOMAINS = {
    "SGD customer turns (other domain)": (12, 24, 36, 54, 72),
    "BANKING77 test (same domain)": (25, 50, 77, 110, 150),
}


def sgd_customer_utterances() -> tuple[list[str], np.ndarray]:
    utterances = deduplicate(read_transcripts(DATA / "sgd" / "train_sample.jsonl"))
    kept = [u for u in utterances if "customer" in u.roles and u.gold_label is not None]
    return [u.text for u in kept], np.array([u.gold_label for u in kept])


def banking77_test_utterances() -> tuple[list[str], np.ndarray]:
    frame = pd.read_csv(DATA / "banking77" / "test.csv").drop_duplicates("text")
    return frame["text"].tolist(), frame["category"].to_numpy()


def as_labels(clusters: list[LabelledCluster]) -> list[AnalystLabel]:
    return [AnalystLabel(0, i, bool(c.good), c.features) for i, c in enumerate(clusters)]


def refit_with_weight(prior: tuple[np.ndarray, np.ndarray], labels: list[AnalystLabel], weight: float) -> CohesionModel:
    """`refit_judge` with the analyst weight as an argument (the product fixes it at ANALYST_WEIGHT)."""
    prior_features, prior_good = prior
    features = np.vstack([prior_features, np.stack([label.features for label in labels])])
    good = np.concatenate([prior_good, [label.good for label in labels]])
    weights = np.concatenate([np.ones(len(prior_good)), np.full(len(labels), weight)])
    return fit_cohesion_model(features, good, DEFAULT_EMBEDDER, {}, weights)


def scores(model: CohesionModel, held_out: list[AnalystLabel]) -> dict[str, float]:
    truth = np.array([label.good for label in held_out])
    said = agreement(model, held_out)
    p_good = model.probability_good(np.stack([label.features for label in held_out]))
    return {"auc": roc_auc_score(truth, p_good), "agreement": said["agreement"], "kappa": said["kappa"] or 0.0,
            "called_good": float((p_good >= 0.5).mean())}


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def domain_results(vectors: np.ndarray, gold: np.ndarray, ks: tuple[int, ...], args) -> dict:
    prior = load_examples(default_model_path(DEFAULT_EMBEDDER))
    shipped = load_cohesion_model(DEFAULT_EMBEDDER)
    rows: dict[tuple, list[dict]] = {}
    sizes = {"reviewable": [], "held_out": [], "held_out_good": []}
    for seed in range(args.seeds):
        half_a, half_b = train_test_split(np.arange(len(gold)), test_size=0.5, stratify=gold, random_state=seed)
        pool, held = (
            as_labels(loop_clusters(vectors[half], gold[half], algorithm="kmeans", subset_size=len(half), ks=ks, repeats=args.repeats, seed=offset + 100 * seed))
            for half, offset in ((half_a, 0), (half_b, 50))
        )
        sizes["reviewable"].append(len(pool))
        sizes["held_out"].append(len(held))
        sizes["held_out_good"].append(np.mean([label.good for label in held]))
        if seed == 0:  # the bench's weighted fit is the product's re-fit at the product's weight
            assert np.allclose(refit_with_weight(prior, pool[:10], ANALYST_WEIGHT).coef, refit_judge(DEFAULT_EMBEDDER, pool[:10]).coef)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(pool))
        good_first = [i for i in rng.permutation(len(pool)) if pool[i].good]
        bad_first = [i for i in rng.permutation(len(pool)) if not pool[i].good]
        rows.setdefault(("shipped",), []).append(scores(shipped, held))
        for n in N_LABELS:
            balanced = [pool[i] for i in good_first[: n // 2]] + [pool[i] for i in bad_first[: n - min(n // 2, len(good_first))]]
            rows.setdefault(("balanced", n), []).append(
                {**scores(refit_judge(DEFAULT_EMBEDDER, balanced), held), "n_good": sum(label.good for label in balanced)})
            reviewed = [pool[i] for i in order[:n]]
            n_good = sum(label.good for label in reviewed)
            rows.setdefault(("refit", n, ANALYST_WEIGHT), []).append({**scores(refit_judge(DEFAULT_EMBEDDER, reviewed), held), "n_good": n_good})
            for weight in args.weights:
                if weight != ANALYST_WEIGHT:
                    rows.setdefault(("refit", n, weight), []).append({**scores(refit_with_weight(prior, reviewed, weight), held), "n_good": n_good})
        rows.setdefault(("refit all",), []).append({**scores(refit_judge(DEFAULT_EMBEDDER, pool), held), "n_good": sum(l.good for l in pool)})
        alone = fit_cohesion_model(np.stack([l.features for l in pool]), np.array([l.good for l in pool]), DEFAULT_EMBEDDER, {})
        rows.setdefault(("domain only",), []).append({**scores(alone, held), "n_good": sum(l.good for l in pool)})
    return {"rows": rows, "sizes": sizes}


def print_domain(name: str, ks: tuple[int, ...], n_utterances: int, n_intents: int, result: dict, args) -> None:
    rows, sizes = result["rows"], result["sizes"]
    print(f"### {name}: {n_utterances:,} utterances, {n_intents} intents; k = {', '.join(map(str, ks))} on each half, "
          f"{args.repeats} repeats\n")
    print(f"Per seed: {np.mean(sizes['reviewable']):.0f} reviewable clusters (half A), {np.mean(sizes['held_out']):.0f} held-out "
          f"clusters (half B), {np.mean(sizes['held_out_good']):.1%} of them good by the rule.\n")
    print("| judge | analyst labels (good) | AUC | agreement at 0.5 | Cohen's kappa | kappa gain, seeds better | share called good |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    shipped_kappa = np.array([r["kappa"] for r in rows[("shipped",)]])

    def line(label: str, found: list[dict], labels: str) -> None:
        gain = np.array([r["kappa"] for r in found]) - shipped_kappa
        print(f"| {label} | {labels} | {mean_std([r['auc'] for r in found])} | {mean_std([r['agreement'] for r in found])} | "
              f"{mean_std([r['kappa'] for r in found])} | {gain.mean():+.3f}, {int((gain > 0).sum())}/{len(gain)} | "
              f"{np.mean([r['called_good'] for r in found]):.2f} |")

    line("shipped (BANKING77 train synthetic)", rows[("shipped",)], "0")
    for n in N_LABELS:
        found = rows[("refit", n, ANALYST_WEIGHT)]
        line(f"refit_judge, weight {ANALYST_WEIGHT:g}", found, f"{n} ({np.mean([r['n_good'] for r in found]):.1f})")
    for n in N_LABELS:
        found = rows[("balanced", n)]
        line(f"refit_judge, weight {ANALYST_WEIGHT:g}, balanced sample", found, f"{n} ({np.mean([r['n_good'] for r in found]):.1f})")
    found = rows[("refit all",)]
    line(f"refit_judge on all of half A, weight {ANALYST_WEIGHT:g}", found, f"{np.mean(sizes['reviewable']):.0f} ({np.mean([r['n_good'] for r in found]):.0f})")
    line("half A's clusters alone, no prior (reference)", rows[("domain only",)], "same")
    print(f"\nAnalyst weight (kappa / AUC, mean over {args.seeds} seeds):\n")
    print("| analyst labels | " + " | ".join(f"weight {w:g}" for w in args.weights) + " |")
    print("| --- |" + " --- |" * len(args.weights))
    shipped = rows[("shipped",)]
    print("| 0 (shipped) | " + " | ".join(f"{np.mean([r['kappa'] for r in shipped]):.3f} / {np.mean([r['auc'] for r in shipped]):.3f}" for _ in args.weights) + " |")
    for n in N_LABELS:
        cells = [rows[("refit", n, w)] for w in args.weights]
        print(f"| {n} | " + " | ".join(f"{np.mean([r['kappa'] for r in c]):.3f} / {np.mean([r['auc'] for r in c]):.3f}" for c in cells) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="k-means seeds per k on each half")
    parser.add_argument("--weights", type=float, nargs="+", default=[1, 5, 20, 80, 320])
    parser.add_argument("--workspace", type=Path, default=REPO / "bench" / "out" / "judge_feedback.duckdb")
    args = parser.parse_args()
    args.workspace.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    loaders = {name: loader for name, loader in zip(DOMAINS, (sgd_customer_utterances, banking77_test_utterances))}
    embedder = load_embedder(DEFAULT_EMBEDDER)
    with Store(args.workspace) as store:
        for name, ks in DOMAINS.items():
            texts, gold = loaders[name]()
            vectors = embed_texts(texts, embedder, store)
            with threadpool_limits(1):  # small k-means fits: threads only contend, 5-8x slower on a busy 2-core box
                result = domain_results(vectors, gold, ks, args)
            print_domain(name, ks, len(texts), len(np.unique(gold)), result, args)
    print(f"Wall time {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
