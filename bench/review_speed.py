"""A scripted review of 20 clusters through the Review page (AppTest): interactions and seconds per action.

Usage: .venv/bin/python bench/review_speed.py [--flow ticks|pickers] [--app PATH/app.py]

The review is the same in both flows: for each of the 20 largest clusters of a k-means run (k=20) on 600
BANKING77 test queries, give a verdict (alternately good and bad), rename it, and move two of its
sentences to the next cluster. `ticks` drives the page as it is now (verdict buttons on the open cluster,
which then opens the next one; sentences ticked in their table); `pickers` drives the page as it was before
(pick the cluster in a bulk multiselect and press Mark good, open the next cluster in its picker, choose
sentences in a multiselect). Run `pickers` against a checkout of the earlier page with --app. An
interaction is one thing an analyst does (a click, a pick, typing a name); seconds are the server's, per
interaction, with the page rerun it causes, measured by AppTest on one core's worth of work.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streamlit.testing.v1 import AppTest  # noqa: E402

from dialin_core.config import RunConfig  # noqa: E402
from dialin_core.curation.review import review_state  # noqa: E402
from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.methods.baselines import run_discovery  # noqa: E402

N_CLUSTERS = 20


class Session:
    """The app under AppTest, counting interactions and the seconds their reruns take."""

    def __init__(self, app_file: Path, workspace: Path) -> None:
        self.app = AppTest.from_file(str(app_file), default_timeout=120)
        self.app.session_state["workspace"] = str(workspace)
        self.app.session_state["analyst"] = "bench"
        self.app.run()
        self.app.switch_page("pages/review.py").run()
        self.interactions, self.seconds = 0, 0.0

    def act(self, do) -> None:
        started = time.perf_counter()
        do(self.app)
        self.seconds += time.perf_counter() - started
        self.interactions += 1
        assert not self.app.exception, self.app.exception

    def tick(self, prefix: str, column: str, values: list[int]) -> None:
        (table,) = [d for d in self.app.dataframe if d.key and d.key.startswith(prefix)]
        rows = table.value.reset_index(drop=True)
        positions = [int(rows.index[rows[column] == v][0]) for v in values]
        for n in range(1, len(positions) + 1):  # one click per row ticked
            self.act(lambda a, n=n: (a.session_state.__setitem__(table.key, {"selection": {"rows": positions[:n], "columns": [], "cells": []}}), a.run()))


def by_label(elements, label: str):
    return next(e for e in elements if e.label == label)


def review_with_ticks(s: Session, order: list[int], members: dict[int, list[int]]) -> None:
    done: set[int] = set()
    while len(done) < len(order):
        cluster = s.app.selectbox(key="detail_cluster").value  # opened by the previous verdict
        if cluster in done or cluster not in members:  # moves reorder the list by size: step on past it
            s.act(lambda a: by_label(a.button, "Next").click().run())
            continue
        nxt = order[(order.index(cluster) + 1) % len(order)]
        s.tick("sentences:", "utterance_id", members[cluster][:2])
        s.act(lambda a, t=nxt: a.selectbox(key="cluster_sentences_target").set_value(t).run())
        s.act(lambda a: a.button(key="cluster_sentences_move").click().run())
        s.act(lambda a, c=cluster: by_label(a.text_input, "Name").set_value(f"intent-number_{c}").run())
        s.act(lambda a: by_label(a.button, "Rename").click().run())
        s.act(lambda a, good=len(done) % 2 == 0: a.button(key="here_Good" if good else "here_Bad").click().run())
        done.add(cluster)


def review_with_pickers(s: Session, order: list[int], members: dict[int, list[int]]) -> None:
    for i, cluster in enumerate(order):
        nxt = order[(i + 1) % len(order)]
        s.act(lambda a, c=cluster: a.selectbox(key="detail_cluster").set_value(c).run())
        for n in (1, 2):  # one pick per sentence
            s.act(lambda a, c=cluster, n=n: a.multiselect(key="sentence_selection").set_value(members[c][:n]).run())
        s.act(lambda a, t=nxt: by_label(a.selectbox, "Move them to").set_value(t).run())
        s.act(lambda a: by_label(a.button, "Move").click().run())
        s.act(lambda a, c=cluster: by_label(a.text_input, "Name").set_value(f"intent-number_{c}").run())
        s.act(lambda a: by_label(a.button, "Rename").click().run())
        s.act(lambda a, c=cluster: a.multiselect(key="bulk_selection").set_value([c]).run())
        s.act(lambda a, good=i % 2 == 0: by_label(a.button, "Mark good" if good else "Mark bad").click().run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flow", choices=["ticks", "pickers"], default="ticks")
    parser.add_argument("--app", type=Path, default=REPO / "app.py")
    args = parser.parse_args()
    frame = pd.read_csv(REPO.parent / "shared" / "data" / "banking77" / "test.csv").sample(600, random_state=0)
    with tempfile.TemporaryDirectory() as folder:
        workspace, data = Path(folder) / "w.duckdb", Path(folder) / "queries.csv"
        frame.to_csv(data, index=False)
        with Store(workspace) as store:
            dataset_id = ingest_file(store, data, ColumnMapping(text="text", label="category"))
            run_id = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=N_CLUSTERS, with_map=False)).run_id
            state = review_state(store, run_id)
        order = state.live_clusters().sort_values("size", ascending=False, kind="stable")["cluster_id"].astype(int).tolist()
        members = {c: state.members.loc[state.members["cluster_id"] == c, "utterance_id"].astype(int).tolist() for c in order}
        session = Session(args.app, workspace)
        started = time.perf_counter()
        (review_with_ticks if args.flow == "ticks" else review_with_pickers)(session, order, members)
        wall = time.perf_counter() - started
        with Store(workspace) as store:
            decisions = store.decisions(run_id)
    actions = len(decisions)
    print(f"| {args.flow} | {actions} | {session.interactions} | {session.interactions / actions:.2f} | "
          f"{session.seconds / session.interactions:.2f} | {actions / wall * 60:.1f} |")


if __name__ == "__main__":
    main()
