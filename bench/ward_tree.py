"""Ward's tree two ways on the Dial-In loop's own points: from the pairwise distances (scipy) and from the points
(fastcluster's nearest-neighbour chain on vectors); seconds, peak memory and whether the partitions agree.

Usage: .venv/bin/python bench/ward_tree.py [--n 20000] [--dimensions 5] [--workspace PATH]

The points are the loop's: `n` of the real labelled utterances (BANKING77 train and test, the SGD customer turns),
embedded by MiniLM (cached in `--workspace`, so a second run does not embed again) and reduced by UMAP to
`--dimensions` as the loop reduces its sample (`loop_coordinates`). Each build runs in a child process of its own,
so its peak resident memory (VmHWM) is its own; the partitions are compared at k = 50, 100, 150 and 200.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from copies import real_utterances  # noqa: E402

from dialin_core.clustering.algorithms import loop_coordinates  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import SentenceTransformerEmbedder  # noqa: E402

KS = (50, 100, 150, 200)
# Runs in the child: one build of the tree, its cuts saved; prints seconds and peak memory.
CHILD = """
import sys, time, numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
way, points, out = sys.argv[1], np.load(sys.argv[2]).astype(np.float64), sys.argv[3]
started = time.perf_counter()
if way == "points":
    import fastcluster
    tree = fastcluster.linkage_vector(points, method="ward")
else:
    tree = linkage(points, method="ward")
seconds = time.perf_counter() - started
np.save(out, np.stack([fcluster(tree, k, criterion="maxclust") for k in {ks}]))
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]
print(f"{{seconds:.1f}} {{int(peak) / 1024:.0f}}")
""".format(ks=KS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dimensions", type=int, default=5)
    parser.add_argument("--workspace", help="where the embeddings are cached (default: a temporary file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        real = real_utterances()
        texts = real.sample(min(args.n, len(real)), random_state=0)["text"].tolist()
        with Store(args.workspace or folder / "w.duckdb") as store:
            vectors = embed_texts(texts, SentenceTransformerEmbedder(), store)
        points = loop_coordinates(vectors, "umap", args.dimensions, seed=0)
        np.save(folder / "points.npy", points)
        print(f"{len(texts):,} utterances' MiniLM vectors, UMAP to {args.dimensions} dimensions\n")
        print("| Ward's tree built from | seconds | peak memory (MiB) |\n| --- | --- | --- |")
        cuts = {}
        for way, label in (("distances", "the pairwise distances (scipy)"), ("points", "the points (fastcluster)")):
            done = subprocess.run([sys.executable, "-c", CHILD, way, str(folder / "points.npy"), str(folder / f"{way}.npy")],
                                  capture_output=True, text=True, check=True)
            seconds, peak = done.stdout.split()
            print(f"| {label} | {seconds} | {int(peak):,} |")
            cuts[way] = np.load(folder / f"{way}.npy")
        agree = [adjusted_rand_score(a, b) for a, b in zip(cuts["distances"], cuts["points"])]
        print("\nARI between the two partitions at k = " + ", ".join(f"{k}: {a:.4f}" for k, a in zip(KS, agree)))


if __name__ == "__main__":
    main()
