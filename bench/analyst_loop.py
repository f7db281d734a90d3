"""Does an embedder taught by an analyst's decisions cluster unseen utterances better?

Usage: .venv/bin/python bench/analyst_loop.py [--set b77-test] [--decisions 25 50 100 200] [--seed 0] [--json]
       (dev choices: --set b77-sample or sgd, with --epochs / --learning-rate / --margin)

Protocol. The set's labelled utterances are split 50/50, stratified by intent. The Dial-In loop (defaults,
cohesion judge, no LLM) clusters half A; a simulated analyst reviews its clusters in a seeded random order
with the product's own review actions, recorded in the workspace: a cluster that passes the gold rule (one
intent holds >= 90% of its members and >= 50% of that intent's utterances in the half, as in
bench/judge_feedback.py) has its other members moved out and is approved (two decisions, one when it is
pure); any other cluster is marked bad (one decision), after the analyst has made a new cluster of the intent
it mostly holds when that intent is at least half of it and 5 sentences (one more decision). At each decision count the product's teaching
(`dialin_core.embedding.adapted.pairs_of_run` and `train`) fine-tunes MiniLM on what the review says, and
the loop clusters half B, which no decision touched, with the adapted vectors. Rows on half B: the loop,
k-means with the true k and BERTopic (defaults, and + reduce_outliers) on the plain vectors, then the loop and
the same peers on each adapted model's vectors. Only half B is scored.

`--json` prints {"decisions": N, "acc_plain": x, "acc_adapted": y, "nmi_plain": x, "nmi_adapted": y, ...}
per decision count instead of the table.
"""

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bakeoff import SHARED, labelled_sample  # noqa: E402
from loop_dev import NO_LLM  # noqa: E402
from peers import bertopic_rows, kmeans_true_k, score_cells  # noqa: E402

from dialin_core.curation.review import UNASSIGNED, move, new_cluster, review_state, set_status, set_verdict  # noqa: E402
from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.adapted import LOSSES, TrainingSettings, pairs_of_run, train  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, SentenceTransformerEmbedder, load_embedder, resolve_model_path  # noqa: E402
from dialin_core.evaluation.metrics import score_clustering  # noqa: E402
from dialin_core.methods.dialin import build_tools, run_dialin  # noqa: E402

BANKING_CSV = ColumnMapping(text="text", label="category")
SETS = {
    "b77-test": ("BANKING77 test", SHARED / "banking77" / "test.csv", BANKING_CSV, (), None, 0),
    "b77-sample": ("BANKING77 train, stratified 3,080 (seed 1)", SHARED / "banking77" / "train.csv", BANKING_CSV, (), 3080, 1),
    "sgd": ("SGD customer turns, stratified 3,101 (seed 0)", SHARED / "sgd" / "train_sample.jsonl", None, ("customer",), 3100, 0),
}
ANALYST = "simulated analyst"
GOOD_SHARE, INTENT_SHARE = 0.9, 0.5
SPLIT_SHARE, SPLIT_MIN = 0.5, 5


class SimulatedAnalyst:
    """Reviews half A's clusters one at a time in a seeded order, through the product's review actions."""

    def __init__(self, store: Store, run_id: int, gold: dict[int, str], seed: int) -> None:
        self.store, self.run_id, self.gold = store, run_id, gold
        self.intent_sizes = pd.Series(list(gold.values())).value_counts()
        live = review_state(store, run_id).live_clusters()
        self.queue = [int(c) for c in np.random.default_rng(seed).permutation(live["cluster_id"].to_numpy())]
        self.decisions = self.reviewed = self.approved = self.made = 0

    def review_until(self, decisions: int) -> None:
        while self.decisions < decisions and self.queue:
            cluster = self.queue.pop(0)
            members = review_state(self.store, self.run_id).members
            ids = members.loc[members["cluster_id"] == cluster, "utterance_id"].astype(int).tolist()
            intents = pd.Series([self.gold[u] for u in ids])
            top, count = intents.value_counts().index[0], int(intents.value_counts().iloc[0])
            self.reviewed += 1
            if count / len(ids) >= GOOD_SHARE and count >= INTENT_SHARE * self.intent_sizes[top]:
                strays = [u for u in ids if self.gold[u] != top]
                if strays:
                    move(self.store, self.run_id, ANALYST, strays, UNASSIGNED)
                    self.decisions += 1
                set_status(self.store, self.run_id, ANALYST, [cluster], "approved")
                self.approved += 1
            else:
                if count >= SPLIT_MIN and count / len(ids) >= SPLIT_SHARE:  # the intent it mostly holds becomes a cluster
                    mostly = [u for u in ids if self.gold[u] == top]
                    new_cluster(self.store, self.run_id, ANALYST, mostly, f"{top} ({cluster})")
                    self.decisions += 1
                    self.made += 1
                set_verdict(self.store, self.run_id, ANALYST, [cluster], "bad")
            self.decisions += 1


def split_halves(store: Store, sample: Path, folder: Path, seed: int) -> tuple[int, int]:
    frame = pd.read_csv(sample)
    a, b = train_test_split(frame, test_size=0.5, stratify=frame["gold_label"], random_state=seed)
    ids = []
    for name, half in (("half_a", a), ("half_b", b)):
        half.to_csv(folder / f"{name}.csv", index=False)
        ids.append(ingest_file(store, folder / f"{name}.csv", ColumnMapping(text="text", label="gold_label")))
    return ids[0], ids[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="b77-test", choices=list(SETS))
    parser.add_argument("--decisions", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=TrainingSettings.epochs)
    parser.add_argument("--learning-rate", type=float, default=TrainingSettings.learning_rate)
    parser.add_argument("--margin", type=float, default=TrainingSettings.margin)
    parser.add_argument("--loss", default=TrainingSettings.loss, choices=LOSSES)
    parser.add_argument("--no-peers-adapted", action="store_true", help="skip BERTopic on the adapted vectors (dev sweeps)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = replace(TrainingSettings(), epochs=args.epochs, learning_rate=args.learning_rate, margin=args.margin, loss=args.loss, seed=args.seed)
    title, path, mapping, roles, n, sample_seed = SETS[args.set]
    say = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    base = load_embedder(DEFAULT_EMBEDDER)
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        sample = labelled_sample(store, path, mapping, roles, n, sample_seed, Path(folder))
        half_a, half_b = split_halves(store, sample, Path(folder), args.seed)
        a, b = store.utterances(half_a), store.utterances(half_b)
        gold_b, texts_b = b["gold_label"].tolist(), b["text"].tolist()
        n_intents = len(set(gold_b))

        def loop(dataset_id: int, embedder) -> tuple[np.ndarray, float, int]:
            started = time.perf_counter()
            judge_embedder = None if embedder is base else base  # as the product reads an adapted model's clusters
            result = run_dialin(store, dataset_id, NO_LLM, tools=build_tools(store, NO_LLM, embedder, judge_embedder=judge_embedder))
            by_id = dict(zip(result.assignments["utterance_id"], result.assignments["cluster_id"]))
            labels = np.array([by_id[u] for u in store.utterances(dataset_id)["utterance_id"]])
            return labels, time.perf_counter() - started, result.run_id

        def rows_on_b(label: str, embedder, with_bertopic: bool) -> dict:
            vectors = embed_texts(texts_b, embedder, store)
            labels, seconds, _ = loop(half_b, embedder)
            say(f"| {label}: Dial-In loop | {score_cells(gold_b, labels, seconds)} |")
            say(f"| {label}: k-means, true k | {kmeans_true_k(vectors, n_intents, args.seed).cells(gold_b)} |")
            if with_bertopic:
                for peer in bertopic_rows(texts_b, vectors, args.seed):
                    say(f"| {label}: {peer.label} | {peer.cells(gold_b)} |")
            sys.stdout.flush()
            return score_clustering(gold_b, labels).as_dict()

        say(f"\n{title}: {len(a)} utterances reviewed (half A), {len(b)} scored (half B), {n_intents} intents; "
            f"training {settings}\n")
        say("| row (half B) | ACC | NMI | ARI | clusters (x true) | seconds |\n| --- | --- | --- | --- | --- | --- |")
        plain = rows_on_b("MiniLM", base, with_bertopic=True)
        labels_a, seconds_a, run_id = loop(half_a, base)
        gold_a = dict(zip(a["utterance_id"].astype(int), a["gold_label"]))
        analyst = SimulatedAnalyst(store, run_id, gold_a, args.seed)
        say(f"| (half A, reviewed, not scored: the loop with MiniLM) | {score_cells(a['gold_label'].tolist(), labels_a, seconds_a)} |")
        results = []
        for budget in args.decisions:
            analyst.review_until(budget)
            pairs = pairs_of_run(store, run_id, args.seed)
            out = Path(folder) / f"adapted-{budget}"
            seconds = train(pairs, resolve_model_path(DEFAULT_EMBEDDER), out, settings)
            adapted = SentenceTransformerEmbedder(str(out), name=f"bench-adapted-{budget}")
            label = (f"taught by {analyst.decisions} decisions on {analyst.reviewed} clusters ({analyst.approved} approved, {analyst.made} made; "
                     f"{len(pairs)} pairs, {seconds:.0f} s)")
            scores = rows_on_b(label, adapted, with_bertopic=not args.no_peers_adapted)
            results.append({"decisions": analyst.decisions, "clusters_reviewed": analyst.reviewed, "approved": analyst.approved, "made": analyst.made,
                            "pairs": len(pairs), "training_seconds": round(seconds, 1),
                            "acc_plain": plain["acc"], "acc_adapted": scores["acc"], "nmi_plain": plain["nmi"], "nmi_adapted": scores["nmi"],
                            "ari_plain": plain["ari"], "ari_adapted": scores["ari"]})
            if not analyst.queue:
                say(f"(every cluster of half A reviewed after {analyst.decisions} decisions)")
                break
        if args.json:
            print(json.dumps(results if len(results) > 1 else results[0], indent=2))


if __name__ == "__main__":
    main()
