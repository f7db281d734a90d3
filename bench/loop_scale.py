"""The Dial-In loop past its sample size: clustering a sample spread across dialogues and assigning the rest to
the nearest intent, against clustering everything, beside BERTopic and k-means on the same vectors (dev data).

Usage: .venv/bin/python bench/loop_scale.py [--sets sgd-all,b77-train] [--samples 20000,10000,5000,3000] [--seed S]

Data sets (dev only):
- sgd-all: every customer turn of the SGD sample, ingested as dialogues (the sample is spread across them);
  scored on the turns that carry an intent;
- b77-train: all of BANKING77 train (9,998 unique queries; each query its own dialogue).

Rows: k-means with the true k and BERTopic (defaults, and with reduce_outliers) on all utterances; the loop over
all of them (its `loop_sample` above the set's size: past Ward's 20,000 rows the loop's cuts fall back to
k-means); and the loop on samples of the sizes given, the rest assigned to the nearest intent's prototype or
left unassigned. The loop rows use the cohesion judge and no LLM. Columns: ACC, NMI, ARI and clusters over every
labelled utterance; ACC of the sampled and of the assigned utterances apart; the share left unassigned; the
row's seconds on cached vectors (embedding is timed once per set).
"""

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bakeoff import SHARED  # noqa: E402
from peers import bertopic_rows, kmeans_true_k, score_cells  # noqa: E402

from dialin_core.clustering.algorithms import NOISE  # noqa: E402
from dialin_core.config import RunConfig  # noqa: E402
from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder  # noqa: E402
from dialin_core.evaluation.metrics import score_clustering  # noqa: E402
from dialin_core.methods.dialin import build_tools, run_dialin  # noqa: E402

SETS = {
    "sgd-all": ("SGD customer turns, all, as dialogues", SHARED / "sgd" / "train_sample.jsonl", None, ("customer",)),
    "b77-train": ("BANKING77 train, all", SHARED / "banking77" / "train.csv", ColumnMapping(text="text", label="category"), ()),
}
NO_LLM = RunConfig(llm="none", judge="cohesion", with_map=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--samples", default="20000,10000,5000,3000", help="loop sample sizes; those not below a set's size are skipped")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    embedder = load_embedder(DEFAULT_EMBEDDER)
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "scale.duckdb") as store:
        for key in args.sets.split(","):
            title, path, mapping, roles = SETS[key]
            dataset_id = ingest_file(store, path, mapping)
            utterances = store.utterances(dataset_id, roles=roles or None)
            texts = utterances["text"].tolist()
            started = time.perf_counter()
            vectors = embed_texts(texts, embedder, store)
            embedding = time.perf_counter() - started
            labelled = (utterances["gold_label"].notna() & (utterances["gold_label"] != "")).to_numpy()
            gold = utterances.loc[labelled, "gold_label"].tolist()
            n_gold = len(set(gold))
            print(f"\n{title}: {len(texts):,} utterances ({labelled.sum():,} labelled, {n_gold} intents); "
                  f"{embedder.name}: {embedding:.0f} s to embed\n")
            print("| row | ACC | NMI | ARI | clusters (x true) | seconds | ACC sampled / assigned | unassigned |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for peer in [kmeans_true_k(vectors, n_gold, args.seed), *bertopic_rows(texts, vectors, args.seed)]:
                scored = peer.labels[labelled]
                print(f"| {peer.label} | {score_cells(gold, scored, peer.seconds)} | - | {np.mean(peer.labels == NOISE):.3f} |", flush=True)
            common = replace(NO_LLM, roles=roles, seed=args.seed)
            sizes = [len(texts) + 1] + [int(s) for s in args.samples.split(",") if int(s) < len(texts)]
            for size in sizes:
                config = replace(common, loop_sample=size)
                started = time.perf_counter()
                result = run_dialin(store, dataset_id, config, tools=build_tools(store, config, embedder))
                seconds = time.perf_counter() - started
                stored = store.assignments(result.run_id).set_index("utterance_id").loc[utterances["utterance_id"]]
                labels = stored["cluster_id"].to_numpy()
                sampled = stored["sampled"].fillna(True).to_numpy(dtype=bool)
                apart = " / ".join(f"{score_clustering(list(np.array(gold)[part[labelled]]), labels[labelled & part]).acc:.3f}"
                                   for part in (sampled, ~sampled) if (labelled & part).any())
                label = "Dial-In, the loop over all" if size > len(texts) else f"Dial-In, the loop on a sample of {size:,}"
                print(f"| {label} | {score_cells(gold, labels[labelled], seconds)} | {apart} | {np.mean(labels == NOISE):.3f} |", flush=True)


if __name__ == "__main__":
    main()
