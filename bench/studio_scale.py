"""How the studio's pages hold up at 50k utterances (or a million): derived review state, and each page's script
run through AppTest (server-side time; the browser draws at most 8,000 map points). A page that prepares work
on a thread (the export) is timed on its first draw, then until its work is ready.

Usage: .venv/bin/python bench/studio_scale.py [--n 50000] [--clusters 300] [--decisions 500] [--workspace FILE]
The run is synthetic (random clusters and map coordinates stored as a finished run), because what is measured is
the studio's reading and folding of the workspace, not clustering; `--workspace` times the pages on a workspace's
latest run instead (bench/scale.py so times them on the runs it made).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streamlit.testing.v1 import AppTest  # noqa: E402

from dialin_core.curation import review  # noqa: E402
from dialin_core.config import RunConfig  # noqa: E402
from dialin_core.curation.review import review_state  # noqa: E402
from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402

PAGES = ("home", "discover", "review", "merges", "map", "compare", "export", "judge", "namer", "classify")
PREPARED_ON_A_THREAD = ("export",)  # other pages' progress bars show the run, not work still under way
WORDS = "card balance transfer refund account pin limit fee payment loan rate statement address phone cash".split()


def synthetic_run(store: Store, folder: Path, n: int, n_clusters: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    texts = [f"{' '.join(rng.choice(WORDS, 6))} number {i}" for i in range(n)]
    path = folder / "synthetic.csv"
    pd.DataFrame({"dialogue_id": np.arange(n) // 5, "text": texts}).to_csv(path, index=False)
    dataset_id = ingest_file(store, path, ColumnMapping(text="text", dialogue_id="dialogue_id"))
    config = RunConfig(llm="none", judge="cohesion")
    run_id = store.create_run(dataset_id, "dialin", config.as_dict())
    utterances = store.utterances(dataset_id)
    labels = rng.integers(0, n_clusters, len(utterances))
    clusters = pd.DataFrame({
        "cluster_id": np.arange(n_clusters), "name": [f"inquire-topic_{c}" for c in range(n_clusters)],
        "size": np.bincount(labels, minlength=n_clusters), "iteration": 1, "verdict": "good",
        "probability": rng.uniform(0.5, 1, n_clusters), "role": "all",
        "sample": [utterances["utterance_id"][labels == c].head(20).tolist() for c in range(n_clusters)],
        "evidence": '{"probability": 0.9, "judged_by": "cohesion", "cohesion": 0.9, "llm": null, "k": 10}',
    })
    assignments = pd.DataFrame({"utterance_id": utterances["utterance_id"], "cluster_id": labels,
                                "x": rng.normal(size=len(labels)), "y": rng.normal(size=len(labels))})
    store.finish_run(run_id, clusters=clusters, assignments=assignments, summary={"method": "dialin"})
    return run_id


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def page_seconds(workspace: Path) -> list[tuple[str, float]]:
    """Each page's script run through AppTest on `workspace` (its latest run open), in seconds."""
    rows = []
    for page in PAGES:
        app = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
        app.session_state["workspace"] = str(workspace)
        app.session_state["analyst"] = "bench"
        app.run()
        app.switch_page(f"pages/{page}.py")
        started = time.perf_counter()
        seconds = timed(app.run)
        assert not app.exception, app.exception
        rows.append((f"{page} page script run", seconds))
        if page in PREPARED_ON_A_THREAD and app.get("progress"):  # watched by the page until it is ready
            while app.get("progress"):
                time.sleep(0.5)
                app.run()
            rows.append((f"{page} page: its preparation ready after", time.perf_counter() - started))
            rows.append((f"{page} page script run, prepared", timed(app.run)))
        print(f"{page}: {seconds:.2f} s", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--clusters", type=int, default=300)
    parser.add_argument("--decisions", type=int, default=500)
    parser.add_argument("--workspace", type=Path, help="time the pages on this workspace's latest run instead of a synthetic one")
    args = parser.parse_args()
    if args.workspace:
        rows = page_seconds(args.workspace)
        title = args.workspace.name
    else:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            workspace = folder / "w.duckdb"
            with Store(workspace) as store:
                build = timed(lambda: synthetic_run(store, folder, args.n, args.clusters))
                run_id = 1
                rng = np.random.default_rng(1)
                members = store.cluster_members(run_id)["utterance_id"].to_numpy()
                for i in range(args.decisions):
                    if i % 2:
                        review.rename(store, run_id, "bench", int(rng.integers(args.clusters)), f"report-thing_{i}")
                    else:
                        review.move(store, run_id, "bench", rng.choice(members, 20).tolist(), int(rng.integers(args.clusters)))
                fold = min(timed(lambda: review_state(store, run_id)) for _ in range(3))
            rows = [("synthetic workspace (ingest + stored run)", build), (f"review_state with {args.decisions} decisions", fold),
                    *page_seconds(workspace)]
        title = f"{args.n:,} utterances, {args.clusters} clusters"
    print(f"| {title} | seconds |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
