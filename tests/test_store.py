"""The workspace schema, its migrations and its all-or-nothing writes."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from dialin_core.data.assembly import STAGED_COLUMNS
from dialin_core.data.ingest import Turn
from dialin_core.data.store import MIGRATIONS, WORKSPACE_MEMORY_LIMIT, Store, text_hash
from dialin_core.errors import IngestError, WorkspaceDamaged


def make_turns(*texts: str, dialogue: str = "d1") -> list[Turn]:
    return [
        Turn(dialogue_id=dialogue, turn_index=i, speaker="USER", role="customer", text=t, clean_text=t, gold_label="x")
        for i, t in enumerate(texts)
    ]


def staged(turns: list[Turn]) -> pd.DataFrame:
    """Turns as the staged rows a file's reader hands the store."""
    return pd.DataFrame.from_records(
        [(i, t.dialogue_id, t.turn_index, t.speaker, t.role, t.text, t.clean_text, " ".join(t.clean_text.lower().split()), t.gold_label)
         for i, t in enumerate(turns)],
        columns=list(STAGED_COLUMNS),
    )


def add(store: Store, turns: list[Turn], content_hash: str = "h1") -> int:
    return store.add_dataset(
        name="t", source="t.csv", format="csv", content_hash=content_hash, options={}, batches=[staged(turns)],
    )


def test_new_workspace_is_migrated_to_the_latest_schema(tmp_path):
    with Store(tmp_path / "w.duckdb") as store:
        assert store.schema_version == len(MIGRATIONS)
        tables = {r[0] for r in store.connection.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"datasets", "dialogues", "turns", "utterances", "embeddings", "runs", "clusters", "assignments", "decisions"} <= tables


def test_data_survives_reopening_and_migration_runs_once(tmp_path):
    path = tmp_path / "w.duckdb"
    with Store(path) as store:
        dataset_id = add(store, make_turns("hello there", "my card is lost", "Hello  there"))
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        utterances = store.utterances(dataset_id)
        assert utterances["text"].tolist() == ["hello there", "my card is lost"]
        assert utterances["frequency"].tolist() == [2, 1]
        assert len(store.turns(dataset_id)) == 3


def test_a_workspace_file_opens_under_a_bounded_buffer_pool_and_an_in_memory_store_under_duckdb_s_default(tmp_path):
    def limit(connection):
        return connection.execute("SELECT current_setting('memory_limit')").fetchone()[0]

    with duckdb.connect(str(tmp_path / "plain.duckdb")) as plain:
        default = limit(plain)
    with duckdb.connect(config={"memory_limit": WORKSPACE_MEMORY_LIMIT}) as bounded:
        wanted = limit(bounded)
    assert wanted != default  # the bound is below the default of 80% of this machine's memory
    with Store(tmp_path / "w.duckdb") as store:
        assert limit(store.connection) == wanted
    with Store() as store:
        assert limit(store.connection) == default


def test_a_file_that_fails_halfway_leaves_the_workspace_untouched(tmp_path):
    def batches_then_a_bad_row():
        yield staged(make_turns("a", "b"))
        raise IngestError("calls.csv", "column 'id' is empty", line=40_001)

    with Store(tmp_path / "w.duckdb") as store:
        add(store, make_turns("first data set"))
        with pytest.raises(IngestError, match="line 40001"):
            store.add_dataset(name="t2", source="t2.csv", format="csv", content_hash="h2", options={},
                              batches=batches_then_a_bad_row())
        assert [d.name for d in store.datasets()] == ["t"]
        assert store.connection.execute("SELECT count(*) FROM turns").fetchall()[0][0] == 1
        assert store.connection.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall()[0][0] == 0


def test_a_stored_utterance_carries_the_embedding_cache_key_of_its_text(tmp_path):
    with Store(tmp_path / "w.duckdb") as store:
        utterances = store.utterances(add(store, make_turns("my card is lost", "我想取消订单", "où est mon colis")))
    assert utterances["text_hash"].tolist() == [text_hash(text) for text in utterances["text"]]


def test_workspace_from_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "w.duckdb"
    with Store(path) as store:
        store.connection.execute("INSERT INTO schema_version VALUES (?)", [len(MIGRATIONS) + 1])
    with pytest.raises(RuntimeError, match="newer than this program"):
        Store(path)


def test_role_filter_keeps_utterances_spoken_in_that_role():
    with Store() as store:
        turns = make_turns("i lost my card") + [
            Turn(dialogue_id="d1", turn_index=1, speaker="SYSTEM", role="agent", text="sorry to hear that",
                 clean_text="sorry to hear that", gold_label=None)
        ]
        dataset_id = add(store, turns)
        assert store.utterances(dataset_id, roles=["customer"])["text"].tolist() == ["i lost my card"]
        assert store.utterances(dataset_id, roles=["agent"])["text"].tolist() == ["sorry to hear that"]


def test_embedding_cache_round_trips_by_model_and_hash():
    with Store() as store:
        vectors = np.array([[0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
        store.put_embeddings("m", ["a", "b"], vectors)
        store.put_embeddings("m", ["a"], np.array([[0.0, 1.0]], dtype=np.float32))  # first write wins
        cached = store.cached_embeddings("m", ["a", "b", "c"])
        assert set(cached) == {"a", "b"}
        np.testing.assert_allclose(cached["a"], [0.6, 0.8])
        assert store.cached_embeddings("other-model", ["a"]) == {}


def test_decisions_are_appended_with_before_and_after():
    with Store() as store:
        dataset_id = add(store, make_turns("x y z"))
        run_id = store.create_run(dataset_id, "kmeans", {"k": 2})
        first = store.record_decision(run_id, analyst="ana", action="rename", target="cluster:1", before="a", after="b")
        second = store.record_decision(run_id, analyst="ana", action="rename", target="cluster:1", before="b", after="c")
        log = store.decisions(run_id)
        assert [first, second] == log["decision_id"].tolist()
        assert log["after"].tolist() == ['"b"', '"c"']


def test_a_reopened_workspace_accepts_writes_that_register_frames(tmp_path):
    """DuckDB refuses new work while a fetchone() result is unfinished; a reopened file used to hit that."""
    path = tmp_path / "w.duckdb"
    with Store(path) as store:
        dataset_id = add(store, make_turns("hello there"))
    with Store(path) as store:
        assert store.cached_embeddings("m", ["a"]) == {}
        store.put_embeddings("m", ["a"], np.ones((1, 3), dtype=np.float32))
        assert set(store.cached_embeddings("m", ["a"])) == {"a"}
        assert store.find_dataset("h1", {}) == dataset_id


def test_one_data_set_is_read_by_its_id_and_an_unknown_id_is_named():
    with Store(":memory:") as store:
        first = add(store, make_turns("hello there", "my card is lost"))
        second = add(store, make_turns("a", "b", "c", dialogue="d2"), content_hash="h2")
        assert store.dataset(second).n_turns == 3 and store.dataset(first).n_turns == 2
        assert [d.dataset_id for d in store.datasets()] == [first, second]
        with pytest.raises(ValueError, match="no data set 99"):
            store.dataset(99)
        with pytest.raises(ValueError, match="no run 7"):
            store.run_times(7)


def test_a_run_with_stored_clusters_and_events_can_be_asked_to_pause_or_cancel(tmp_path):
    """DuckDB refuses an UPDATE ... RETURNING of a row other rows reference; a pause past the first step used one."""
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = add(store, make_turns("x y z", "a b c"))
        run_id = store.create_run(dataset_id, "dialin", {})
        store.save_step(run_id, {"kind": "iteration_done"}, pd.DataFrame({"cluster_id": [0], "size": [2]}),
                        pd.DataFrame({"utterance_id": [0, 1], "cluster_id": [0, 0]}))
        store.record_decision(run_id, analyst="ana", action="rename", target="cluster:0", before="a", after="b")
        assert store.request_stop(run_id, "pausing") and store.run_status(run_id) == "pausing"
        assert not store.request_stop(run_id, "cancelling")  # already stopping: nothing running to stop
        store.stop_run(run_id, "paused")
        store.mark_running(run_id)
        assert store.request_stop(run_id, "cancelling") and store.run_status(run_id) == "cancelling"


def test_loop_coordinates_round_trip_in_the_order_asked_and_only_when_all_are_stored():
    with Store() as store:
        dataset_id = add(store, make_turns("x y z", "a b c", "d e f"))
        run_id = store.create_run(dataset_id, "dialin", {})
        points = np.arange(15, dtype=np.float32).reshape(3, 5)
        store.save_coordinates(run_id, [0, 1, 2], points)
        assert np.array_equal(store.coordinates(run_id, [2, 0]), points[[2, 0]])
        assert store.coordinates(run_id, [0, 7]) is None and store.coordinates(run_id + 1, [0]) is None


def test_runs_carry_their_start_size_and_review_progress():
    with Store() as store:
        dataset_id = add(store, make_turns("x y z", "a b c"))
        first = store.create_run(dataset_id, "kmeans", {"k": 2})
        store.finish_run(first, clusters=pd.DataFrame({"cluster_id": [0], "size": [2]}),
                         assignments=pd.DataFrame({"utterance_id": [0, 1], "cluster_id": [0, 0]}), summary={"n_clusters": 1})
        store.record_decision(first, analyst="ana", action="rename", target="cluster:0", before="a", after="b")
        store.create_run(dataset_id, "kmeans", {"k": 2})
        runs = store.runs()
        assert runs["n_decisions"].tolist() == [1, 0] and runs["n_clusters"].iloc[0] == 1 and pd.isna(runs["n_clusters"].iloc[1])
        assert runs["created_at"].notna().all()


def test_a_clusters_sentences_and_a_search_read_only_the_run_s_utterances_asked_for():
    with Store() as store:
        dataset_id = add(store, make_turns("Refund my card", "lost card", "hello", "card fee refund?", "100% _sure_"))
        run_id = store.create_run(dataset_id, "kmeans", {"k": 2})
        store.finish_run(run_id, clusters=pd.DataFrame({"cluster_id": [0], "size": [4]}),
                         assignments=pd.DataFrame({"utterance_id": [0, 1, 3, 4], "cluster_id": [0, 0, 0, 0]}), summary={})
        sentences = store.sentences(run_id, [3, 0, 99])
        assert sentences["utterance_id"].tolist() == [3, 0] and sentences["text"].tolist() == ["card fee refund?", "Refund my card"]
        found, total = store.search_sentences(run_id, "REFUND", limit=1)
        assert total == 2 and found["utterance_id"].tolist() == [0]
        assert store.search_sentences(run_id, "hello", limit=5)[1] == 0  # in the data set, not in this run
        assert store.search_sentences(run_id, "% _", limit=5)[0]["text"].tolist() == ["100% _sure_"]  # no wildcards
        assert store.search_sentences(run_id, "_s", limit=5)[1] == 1


def test_the_map_reads_a_fixed_few_of_the_placed_points_and_counts_them_all():
    with Store() as store:
        dataset_id = add(store, make_turns("Refund my card", "lost card", "hello", "card fee refund?", "100% _sure_"))
        run_id = store.create_run(dataset_id, "kmeans", {"k": 2})
        store.finish_run(run_id, clusters=pd.DataFrame({"cluster_id": [0], "size": [5]}), summary={},
                         assignments=pd.DataFrame({"utterance_id": [0, 1, 2, 3, 4], "cluster_id": [0] * 5,
                                                   "x": [0.1, None, 0.3, 0.4, 0.5], "y": [1.0, 2.0, 3.0, 4.0, 5.0]}))
        drawn, placed = store.map_points(run_id, limit=2)
        assert placed == 4 and len(drawn) == 2 and set(drawn["utterance_id"]) <= {0, 2, 3, 4}
        assert drawn.equals(store.map_points(run_id, limit=2)[0])  # the same points on every redraw
        everything, _ = store.map_points(run_id, limit=10)
        assert sorted(everything["utterance_id"]) == [0, 2, 3, 4] and list(everything.columns) == ["utterance_id", "text", "x", "y"]


@pytest.mark.parametrize("damage", ["empty", "foreign", "truncated"])
def test_a_damaged_or_foreign_workspace_is_one_message_and_left_as_it_was(tmp_path, damage):
    path = tmp_path / "w.duckdb"
    if damage == "truncated":
        with Store(path) as store:
            store.connection.execute("CREATE TABLE padding AS SELECT range AS n FROM range(100000)")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    else:
        path.write_bytes(b"" if damage == "empty" else b"name,notes\nnot a workspace,at all\n")
    before = path.read_bytes()
    with pytest.raises(WorkspaceDamaged, match="w.duckdb cannot be opened: it is not a Dial-In workspace, or it is damaged"):
        Store(path)
    assert path.read_bytes() == before


DECIDE = """
import sys
from dialin_core.curation import review
from dialin_core.data.store import Store
workspace, run_id, analyst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print("ready", flush=True)
sys.stdin.readline()  # both start together
for i in range(200):
    with Store(workspace) as store:  # a process that opens the workspace per decision, as a CLI or a script does
        review.set_verdict(store, run_id, analyst, [i % 2], "good" if i % 3 else "bad")
"""


def test_two_processes_recording_200_decisions_each_keep_all_400(tmp_path):
    """DuckDB lets one process open the file at a time: each waits its turn, none is refused or lost."""
    import subprocess
    import sys

    from dialin_core.config import RunConfig
    from tests.conftest import REPO

    workspace = tmp_path / "w.duckdb"
    with Store(workspace) as store:
        dataset_id = add(store, make_turns("where is my card", "cancel my transfer"))
        run_id = store.create_run(dataset_id, "kmeans", RunConfig(method="kmeans", k=2).as_dict())
        clusters = pd.DataFrame({"cluster_id": [0, 1], "name": ["a", "b"], "size": [1, 1]})
        store.finish_run(run_id, clusters=clusters, assignments=pd.DataFrame({"utterance_id": [0, 1], "cluster_id": [0, 1]}),
                         summary={})
    writers = [subprocess.Popen([sys.executable, "-c", DECIDE, str(workspace), str(run_id), analyst], cwd=REPO, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for analyst in ("ana", "bo")]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready"
    for writer in writers:
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        _, errors = writer.communicate(timeout=300)
        assert writer.returncode == 0, errors
    with Store(workspace) as store:
        decisions = store.decisions(run_id)
    assert len(decisions) == 400
    assert decisions["analyst"].value_counts().to_dict() == {"ana": 200, "bo": 200}


def test_cached_vectors_come_back_as_one_matrix_in_the_order_asked_repeats_and_misses_included():
    with Store() as store:
        store.put_embeddings("m", ["a", "b"], np.array([[0.6, 0.8], [1.0, 0.0]], dtype=np.float32))
        matrix, found = store.cached_matrix("m", ["b", "x", "a", "b"])
        assert found.tolist() == [True, False, True, True] and matrix.dtype == np.float32
        np.testing.assert_allclose(matrix, [[1.0, 0.0], [0.0, 0.0], [0.6, 0.8], [1.0, 0.0]])
        empty, none_found = store.cached_matrix("other-model", ["a"])
        assert empty.shape == (1, 0) and not none_found.any()
