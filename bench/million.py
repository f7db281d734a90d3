"""A million utterances end to end on one machine: ingest, the Dial-In run (its loop on a sample, the rest
assigned to the nearest intent), and the studio's first reads of the finished run, timed phase by phase.

Usage: .venv/bin/python bench/million.py [--n 1000000] [--noise 0.02] [--folder DIR] [--peers-at 100000]

The utterances are copies of the real labelled ones of BANKING77 (train and test) and the SGD customer turns, as
`copies.py` makes them (copy c of utterance u reads "u's text (c)"); the copy's vector is u's MiniLM vector plus Gaussian noise of
`--noise` per coordinate, renormalised (0.02: cosine about 0.93 to the original), so every utterance is
distinct, keeps its intent, and lies where real paraphrases would. Dialogues are runs of 8 consecutive shuffled
utterances. The vectors are put in the workspace's embedding cache before the run, so the run's embedding step
reads them: what the model would take to embed a million texts is measured on the real utterances instead
(texts a second) and reported beside, not added in. The run has no LLM (cohesion judge, keyword names).

Peers on the same vectors: k-means (mini-batch, the true k) on all of them; BERTopic (defaults + reduce_outliers)
and the Dial-In run without a sample on the first `--peers-at` utterances, where they still fit.
"""

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from copies import copies, real_utterances  # noqa: E402
from peers import bertopic_rows, score_cells  # noqa: E402

from dialin_core.config import RunConfig  # noqa: E402
from dialin_core.curation.review import review_state  # noqa: E402
from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store, text_hash  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder  # noqa: E402
from dialin_core.methods.dialin import run_dialin  # noqa: E402

NO_LLM = RunConfig(llm="none", judge="cohesion")
DIALOGUE_LENGTH = 8


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument("--peers-at", type=int, default=100_000)
    parser.add_argument("--folder", help="where the workspace goes (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    embedder = load_embedder(DEFAULT_EMBEDDER)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.folder or scratch)
        real = real_utterances()
        with Store(folder / "real.duckdb") as store:
            base = embed_texts(real["text"].tolist(), embedder, store)  # cached in the folder's workspace after a first run
            started = time.perf_counter()
            embedder.encode(real["text"].tolist()[:4096])  # the model's pace, whatever the cache holds
            rate = 4096 / (time.perf_counter() - started)
        print(f"{len(real):,} real labelled utterances, {real['intent'].nunique()} intents; {embedder.name} embeds "
              f"{rate:.0f} texts a second here (a million: {1e6 / rate / 60:.0f} min)", flush=True)

        made = copies(real, args.n, rng)
        texts, gold, source = made.texts, made.intents, made.source
        vectors = base[source] + rng.normal(0, args.noise, (args.n, base.shape[1])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        csv = folder / "million.csv"
        pd.DataFrame({"dialogue": rng.permutation(args.n) // DIALOGUE_LENGTH, "text": texts, "intent": gold}).to_csv(csv, index=False)
        print(f"{args.n:,} utterances written ({csv.stat().st_size / 2**20:.0f} MiB CSV), {len(set(gold))} intents\n", flush=True)

        timings: list[tuple[str, float]] = []
        with Store(folder / "million.duckdb") as store:
            started = time.perf_counter()
            dataset_id = ingest_file(store, csv, ColumnMapping(text="text", dialogue_id="dialogue", label="intent"))
            timings.append(("ingest (CSV to DuckDB)", time.perf_counter() - started))
            utterances = store.utterances(dataset_id)
            position = dict(zip(texts, range(args.n)))
            rows = np.array([position[t] for t in utterances["text"]])  # the stored (clean) text is the written one
            store.put_embeddings(embedder.name, [text_hash(t) for t in utterances["text"]], vectors[rows])
            started = time.perf_counter()
            result = run_dialin(store, dataset_id, NO_LLM)
            timings.append(("Dial-In run (defaults, no LLM; vectors cached)", time.perf_counter() - started))
            started = time.perf_counter()
            state = review_state(store, result.run_id)
            timings.append(("review state of the finished run (what the Review page folds)", time.perf_counter() - started))
            started = time.perf_counter()
            store.assignments(result.run_id)
            timings.append(("the run's assignments read (the Map page's query)", time.perf_counter() - started))
            events = store.events(result.run_id)
            log, _ = store.event_times(result.run_id)
            opened = store.run_times(result.run_id)[0]
        summary = result.summary
        print("| step | seconds |\n| --- | --- |")
        for step, seconds in timings:
            print(f"| {step} | {seconds:.2f} |")
        times = dict(reversed(log))  # the first time each kind was logged
        for kind in ("sample_drawn", "space_reduced", "loop_stopped", "leftovers_assigned", "clusters_named", "merges_proposed"):
            if kind in times:
                print(f"| run: {kind} at | {(times[kind] - opened).total_seconds():.1f} |")
        print(f"\npeak memory {peak_gb():.1f} GB; {len(state.live_clusters())} clusters; summary: n_sampled {summary.get('n_sampled')}, "
              f"n_mapped {summary.get('n_mapped')}, outliers {summary['n_outliers']:,}\n", flush=True)
        sample = next(e for e in events if e["kind"] == "sample_drawn")
        print(f"sample: {sample['n_sample']:,} of {sample['n_items']:,} over {sample['n_dialogues']:,} dialogues\n")

        by_text = pd.Series(result.assignments["cluster_id"].to_numpy(), index=result.assignments["text"])
        labels = by_text.loc[utterances["text"]].to_numpy()
        stored_gold = gold[rows]
        n_gold = len(set(gold))
        print("| row | ACC | NMI | ARI | clusters (x true) | seconds |\n| --- | --- | --- | --- | --- | --- |")
        print(f"| Dial-In defaults, no LLM, all {args.n:,} | {score_cells(list(stored_gold), labels, timings[1][1])} |", flush=True)
        from sklearn.cluster import MiniBatchKMeans

        started = time.perf_counter()
        kmeans = MiniBatchKMeans(n_clusters=n_gold, random_state=args.seed, n_init=3, batch_size=4096).fit_predict(vectors[rows])
        print(f"| k-means (mini-batch), true k = {n_gold}, all | {score_cells(list(stored_gold), kmeans, time.perf_counter() - started)} |", flush=True)
        head = np.arange(min(args.peers_at, args.n))
        print(f"\nThe first {len(head):,} utterances:\n")
        print("| row | ACC | NMI | ARI | clusters (x true) | seconds |\n| --- | --- | --- | --- | --- | --- |")
        small = folder / "head.csv"
        pd.DataFrame({"dialogue": rng.permutation(len(head)) // DIALOGUE_LENGTH, "text": [texts[i] for i in head],
                      "intent": gold[head]}).to_csv(small, index=False)
        with Store(folder / "head.duckdb") as store:
            head_id = ingest_file(store, small, ColumnMapping(text="text", dialogue_id="dialogue", label="intent"))
            head_utterances = store.utterances(head_id)
            head_rows = np.array([position[t] for t in head_utterances["text"]])
            store.put_embeddings(embedder.name, [text_hash(t) for t in head_utterances["text"]], vectors[head_rows])
            head_gold = list(gold[head_rows])
            for label, config in ((f"Dial-In defaults, no LLM (loop sample {NO_LLM.loop_sample:,})", NO_LLM),
                                  ("Dial-In, no LLM, the loop over all (no sample)", replace(NO_LLM, loop_sample=len(head) + 1))):
                started = time.perf_counter()
                run = run_dialin(store, head_id, replace(config, with_map=False))
                seconds = time.perf_counter() - started
                by_id = dict(zip(run.assignments["utterance_id"], run.assignments["cluster_id"]))
                print(f"| {label} | {score_cells(head_gold, np.array([by_id[u] for u in head_utterances['utterance_id']]), seconds)} |", flush=True)
        for peer in bertopic_rows([texts[i] for i in head_rows], vectors[head_rows], args.seed):
            print(f"| {peer.label} | {peer.cells(head_gold)} |", flush=True)


if __name__ == "__main__":
    main()
