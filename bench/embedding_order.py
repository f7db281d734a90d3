"""Embedding speed by the order texts reach the model: in data order, or shortest first across the whole set.

Usage: .venv/bin/python bench/embedding_order.py [--n 3072] [--repeats 3] [--seed 2]

`n` of the scale benches' turns (`copies.py`: BANKING77 and the SGD customer turns, copies numbered) are embedded by
MiniLM in calls of `embed.EMBED_BATCH` texts, as `embed_texts` hands them to the model, once in data order and once
shortest first, the two interleaved `--repeats` times in one process so the machine's drift falls on both; the
table gives texts a second (median and each repeat) and the largest difference between the two orders' vectors.
sentence-transformers sorts by length within each call either way; what differs is which texts share a call.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from copies import copies, real_utterances  # noqa: E402

from dialin_core.embedding.embed import EMBED_BATCH  # noqa: E402
from dialin_core.embedding.models import SentenceTransformerEmbedder  # noqa: E402


def embed_in(order: np.ndarray, texts: list[str], embedder: SentenceTransformerEmbedder) -> tuple[np.ndarray, float]:
    """The vectors of `texts` (in their own order) embedded in calls cut from `order`, and texts a second."""
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    started = time.perf_counter()
    for start in range(0, len(order), EMBED_BATCH):
        rows = order[start:start + EMBED_BATCH]
        vectors[rows] = embedder.encode([texts[i] for i in rows])
    return vectors, len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3072)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    texts = copies(real_utterances(), args.n, np.random.default_rng(args.seed)).texts
    embedder = SentenceTransformerEmbedder()
    embedder.encode(texts[:64])  # the model loaded and warm before the clock starts
    orders = {"data order": np.arange(len(texts)), "shortest first": np.argsort([len(t) for t in texts], kind="stable")}
    rates: dict[str, list[float]] = {name: [] for name in orders}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, order in orders.items():
            vectors[name], rate = embed_in(order, texts, embedder)
            rates[name].append(rate)
    print(f"{len(texts):,} turns, calls of {EMBED_BATCH}, {args.repeats} repeats interleaved\n")
    print("| order | texts a second (median) | each repeat |\n| --- | --- | --- |")
    for name, values in rates.items():
        print(f"| {name} | {np.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")
    print(f"\nlargest difference between the two orders' vectors: {np.abs(vectors['data order'] - vectors['shortest first']).max():.1e}")


if __name__ == "__main__":
    main()
