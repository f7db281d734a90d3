"""Choosing the Dial-In loop's defaults on development data only: BANKING77 *train* and the SGD customer turns.

Usage: .venv/bin/python bench/loop_dev.py [--sets b77-sample,b77-train,sgd] [--seed S]

Data sets (never BANKING77 test, which confirms the choice once, in bench/bakeoff.py):
- b77-sample: a stratified 3,080 of BANKING77 train (seed 1), the size of BANKING77 test;
- b77-train: all of BANKING77 train (9,998 unique queries), to see how a setting moves with the data's size;
- sgd: the stratified 3,101 SGD customer turns the bake-off uses (seed 0).

Every row clusters the same stored MiniLM vectors: k-means with the true k and BERTopic (defaults, and with
reduce_outliers) beside each loop variant. The loop rows use the cohesion judge and no LLM, so they isolate the
clustering and the choice of k (the LLM's names and merges come on top in the bake-off). Columns: ACC, NMI,
ARI, clusters (and their ratio to the true count), seconds of the row on cached vectors.
"""

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bakeoff import SHARED, labelled_sample  # noqa: E402
from peers import bertopic_rows, kmeans_true_k, score_cells  # noqa: E402

from dialin_core.config import RunConfig  # noqa: E402
from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, Embedder, load_embedder  # noqa: E402
from dialin_core.methods.baselines import RunResult  # noqa: E402
from dialin_core.methods.dialin import build_tools, run_dialin  # noqa: E402

BANKING = (SHARED / "banking77" / "train.csv", ColumnMapping(text="text", label="category"), ())
SETS = {
    "b77-sample": ("BANKING77 train, stratified 3,080 (seed 1)", *BANKING, 3080, 1),
    "b77-train": ("BANKING77 train, all", *BANKING, None, 0),
    "sgd": ("SGD customer turns, stratified 3,101 (seed 0)", SHARED / "sgd" / "train_sample.jsonl", None, ("customer",), 3100, 0),
}
NO_LLM = RunConfig(llm="none", judge="cohesion", with_map=False)
VARIANTS = {
    "Dial-In before: raw vectors, good/bad ratio": replace(NO_LLM, loop_space="embedding", loop_k_choice="ratio", keep_remainder=False),
    "Dial-In, UMAP space, good/bad ratio": replace(NO_LLM, loop_k_choice="ratio", keep_remainder=False),
    "Dial-In, UMAP space, silhouette k, no remainder": replace(NO_LLM, keep_remainder=False),
    "Dial-In, UMAP space, silhouette k, remainder kept (default)": NO_LLM,
}


@dataclass(frozen=True)
class DevSet:
    """One dev set stored and embedded: what every row of a dev bench clusters."""

    title: str
    dataset_id: int
    utterances: pd.DataFrame
    texts: list[str]
    gold: list[str]
    vectors: np.ndarray


def dev_set(store: Store, key: str, folder: Path, embedder: Embedder) -> DevSet:
    """The set `key` of SETS, sampled as it says, ingested into `store` and embedded (cached in the store)."""
    title, path, mapping, roles, n, seed = SETS[key]
    sample_path = labelled_sample(store, path, mapping, roles, n, seed, folder)
    dataset_id = ingest_file(store, sample_path, ColumnMapping(text="text", label="gold_label"))
    utterances = store.utterances(dataset_id)
    texts, gold = utterances["text"].tolist(), utterances["gold_label"].tolist()
    return DevSet(title, dataset_id, utterances, texts, gold, embed_texts(texts, embedder, store))


def run_labels(result: RunResult, utterances: pd.DataFrame) -> np.ndarray:
    """A run's cluster of each utterance, in the order of `utterances`."""
    by_id = dict(zip(result.assignments["utterance_id"], result.assignments["cluster_id"]))
    return np.array([by_id[u] for u in utterances["utterance_id"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    args = parser.parse_args()
    embedder = load_embedder(DEFAULT_EMBEDDER)
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "dev.duckdb") as store:
        for key in args.sets.split(","):
            data = dev_set(store, key, Path(folder), embedder)
            texts, gold, vectors = data.texts, data.gold, data.vectors
            print(f"\n{data.title}: {len(texts)} utterances, {len(set(gold))} intents\n")
            print("| method | ACC | NMI | ARI | clusters (x true) | seconds |")
            print("| --- | --- | --- | --- | --- | --- |")
            for peer in [kmeans_true_k(vectors, len(set(gold))), *bertopic_rows(texts, vectors)]:
                print(f"| {peer.label} | {peer.cells(gold)} |", flush=True)
            for label, config in VARIANTS.items():
                started = time.perf_counter()
                result = run_dialin(store, data.dataset_id, config, tools=build_tools(store, config, embedder))
                seconds = time.perf_counter() - started
                labels = run_labels(result, data.utterances)
                chosen = ", ".join(str(i["chosen_k"]) for i in result.summary["iterations"] if "chosen_k" in i)
                print(f"| {label} (k per iteration: {chosen}) | {score_cells(gold, labels, seconds)} |", flush=True)


if __name__ == "__main__":
    main()
