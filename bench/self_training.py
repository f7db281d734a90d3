"""Self-training on dev: fine-tune MiniLM on the Dial-In loop's own clusters, embed again, run the loop again.

Usage: .venv/bin/python bench/self_training.py SET VARIANT   (SET: b77-sample, b77-train or sgd, as in bench/loop_dev.py)

VARIANT says which clusters of the first loop (defaults, cohesion judge, no LLM) teach the embedder:
- good: members of the clusters the judge called good; all: every kept cluster, the remainder included;
- core-good: of the good clusters, the members at or above their cluster's median cosine to its centroid.
Each taught member gives one (anchor, positive) pair with a random other member of its cluster, at most
3,000 pairs, one epoch of sentence-transformers' MultipleNegativesRankingLoss (batch 64, no duplicates in a
batch, lr 2e-5). Rows: k-means with the true k and the loop, before and after, on the same sample.
Dev data only; the result decides whether self-training becomes a step of the loop.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bakeoff import labelled_sample  # noqa: E402
from loop_dev import NO_LLM, SETS  # noqa: E402
from peers import kmeans_true_k, score_cells  # noqa: E402

from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, SentenceTransformerEmbedder, resolve_model_path  # noqa: E402
from dialin_core.methods.dialin import build_tools, run_dialin  # noqa: E402

MAX_PAIRS = 3000


def taught_rows(labels: np.ndarray, verdicts: dict[int, str], vectors: np.ndarray, variant: str) -> list[int]:
    rows = [i for i, c in enumerate(labels) if c >= 0 and (variant == "all" or verdicts.get(int(c)) == "good")]
    if variant != "core-good":
        return rows
    core = []
    for c in np.unique(labels[rows]):
        members = [i for i in rows if labels[i] == c]
        cosines = vectors[members] @ vectors[members].mean(axis=0)
        core += [m for m, x in zip(members, cosines) if x >= np.median(cosines)]
    return core


def fine_tune(texts: list[str], labels: np.ndarray, rows: list[int], out: Path) -> Path:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses
    from sentence_transformers.training_args import BatchSamplers

    rng = np.random.default_rng(0)
    members: dict[int, list[int]] = {}
    for i in rows:
        members.setdefault(int(labels[i]), []).append(i)
    pairs = [(i, int(rng.choice([j for j in members[int(labels[i])] if j != i]))) for i in rows if len(members[int(labels[i])]) > 1]
    pairs = [pairs[k] for k in rng.permutation(len(pairs))[:MAX_PAIRS]]
    train = Dataset.from_dict({"anchor": [texts[a] for a, _ in pairs], "positive": [texts[p] for _, p in pairs]})
    model = SentenceTransformer(str(resolve_model_path(DEFAULT_EMBEDDER)), device="cpu")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=1, per_device_train_batch_size=64, learning_rate=2e-5,
        warmup_steps=0.1, batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="no", report_to=[], seed=0, use_cpu=True,
        disable_tqdm=True,
    )
    SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss=losses.MultipleNegativesRankingLoss(model)).train()
    model.save(str(out / "model"))
    return out / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=list(SETS))
    parser.add_argument("variant", choices=["good", "all", "core-good"])
    args = parser.parse_args()
    title, path, mapping, roles, n, seed = SETS[args.set]
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "dev.duckdb") as store:
        sample_path = labelled_sample(store, path, mapping, roles, n, seed, Path(folder))
        dataset_id = ingest_file(store, sample_path, ColumnMapping(text="text", label="gold_label"))
        utterances = store.utterances(dataset_id)
        texts, gold = utterances["text"].tolist(), utterances["gold_label"].tolist()

        def loop(embedder) -> tuple[np.ndarray, dict[int, str], str]:
            started = time.perf_counter()
            result = run_dialin(store, dataset_id, NO_LLM, tools=build_tools(store, NO_LLM, embedder))
            by_id = dict(zip(result.assignments["utterance_id"], result.assignments["cluster_id"]))
            labels = np.array([by_id[u] for u in utterances["utterance_id"]])
            verdicts = dict(zip(result.clusters["cluster_id"].astype(int), result.clusters["verdict"]))
            return labels, verdicts, score_cells(gold, labels, time.perf_counter() - started)

        base = SentenceTransformerEmbedder(DEFAULT_EMBEDDER)
        vectors = embed_texts(texts, base, store)
        print(f"\n{title}: {len(texts)} utterances, {len(set(gold))} intents; variant {args.variant}\n")
        print("| row | ACC | NMI | ARI | clusters (x true) | seconds |\n| --- | --- | --- | --- | --- | --- |")
        print(f"| MiniLM, k-means true k | {kmeans_true_k(vectors, len(set(gold))).cells(gold)} |")
        labels, verdicts, cells = loop(base)
        print(f"| MiniLM, loop | {cells} |", flush=True)
        rows = taught_rows(labels, verdicts, vectors, args.variant)
        started = time.perf_counter()
        tuned = SentenceTransformerEmbedder(str(fine_tune(texts, labels, rows, Path(folder) / "tuned")))
        trained = time.perf_counter() - started
        tuned.name = f"self-trained-{args.variant}"
        print(f"| self-trained on {len(rows)} members of {len(np.unique(labels[rows]))} clusters ({trained:.0f} s), "
              f"k-means true k | {kmeans_true_k(embed_texts(texts, tuned, store), len(set(gold))).cells(gold)} |")
        print(f"| self-trained, loop | {loop(tuned)[2]} |", flush=True)


if __name__ == "__main__":
    main()
