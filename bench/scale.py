"""Contact-centre scale end to end, as an analyst runs it: the CLI's `ingest` and `discover` (embedding included,
the defaults with the packaged local LLM) and the studio's pages, each in a process of its own, at 10,000,
100,000 and a million utterances; seconds and peak memory per step, and the run's quality beside its peers.

Usage: .venv/bin/python bench/scale.py [--sizes 10000 100000 1000000] [--llm local|none] [--peers-up-to 100000]
                                       [--cached-vectors] [--noise 0.02] [--folder DIR] [--seed 0]

The utterances are copies of the real labelled ones (`copies.py`: BANKING77 train and test and the SGD customer
turns, copy c of utterance u reads "u's text (c)"), so each is distinct and keeps its intent; dialogues are runs
of 8 shuffled utterances. Unlike `million.py`, nothing is put in the embedding cache: the model embeds every text,
unless `--cached-vectors` asks for `million.py`'s vectors (each copy's the real utterance's MiniLM vector plus
Gaussian noise of `--noise` a coordinate, renormalised), put in the workspace's cache after ingest: the run then
reads them, and what it measures is everything but the embedding.
Each step is a child process under GNU time, whose peak resident memory is that process's own. The steps of the
run (embedding, sample, reduction, loop, assignment, names, map) are read from the run's event log.

Peers on the same stored vectors: k-means given the true k (mini-batch past 100,000), and BERTopic (defaults, and
defaults + reduce_outliers) up to `--peers-up-to` utterances.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from copies import copies, real_utterances  # noqa: E402
from peers import PeerRow, bertopic_rows, kmeans_true_k, score_cells  # noqa: E402

from dialin_core.data.store import Store, text_hash  # noqa: E402

DIALOGUE_LENGTH = 8
# The run's steps, each ended by the event named (its last, for the embedding's progress events; the first,
# for the others) and begun where the step before ended; the run's finish ends the last.
STEPS = (
    ("the model loaded and every text embedded", "texts_embedded"),
    ("the loop's sample drawn", "sample_drawn"),
    ("UMAP of the loop's points", "space_reduced"),
    ("the loop and its remainder", "loop_stopped"),
    ("the rest assigned to the nearest intent", "leftovers_assigned"),
    ("names", "clusters_named"),
    ("merge proposals", "merges_proposed"),
)


def measured(argv: list[str], folder: Path) -> tuple[float, float, str]:
    """Run `python argv` in a child under GNU time: its seconds, its peak resident memory in MiB, and its stdout."""
    report = folder / "time.txt"
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", str(report), sys.executable, *argv],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{done.stderr[-3000:]}")
    seconds, peak_kib = report.read_text().split()[-2:]
    return float(seconds), int(peak_kib) / 1024, done.stdout


def step_seconds(workspace: Path) -> list[tuple[str, float]]:
    """Seconds of each step of the workspace's latest run, from its event log (a step with no event, such as the
    sample of a set the loop takes whole, is counted in the next)."""
    with Store(workspace) as store:
        run_id = int(store.runs()["run_id"].max())
        log, _ = store.event_times(run_id)
        opened, finished = store.run_times(run_id)
    ends: dict[str, object] = {}
    for kind, logged in log:
        if kind == "texts_embedded" or kind not in ends:
            ends[kind] = logged
    marks = [(label, ends[kind]) for label, kind in STEPS if kind in ends] + [("the map, assignments stored, the summary", finished)]
    starts = [opened] + [at for _, at in marks[:-1]]
    return [(label, (end - start).total_seconds()) for (label, end), start in zip(marks, starts)]


def stored_vectors(workspace: Path, texts: list[str], model: str) -> np.ndarray:
    """The vectors the run embedded for `texts`, read back from the workspace's cache."""
    with Store(workspace) as store:
        matrix, found = store.cached_matrix(model, [text_hash(t) for t in texts])
    assert found.all(), f"{int((~found).sum())} texts have no cached vector"
    return matrix


def cache_noisy_vectors(workspace: Path, real: pd.DataFrame, made, folder: Path, args: argparse.Namespace) -> None:
    """Each copy's vector, its real utterance's plus noise, put in the workspace's cache as the run's embedder's."""
    from dialin_core.embedding.embed import embed_texts
    from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder

    embedder = load_embedder(DEFAULT_EMBEDDER)
    with Store(folder / "real.duckdb") as store:
        base = embed_texts(real["text"].tolist(), embedder, store)  # cached there after a first run
    rng = np.random.default_rng(args.seed + 1)
    vectors = base[made.source] + rng.normal(0, args.noise, (len(made.source), base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with Store(workspace) as store:
        stored = store.utterances(max(d.dataset_id for d in store.datasets()))["text"]
        position = dict(zip(made.texts, range(len(made.texts))))
        rows = np.array([position[t] for t in stored])  # the stored (clean) text is the written one
        store.put_embeddings(embedder.name, [text_hash(t) for t in stored], vectors[rows])
    print(f"| (vectors of the real utterances plus noise {args.noise} put in the cache) | | |", flush=True)


def peer_rows(texts: list[str], vectors: np.ndarray, n_gold: int, bertopic: bool, seed: int) -> list[PeerRow]:
    if len(texts) > 100_000:
        from sklearn.cluster import MiniBatchKMeans

        started = time.perf_counter()
        labels = MiniBatchKMeans(n_clusters=n_gold, random_state=seed, n_init=3, batch_size=4096).fit_predict(vectors)
        rows = [PeerRow(f"k-means (mini-batch), true k = {n_gold}", labels, time.perf_counter() - started)]
    else:
        rows = [kmeans_true_k(vectors, n_gold, seed)]
    return rows + (bertopic_rows(texts, vectors, seed) if bertopic else [])


def one_size(n: int, real: pd.DataFrame, folder: Path, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    made = copies(real, n, rng)
    csv = folder / f"calls-{n}.csv"
    pd.DataFrame({"dialogue": rng.permutation(n) // DIALOGUE_LENGTH, "text": made.texts, "intent": made.intents}).to_csv(csv, index=False)
    workspace, out = folder / f"w-{n}.duckdb", folder / f"out-{n}"
    columns = ["--workspace", str(workspace), "--dialogue-column", "dialogue", "--label-column", "intent"]
    print(f"\n{n:,} utterances ({csv.stat().st_size / 2**20:.0f} MiB CSV), {len(set(made.intents))} intents\n", flush=True)
    print("| step | seconds | peak memory (MiB) |\n| --- | --- | --- |", flush=True)
    seconds, peak, _ = measured(["-m", "dialin_core", "ingest", str(csv), *columns], folder)
    print(f"| ingest (CLI process) | {seconds:.1f} | {peak:,.0f} |", flush=True)
    total = seconds
    if args.cached_vectors:
        cache_noisy_vectors(workspace, real, made, folder, args)
    seconds, peak, stdout = measured(["-m", "dialin_core", "discover", str(csv), *columns, "--out", str(out), "--llm", args.llm], folder)
    summary = json.loads((out / "summary.json").read_text())
    print(f"| discover (CLI process: embedding and the run) | {seconds:.1f} | {peak:,.0f} |", flush=True)
    total += seconds
    for label, step in step_seconds(workspace):
        print(f"| of which: {label} | {step:.1f} | |", flush=True)
    print(f"| **ingest and discover** | **{total:.1f}** ({total / 60:.1f} min) | |", flush=True)
    seconds, peak, stdout = measured([str(REPO / "bench" / "studio_scale.py"), "--workspace", str(workspace)], folder)
    for line in stdout.splitlines()[2:]:
        label, page_seconds = line.strip("|").split("|")
        print(f"| studio: {label.strip()} | {page_seconds.strip()} | |", flush=True)
    print(f"| studio pages, one process | {seconds:.1f} | {peak:,.0f} |", flush=True)

    assignments = pd.read_csv(out / "assignments.csv", keep_default_na=False)
    gold_of = dict(zip(made.texts, made.intents))
    gold = [gold_of[t] for t in assignments["text"]]
    n_gold = len(set(gold))
    print(f"\nLLM calls {summary.get('llm_calls', 0)}; {summary.get('n_outliers', 0):,} unassigned; loop sample "
          f"{summary.get('n_sampled') or n:,}\n", flush=True)
    print("| row | ACC | NMI | ARI | clusters (x true) | seconds |\n| --- | --- | --- | --- | --- | --- |")
    print(f"| Dial-In defaults{'' if args.llm == 'local' else ', no LLM'} "
          f"(discover, {'vectors cached' if args.cached_vectors else 'embedding included'}) | "
          f"{score_cells(gold, assignments['cluster_id'].to_numpy(), summary['seconds'])} |", flush=True)
    texts = assignments["text"].tolist()
    vectors = stored_vectors(workspace, texts, summary["embedder"])
    for peer in peer_rows(texts, vectors, n_gold, n <= args.peers_up_to, args.seed):
        print(f"| {peer.label} | {peer.cells(gold)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--llm", choices=("local", "none"), default="local")
    parser.add_argument("--peers-up-to", type=int, default=100_000, help="the largest size BERTopic runs at")
    parser.add_argument("--cached-vectors", action="store_true", help="put million.py's noisy copies of the real vectors in the cache")
    parser.add_argument("--noise", type=float, default=0.02, help="with --cached-vectors: Gaussian noise a coordinate")
    parser.add_argument("--folder", help="where files and workspaces go (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    real = real_utterances()
    print(f"{len(real):,} real labelled utterances, {real['intent'].nunique()} intents", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.folder or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            one_size(n, real, folder, args)


if __name__ == "__main__":
    main()
