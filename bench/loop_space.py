"""Where the Dial-In loop clusters, measured over several seeds on dev data only (BANKING77 train, SGD turns).

Usage: .venv/bin/python bench/loop_space.py [--sets b77-sample,sgd] [--seeds 0,1,2] [--recipes umap,umap-x3]
       [--embedder all-minilm-l6-v2] [--judges cohesion,cascade,cascade-shipped] [--judging-calls 20]
       [--silhouette-tolerances 0.05,0]

A single seed hides how much of a difference is UMAP's own randomness: each recipe runs the whole Dial-In run
(defaults, cohesion judge, no LLM) once per seed, and the table gives each seed's ACC / NMI / clusters and their
mean. The peers (k-means with the true k, BERTopic with and without reduce_outliers) run on the same vectors
with the same seeds. Recipes for the loop's coordinates (the judge always reads the full vectors):
- umap: the shipped reduction, UMAP to 5-d (15 neighbours, min_dist 0, cosine) seeded with the run's seed;
- umap-x3: three such reductions (seeds s, s+1, s+2) side by side, 15 coordinates: Ward's variance then
  counts a gap only where the layouts agree.
Judges for the loop's verdicts (names never change the partition, so the LLM rows spend their calls on judging
alone and keep keyword names):
- cohesion: the shipped cohesion judge, no LLM (the defaults' partition);
- cascade: cohesion, then the packaged local LLM as it is on the most uncertain clusters, `--judging-calls` at most
  (the defaults give judging 20 of their 100 calls);
- cascade-shipped: the same with the LoRA-tuned judge shipped beside the packaged model.
Silhouette tolerances for the first iteration's k (`dialin_loop.plateau_centre`; each a row): the shipped 0.05
takes the centre of the k scoring within 5% of the best silhouette, 0 takes the best k itself (the rule before).
"""

import argparse
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from loop_dev import NO_LLM, SETS, dev_set, run_labels  # noqa: E402
from peers import bertopic_rows, kmeans_true_k  # noqa: E402

import dialin_core.methods.dialin as dialin_run  # noqa: E402
import dialin_core.methods.dialin_loop as loop_module  # noqa: E402
from dialin_core.clustering.algorithms import loop_coordinates, reduce_dimensions  # noqa: E402
from dialin_core.config import RunConfig  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder  # noqa: E402
from dialin_core.evaluation.metrics import score_clustering  # noqa: E402
from dialin_core.judging.llm_tuning import SHIPPED  # noqa: E402
from dialin_core.methods.dialin import build_tools, run_dialin  # noqa: E402
from dialin_core.methods.dialin_loop import plateau_centre  # noqa: E402

Coordinates = Callable[[np.ndarray, str, int, int], np.ndarray | None]


def side_by_side(copies: int) -> Coordinates:
    def coordinates(vectors: np.ndarray, space: str, dimensions: int, seed: int) -> np.ndarray | None:
        first = loop_coordinates(vectors, space, dimensions, seed)
        if first is None:
            return None
        return np.hstack([first, *(reduce_dimensions(vectors, dimensions, seed + i) for i in range(1, copies))]).astype(np.float32)
    return coordinates


RECIPES: dict[str, Coordinates] = {"umap": loop_coordinates, "umap-x3": side_by_side(3)}


def judged_by(judge: str, judging_calls: int) -> RunConfig:
    """The run settings of a `--judges` entry: every LLM call judges (naming_share 0), names stay keyword names."""
    if judge == "cohesion":
        return NO_LLM
    tuned = {"cascade": "none", "cascade-shipped": SHIPPED}[judge]
    return replace(NO_LLM, llm="local", judge="cascade", llm_judge=tuned, max_llm_calls=judging_calls, naming_share=0.0)


JUDGES = ("cohesion", "cascade", "cascade-shipped")


def cell(gold: list[str], labels: np.ndarray) -> tuple[float, float, float, int]:
    m = score_clustering(gold, labels)
    return m.acc, m.nmi, m.ari, len(np.unique(labels))


def print_row(label: str, rows: list[tuple[float, float, float, int]], seconds: float) -> None:
    per_seed = " / ".join(f"{a:.3f} {n:.3f} {c}" for a, n, _, c in rows)
    mean = np.mean(np.array(rows, dtype=float), axis=0)
    print(f"| {label} | {per_seed} | {mean[0]:.3f} | {mean[1]:.3f} | {mean[2]:.3f} | {mean[3]:.0f} | {seconds:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="b77-sample,sgd", help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, of {', '.join(RECIPES)}")
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--judges", default="cohesion", help=f"comma-separated, of {', '.join(JUDGES)}")
    parser.add_argument("--judging-calls", type=int, default=20, help="LLM calls the cascade rows may judge with")
    parser.add_argument("--silhouette-tolerances", default=str(loop_module.SILHOUETTE_TOLERANCE),
                        help="comma-separated shares of the best silhouette; 0 takes the best k itself")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    embedder = load_embedder(args.embedder)
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "dev.duckdb") as store:
        for key in args.sets.split(","):
            data = dev_set(store, key, Path(folder), embedder)
            gold, n_gold = data.gold, len(set(data.gold))
            print(f"\n{data.title}: {len(gold)} utterances, {n_gold} intents, {args.embedder}; seeds {args.seeds}\n")
            print("| row | per seed: ACC NMI clusters | ACC | NMI | ARI | clusters | seconds |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            if not args.no_peers:
                started = time.perf_counter()
                print_row(f"k-means, true k = {n_gold}", [cell(gold, kmeans_true_k(data.vectors, n_gold, s).labels) for s in seeds],
                          time.perf_counter() - started)
                started = time.perf_counter()
                bertopic = [bertopic_rows(data.texts, data.vectors, s) for s in seeds]
                seconds = time.perf_counter() - started
                for i, label in enumerate(("BERTopic, defaults", "BERTopic, defaults + reduce_outliers")):
                    print_row(label, [cell(gold, rows[i].labels) for rows in bertopic], seconds)
            for recipe in args.recipes.split(","):
                dialin_run.loop_coordinates = RECIPES[recipe]
                for judge in args.judges.split(","):
                    for tolerance in (float(t) for t in args.silhouette_tolerances.split(",")):
                        loop_module.plateau_centre = functools.partial(plateau_centre, tolerance=tolerance)
                        rows, started = [], time.perf_counter()
                        for seed in seeds:
                            config = replace(judged_by(judge, args.judging_calls), seed=seed)
                            result = run_dialin(store, data.dataset_id, config, tools=build_tools(store, config, embedder))
                            rows.append(cell(gold, run_labels(result, data.utterances)))
                        print_row(f"Dial-In defaults, loop space {recipe}, judge {judge}, silhouette tolerance {tolerance:g}",
                                  rows, time.perf_counter() - started)
            dialin_run.loop_coordinates = loop_coordinates
            loop_module.plateau_centre = plateau_centre


if __name__ == "__main__":
    main()
