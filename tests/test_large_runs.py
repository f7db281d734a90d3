"""Runs past the loop's sample size: the loop clusters a sample spread across dialogues, the rest join the
nearest intent or stay unassigned; embeddings are stored batch by batch, so a stopped run keeps them; the map
places a bounded number of points."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from dialin_core.clustering.algorithms import NOISE
from dialin_core.clustering.subsample import spread_sample
from dialin_core.config import RunConfig
from dialin_core.data.datasets import ingest_file
from dialin_core.data.store import Store, text_hash
from dialin_core.embedding import embed
from dialin_core.embedding.embed import embed_texts
from dialin_core.methods import baselines
from dialin_core.methods.dialin import resume_dialin, run_dialin
from dialin_core.methods.dialin_loop import assign_leftovers
from dialin_core.methods.progress import run_progress
from tests.conftest import SAMPLE_DIALOGUES

NO_LLM = RunConfig(llm="none", judge="cohesion", with_map=False, max_iterations=3)


def test_the_sample_takes_every_dialogue_once_before_any_twice_and_is_seeded():
    dialogues = np.array(["long"] * 50 + ["b", "b", "c", "d", "d", "d"])
    counts = pd.Series(dialogues[spread_sample(dialogues, 6, seed=0)]).value_counts()
    assert set(counts.index) == {"long", "b", "c", "d"} and counts.max() == 2 and counts["c"] == 1  # a second round, not a long call
    assert set(dialogues[spread_sample(dialogues, 4, seed=3)]) == {"long", "b", "c", "d"}  # one of each: none twice
    assert np.array_equal(spread_sample(dialogues, 6, seed=1), spread_sample(dialogues, 6, seed=1))
    assert not np.array_equal(spread_sample(dialogues, 20, seed=1), spread_sample(dialogues, 20, seed=2))
    assert np.array_equal(spread_sample(dialogues, 100, seed=0), np.arange(len(dialogues)))
    assert np.all(np.diff(spread_sample(dialogues, 30, seed=0)) > 0)  # sorted, no repeats


def test_leftovers_join_the_nearest_prototype_the_same_in_chunks_and_stay_unassigned_when_far():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]
    vectors = np.concatenate([c + 0.1 * rng.standard_normal((40, 8)) for c in centres] + [-np.ones((5, 8))])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.full(len(vectors), NOISE)
    labels[[0, 1, 40, 41, 80, 81]] = [7, 7, 3, 3, 5, 5]
    whole = assign_leftovers(vectors, labels, 0.4)
    assert np.array_equal(whole, assign_leftovers(vectors, labels, 0.4, chunk=7))
    assert (whole[:40] == 7).all() and (whole[40:80] == 3).all() and (whole[80:120] == 5).all()
    assert (whole[120:] == NOISE).all()  # nothing near: unassigned


def test_past_the_loop_sample_the_loop_clusters_a_sample_and_the_rest_join_the_nearest_intent(banking):
    store, dataset_id = banking
    n = len(store.utterances(dataset_id))
    config = replace(NO_LLM, loop_sample=150)
    result = run_dialin(store, dataset_id, config)
    (drawn,) = [e for e in store.events(result.run_id) if e["kind"] == "sample_drawn"]
    assert drawn == {**drawn, "role": "all", "n_items": n, "n_sample": 150, "n_dialogues": 150}
    stored = store.assignments(result.run_id)
    assert len(stored) == n and stored["sampled"].sum() == 150 and result.summary["n_sampled"] == 150
    # the loop kept clusters of sampled utterances only; the rest joined them afterwards (or stayed outliers)
    in_loop = set(stored.loc[stored["sampled"], "utterance_id"])
    kept_by_loop = {u for c in store.clusters(result.run_id)["sample"].dropna() for u in c}
    assert kept_by_loop <= in_loop
    rest = stored[~stored["sampled"]]
    assert (rest["cluster_id"] != NOISE).mean() > 0.8
    assert result.summary["metrics"]["nmi"] > 0.5
    # the same sample on a second run (seeded), and none drawn where the data fit
    again = run_dialin(store, dataset_id, config)
    assert set(store.assignments(again.run_id).query("sampled")["utterance_id"]) == in_loop
    whole = run_dialin(store, dataset_id, NO_LLM)
    assert store.assignments(whole.run_id)["sampled"].isna().all() and "n_sampled" not in whole.summary
    assert not [e for e in store.events(whole.run_id) if e["kind"] == "sample_drawn"]


def test_a_sampled_run_stopped_in_its_loop_resumes_with_the_same_sample(banking):
    store, dataset_id = banking
    config = replace(NO_LLM, loop_sample=150)
    reference = run_dialin(store, dataset_id, config)

    class Killed(Exception):
        pass

    def die(event):
        if event["kind"] == "iteration_done":
            raise Killed

    with pytest.raises(Killed):
        run_dialin(store, dataset_id, config, on_event=die)
    run_id = reference.run_id + 1
    resumed = resume_dialin(store, run_id)
    assert [e["kind"] for e in store.events(run_id)].count("sample_drawn") == 1
    assert set(store.assignments(run_id).query("sampled")["utterance_id"]) == \
        set(store.assignments(reference.run_id).query("sampled")["utterance_id"])
    assert sorted(resumed.clusters["size"]) == sorted(reference.clusters["size"])


def test_dialogues_spread_the_sample_of_a_role_group(tmp_path):
    """The sample dialogues' customer turns: no dialogue gives a second turn before every dialogue gave one."""
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, SAMPLE_DIALOGUES, None)
        customers = store.utterances(dataset_id, roles=["customer"])
        dialogues = store.utterance_dialogues(dataset_id)
        size = dialogues[customers["utterance_id"]].nunique() + 3
        result = run_dialin(store, dataset_id, replace(NO_LLM, max_iterations=1, n_candidates=2, loop_sample=size))
        drawn = {e["role"]: e for e in store.events(result.run_id) if e["kind"] == "sample_drawn"}
        assert drawn["customer"]["n_sample"] == size
        assert drawn["customer"]["n_dialogues"] == dialogues[customers["utterance_id"]].nunique()  # every dialogue heard
        clusters = store.clusters(result.run_id).set_index("cluster_id")["role"]
        stored = store.assignments(result.run_id)
        assert stored["sampled"].notna().all()
        # a leftover joins only a cluster of its own role group
        customer_ids = set(customers["utterance_id"])
        joined = stored[(stored["cluster_id"] != NOISE) & stored["utterance_id"].isin(customer_ids)]
        assert (joined["cluster_id"].map(clusters) == "customer").all()


class CountingEmbedder:
    """A stand-in for a slow model that fails after `fail_after` batches, as a killed process would."""

    name = "counting"

    def __init__(self, fail_after: int | None = None) -> None:
        self.batches, self.fail_after = 0, fail_after

    def encode(self, texts):
        if self.fail_after is not None and self.batches == self.fail_after:
            raise RuntimeError("killed")
        self.batches += 1
        return np.array([[len(t), t.count(" "), 1.0] for t in texts], dtype=np.float32)


def test_embeddings_are_stored_batch_by_batch_so_a_stopped_run_goes_on_from_the_last_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(embed, "EMBED_BATCH", 10)
    texts = [f"sentence number {i} " + "word " * (i % 5) for i in range(35)]
    progress: list[tuple[int, int]] = []
    with Store(tmp_path / "w.duckdb") as store:
        with pytest.raises(RuntimeError, match="killed"):
            embed_texts(texts, CountingEmbedder(fail_after=2), store, lambda done, total: progress.append((done, total)))
        assert progress == [(10, 35), (20, 35)]
        assert len(store.cached_embeddings("counting", [text_hash(t) for t in texts])) == 20
        again = CountingEmbedder()
        vectors = embed_texts(texts, again, store, lambda done, total: progress.append((done, total)))
        assert again.batches == 2 and progress[2:] == [(10, 15), (15, 15)]  # only the 15 left
        assert np.array_equal(vectors, CountingEmbedder().encode(texts))


def test_a_run_logs_its_embedding_batches_and_the_progress_says_how_far_it_is(banking, monkeypatch):
    store, dataset_id = banking
    monkeypatch.setattr(embed, "EMBED_BATCH", 100)
    monkeypatch.setattr("dialin_core.methods.dialin.EMBED_BATCH", 100)
    monkeypatch.setattr("dialin_core.methods.dialin.EMBEDDING_LOGGED", 100)
    seen = []

    def pause_after_two_batches(event):
        seen.append(event)
        if event["kind"] == "texts_embedded" and event["done"] == 200:
            assert run_progress(store, run_id()).detail.startswith("200 of ")
            store.request_stop(run_id(), "pausing")

    run_id = lambda: max(store.runs()["run_id"])  # noqa: E731
    from dialin_core.methods.dialin import RunStopped

    with pytest.raises(RunStopped):
        run_dialin(store, dataset_id, NO_LLM, on_event=pause_after_two_batches)
    n = len(store.utterances(dataset_id))
    assert [(e["done"], e["total"]) for e in seen] == [(100, n), (200, n)]
    progress = run_progress(store, run_id())
    assert progress.status == "paused" and progress.phase == "embedding" and progress.detail == f"200 of {n:,} sentences embedded by all-minilm-l6-v2"
    finished = resume_dialin(store, run_id())
    events = store.events(finished.run_id)
    assert [(e["done"], e["total"]) for e in events if e["kind"] == "texts_embedded"][-2:] == [(100, n - 200), (n - 200, n - 200)]


def test_the_map_places_at_most_its_points_the_sample_first(monkeypatch):
    monkeypatch.setattr(baselines, "MAP_POINTS", 50)
    in_sample = np.zeros(200, dtype=bool)
    in_sample[::5] = True  # 40 sampled
    rows = baselines.map_rows(200, in_sample, seed=0)
    assert len(rows) == 50 and in_sample[rows].sum() == 40 and np.all(np.diff(rows) > 0)
    assert len(baselines.map_rows(200, None, seed=0)) == 50 and np.array_equal(baselines.map_rows(30, None, 0), np.arange(30))


def test_the_discover_page_sets_the_loop_sample_and_says_what_the_run_sampled(tmp_path):
    from dialin_core.methods import jobs
    from tests.test_studio import labelled, load_sample, open_app

    workspace = tmp_path / "w.duckdb"
    app = open_app(workspace)
    load_sample(app)
    app.switch_page("pages/discover.py").run()
    labelled(app.selectbox, "LLM back end").set_value("none")
    labelled(app.selectbox, "Judge").set_value("cohesion")
    labelled(app.number_input, "Max iterations").set_value(1)
    labelled(app.number_input, "Loop sample (utterances per role group)").set_value(100)
    labelled(app.button, "Start the run").click().run()
    assert not app.exception, app.exception
    run_id = app.session_state["run_id"]
    assert jobs.wait(workspace, run_id, timeout=300)
    app.run()
    assert not app.exception, app.exception
    with Store(workspace) as store:
        assert store.run(run_id).config.loop_sample == 100 and store.run_status(run_id) == "finished"
        drawn = [e for e in store.events(run_id) if e["kind"] == "sample_drawn"]
    assert drawn and all(e["n_sample"] == 100 for e in drawn)
    captions = [c.value for c in app.caption]
    assert any(c.startswith("The loop clusters a sample of 100 of ") for c in captions), captions


def test_a_refined_sampled_run_keeps_the_analysts_clusters_whole(banking):
    """The clusters a review lets stand are seeded whole into the refined run, though most of their members
    fall outside the refined run's sample."""
    from dialin_core.curation import review
    from dialin_core.curation.review import review_state
    from dialin_core.methods.dialin import create_refined_run

    store, dataset_id = banking
    source = run_dialin(store, dataset_id, replace(NO_LLM, loop_sample=150)).run_id
    state = review_state(store, source)
    approved = int(state.live_clusters().sort_values("size", ascending=False)["cluster_id"].iloc[0])
    review.set_status(store, source, "ana", [approved], "approved")
    members = set(state.members.loc[state.members["cluster_id"] == approved, "utterance_id"])
    result = resume_dialin(store, create_refined_run(store, source))
    (drawn,) = [e for e in store.events(result.run_id) if e["kind"] == "sample_drawn"]
    assigned = store.cluster_members(result.run_id)
    seeded = store.events(result.run_id)[0]["cluster_ids"]
    standing = set(assigned.loc[assigned["cluster_id"].isin(seeded), "utterance_id"])
    assert members <= standing and drawn["n_sample"] >= 150
    stored = store.assignments(result.run_id).set_index("utterance_id")
    assert stored.loc[list(members), "sampled"].all()  # kept as the loop's, not assigned afterwards
