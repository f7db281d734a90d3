"""A direction measured on dev that did not hold: polishing the loop's final partition with Lloyd steps.

Usage: .venv/bin/python bench/loop_polish.py b77-sample,sgd

The loop keeps clusters iteration by iteration, so a point kept early never moves to a centroid found later.
This starts k-means (1, 3 or 300 iterations) from the final clusters' own centroids, in the loop's UMAP space
or on the unit MiniLM vectors, and scores each beside the default and k-means with the true k (the BERTopic
rows of the same sets and vectors are bench/loop_dev.py's).
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import normalize

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from loop_dev import NO_LLM, dev_set, run_labels  # noqa: E402
from peers import kmeans_true_k, score_cells  # noqa: E402

from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder  # noqa: E402
from dialin_core.methods.dialin import build_tools, run_dialin  # noqa: E402


def polish(space: np.ndarray, labels: np.ndarray, iters: int) -> np.ndarray:
    """k-means on `space` started from the partition's own centroids: the same k, points free to move."""
    ids = np.unique(labels)
    centres = np.stack([space[labels == c].mean(0) for c in ids])
    return KMeans(n_clusters=len(ids), init=centres, n_init=1, max_iter=iters).fit_predict(space)


def main() -> None:
    embedder = load_embedder(DEFAULT_EMBEDDER)
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "dev.duckdb") as store:
        for key in (sys.argv[1] if len(sys.argv) > 1 else "b77-sample,sgd").split(","):
            data = dev_set(store, key, Path(folder), embedder)
            gold, vectors = data.gold, data.vectors
            print(f"\n{data.title}")
            peer = kmeans_true_k(vectors, len(set(gold)))
            print(f"| {peer.label} | {peer.cells(gold)} |")
            result = run_dialin(store, data.dataset_id, NO_LLM, tools=build_tools(store, NO_LLM, embedder))
            labels = run_labels(result, data.utterances)
            coords = store.coordinates(result.run_id, data.utterances["utterance_id"].tolist())
            print(f"| Dial-In default | {score_cells(gold, labels, 0)} |")
            unit = normalize(vectors)
            for iters in (1, 3, 300):
                if coords is not None:
                    cells = score_cells(gold, polish(coords, labels, iters), 0)
                    print(f"| polished in the UMAP space, {iters} Lloyd steps | {cells} |", flush=True)
                print(f"| polished on the vectors, {iters} Lloyd steps | {score_cells(gold, polish(unit, labels, iters), 0)} |", flush=True)


if __name__ == "__main__":
    main()
