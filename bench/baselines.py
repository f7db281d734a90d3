"""Embedding-only baselines on BANKING77 test: k-means with the true k, k-means with silhouette k, HDBSCAN.

Usage: .venv/bin/python bench/baselines.py [--data FILE] [--role customer] [--embedder NAME]
(default data: ../shared/data/banking77/test.csv; JSONL dialogues take their gold intents from the turns)
Prints a Markdown table for BENCHMARKS.md. Embeddings are computed once (timed on their own) into a
fresh temporary workspace, so each method's seconds are its clustering time.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dialin_core.config import RunConfig  # noqa: E402
from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder  # noqa: E402
from dialin_core.methods.baselines import run_discovery  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "banking77" / "test.csv")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--role", action="append", help="only utterances of this role (repeatable)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        dataset_id = ingest_file(store, args.data, ColumnMapping(text="text", label=args.label_column))
        roles = tuple(args.role or ())
        utterances = store.utterances(dataset_id, roles=roles or None)
        n_gold = utterances["gold_label"].nunique()
        started = time.perf_counter()
        embedder = load_embedder(args.embedder)
        embed_texts(utterances["text"].tolist(), embedder, store)
        embed_seconds = time.perf_counter() - started

        configs = {
            f"kmeans, true k={n_gold}": RunConfig(method="kmeans", k=n_gold),
            "kmeans, silhouette k (5..150)": RunConfig(method="kmeans"),
            "hdbscan (UMAP 10-d, min size 10)": RunConfig(method="hdbscan"),
        }
        print(f"data: {args.data.name}{' (' + ', '.join(roles) + ' turns)' if roles else ''}, {len(utterances)} unique utterances, {n_gold} gold intents; "
              f"embedder {args.embedder}: {embed_seconds:.1f} s to embed\n")
        print("| method | ACC | NMI | ARI | F1 | #clusters | outliers | seconds |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for label, config in configs.items():
            config = RunConfig(**{**config.as_dict(), "roles": roles, "with_map": False, "seed": args.seed, "embedder": args.embedder})
            summary = run_discovery(store, dataset_id, config, embedder).summary
            m = summary["metrics"]
            print(f"| {label} | {m['acc']:.3f} | {m['nmi']:.3f} | {m['ari']:.3f} | {m['f1']:.3f} | "
                  f"{summary['n_clusters']} | {summary['n_outliers']} | {summary['seconds']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
