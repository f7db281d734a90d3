"""The workspace: one DuckDB file holding data sets, embeddings, runs, clusters and decisions.

All SQL of the product lives in this module, so the schema and the queries change together. Writes
happen in short transactions so that a failed write (bad input, a killed process) leaves the
workspace as it was.
"""

import fcntl
import hashlib
import json
import os
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from dialin_core.config import RunConfig
from dialin_core.data.assembly import Staging
from dialin_core.data.language import detect_language, language_sample
from dialin_core.errors import WorkspaceBusy, WorkspaceDamaged

# Ordered migrations: a released entry is never edited; a schema change is a new entry at the end.
MIGRATIONS: tuple[str, ...] = (
    # 1: data sets, transcripts, de-duplicated utterances, embedding cache, runs, clusters, decisions.
    """
    CREATE SEQUENCE dataset_ids START 1;
    CREATE TABLE datasets (
        dataset_id   INTEGER PRIMARY KEY DEFAULT nextval('dataset_ids'),
        name         VARCHAR NOT NULL,
        source       VARCHAR NOT NULL,
        format       VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL,
        options      JSON NOT NULL,
        created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
    );
    CREATE TABLE dialogues (
        dataset_id  INTEGER NOT NULL REFERENCES datasets(dataset_id),
        dialogue_id VARCHAR NOT NULL,
        n_turns     INTEGER NOT NULL,
        PRIMARY KEY (dataset_id, dialogue_id)
    );
    CREATE TABLE utterances (
        dataset_id   INTEGER NOT NULL REFERENCES datasets(dataset_id),
        utterance_id INTEGER NOT NULL,
        norm_text    VARCHAR NOT NULL,
        text         VARCHAR NOT NULL,
        text_hash    VARCHAR NOT NULL,
        frequency    INTEGER NOT NULL,
        roles        VARCHAR[] NOT NULL,
        gold_label   VARCHAR,
        PRIMARY KEY (dataset_id, utterance_id)
    );
    CREATE TABLE turns (
        dataset_id   INTEGER NOT NULL REFERENCES datasets(dataset_id),
        dialogue_id  VARCHAR NOT NULL,
        turn_index   INTEGER NOT NULL,
        speaker      VARCHAR NOT NULL,
        role         VARCHAR NOT NULL,
        text         VARCHAR NOT NULL,
        clean_text   VARCHAR NOT NULL,
        gold_label   VARCHAR,
        utterance_id INTEGER,
        PRIMARY KEY (dataset_id, dialogue_id, turn_index)
    );
    CREATE TABLE embeddings (
        model     VARCHAR NOT NULL,
        text_hash VARCHAR NOT NULL,
        vector    FLOAT[] NOT NULL,
        PRIMARY KEY (model, text_hash)
    );
    CREATE SEQUENCE run_ids START 1;
    CREATE TABLE runs (
        run_id      INTEGER PRIMARY KEY DEFAULT nextval('run_ids'),
        dataset_id  INTEGER NOT NULL REFERENCES datasets(dataset_id),
        method      VARCHAR NOT NULL,
        config      JSON NOT NULL,
        status      VARCHAR NOT NULL,
        summary     JSON,
        created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
        finished_at TIMESTAMP
    );
    CREATE TABLE clusters (
        run_id      INTEGER NOT NULL REFERENCES runs(run_id),
        cluster_id  INTEGER NOT NULL,
        name        VARCHAR,
        size        INTEGER NOT NULL,
        iteration   INTEGER,
        verdict     VARCHAR,
        probability DOUBLE,
        PRIMARY KEY (run_id, cluster_id)
    );
    CREATE TABLE assignments (
        run_id       INTEGER NOT NULL REFERENCES runs(run_id),
        utterance_id INTEGER NOT NULL,
        cluster_id   INTEGER NOT NULL,
        x            DOUBLE,
        y            DOUBLE,
        PRIMARY KEY (run_id, utterance_id)
    );
    CREATE SEQUENCE decision_ids START 1;
    CREATE TABLE decisions (
        decision_id INTEGER PRIMARY KEY DEFAULT nextval('decision_ids'),
        run_id      INTEGER NOT NULL REFERENCES runs(run_id),
        analyst     VARCHAR NOT NULL,
        decided_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
        action      VARCHAR NOT NULL,
        target      VARCHAR NOT NULL,
        before      JSON,
        after       JSON
    );
    """,
    # 2: the persistent LLM call cache, keyed by backend, model and request hash.
    """
    CREATE TABLE llm_calls (
        backend           VARCHAR NOT NULL,
        model             VARCHAR NOT NULL,
        request_hash      VARCHAR NOT NULL,
        request           JSON NOT NULL,
        response          JSON NOT NULL,
        prompt_tokens     INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        seconds           DOUBLE NOT NULL,
        created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (backend, model, request_hash)
    );
    """,
    # 3: the Dial-In loop: each step as an event, cluster evidence, merge proposals.
    """
    ALTER TABLE clusters ADD COLUMN role VARCHAR;
    ALTER TABLE clusters ADD COLUMN sample INTEGER[];
    ALTER TABLE clusters ADD COLUMN evidence JSON;
    CREATE TABLE run_events (
        run_id  INTEGER NOT NULL REFERENCES runs(run_id),
        seq     INTEGER NOT NULL,
        kind    VARCHAR NOT NULL,
        payload JSON NOT NULL,
        logged_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE merge_proposals (
        run_id      INTEGER NOT NULL REFERENCES runs(run_id),
        proposal_id INTEGER NOT NULL,
        cluster_ids INTEGER[] NOT NULL,
        evidence    JSON NOT NULL,
        status      VARCHAR NOT NULL,
        merged_name VARCHAR,
        PRIMARY KEY (run_id, proposal_id)
    );
    """,
    # 4: where a Dial-In run's loop clusters (its UMAP coordinates), stored once so a resume clusters the
    # same points. No foreign key: DuckDB refuses updates of a runs row that other rows reference while a
    # run writes them, and these rows live and die with their run's clusters.
    """
    CREATE TABLE run_coordinates (
        run_id       INTEGER NOT NULL,
        utterance_id INTEGER NOT NULL,
        coordinates  FLOAT[] NOT NULL,
        PRIMARY KEY (run_id, utterance_id)
    );
    """,
    # 5: the language a data set is written in (dialin_core.data.language), detected at ingest; NULL for data
    # sets stored before, detected when first asked for.
    """
    ALTER TABLE datasets ADD COLUMN language VARCHAR;
    """,
    # 6: whether the loop clustered an utterance (its sample) or it was assigned afterwards to the nearest intent;
    # NULL where the run clustered every utterance (dialin_core.clustering.subsample).
    """
    ALTER TABLE assignments ADD COLUMN sampled BOOLEAN;
    """,
)


WRITE_ATTEMPTS = 5
# How long opening a workspace another process has open waits for it. DuckDB lets one process open a file at
# a time, and a process that opens it per command or per decision holds it for milliseconds: waiting a few
# seconds lets two such writers take turns and lose nothing, where refusing at once dropped most of the
# second one's writes. Past the wait the open is refused with a message (WorkspaceBusy).
OPEN_WAIT_SECONDS = 10.0
# DuckDB's buffer pool for a workspace file (its default is 80% of the machine's memory). The store is read and
# written, not computed in: the clustering works on numpy matrices beside it, and at a million utterances a pool
# left at the default kept the blocks of every vector it had read, gigabytes the run needed for its own matrices.
# Past the limit DuckDB spills sorts and joins to a temporary folder beside the file and reads blocks again from it.
# An in-memory store (tests, throwaway work) has nowhere to spill, so it keeps DuckDB's default.
WORKSPACE_MEMORY_LIMIT = "2GB"
CLUSTER_COLUMNS = ("cluster_id", "name", "size", "iteration", "verdict", "probability", "role", "sample", "evidence")
ASSIGNMENT_COLUMNS = ("utterance_id", "cluster_id", "x", "y", "sampled")
# A run's assigned utterances with their texts (a: assignments, r: runs, u: utterances), for the queries that read them.
RUN_UTTERANCES = ("FROM assignments a JOIN runs r USING (run_id) "
                  "JOIN utterances u ON u.dataset_id = r.dataset_id AND u.utterance_id = a.utterance_id")
# A run's status: working (a pause or cancel may be asked for and not yet honoured), stopped so that it can
# go on, or ended (finished, cancelled).
LIVE_STATUSES: tuple[str, ...] = ("running", "pausing", "cancelling")
RESUMABLE_STATUSES: tuple[str, ...] = ("paused", "failed")


@dataclass(frozen=True)
class RunRow:
    """A stored run: what it was asked to do, where it stands, and (once it ends) its summary."""

    run_id: int
    dataset_id: int
    method: str
    config: RunConfig
    status: str  # LIVE_STATUSES, RESUMABLE_STATUSES, "finished" or "cancelled"
    summary: dict[str, Any] | None  # the method's figures once finished; {"error": ...} once failed

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON holds it (a data card, an export)."""
        return {"run_id": self.run_id, "dataset_id": self.dataset_id, "method": self.method, "config": self.config.as_dict(),
                "status": self.status, "summary": self.summary}


def text_hash(text: str) -> str:
    """Key of the embedding cache: stable across runs, data sets and workspaces. `add_dataset` computes the same key in
    SQL (DuckDB's sha256 of the UTF-8 text) for a million utterances at once; the two must stay the same rule."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _spoken_in(roles: Sequence[str] | None) -> tuple[str, list[Any]]:
    """The condition (and its parameter) that keeps the utterances spoken in one of `roles`; none for no roles."""
    return (" AND list_has_any(roles, ?)", [list(roles)]) if roles else ("", [])


def _one_of(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """The condition (and its parameter) that keeps the rows whose `column` is one of `ids`: one list parameter
    unnested in SQL, so a query with a hundred thousand ids is one statement, not that many placeholders."""
    return f" AND {column} IN (SELECT unnest(?::BIGINT[]))", [[int(i) for i in ids]]


CACHE_READ_ROWS = 50_000  # cached vectors read a batch at a time: 75 MB of MiniLM vectors


@dataclass(frozen=True)
class DatasetInfo:
    dataset_id: int
    name: str
    source: str
    format: str
    n_dialogues: int
    n_turns: int
    n_utterances: int
    language: str | None  # ISO 639-1, e.g. "en", "zh"; None until detected (data sets stored by an older version)


@contextmanager
def _in_line(path: str, deadline: float) -> Iterator[None]:
    """Wait in line to open the workspace: hold `<workspace>.open-lock` while waiting for DuckDB's lock, so a process
    that closes the file and opens it again at once queues behind the one already waiting instead of taking the
    file back before the waiter's next try (two processes recording decisions in a loop starved one of them).
    The kernel drops the lock with its process. Skipped for ':memory:' and where the file cannot be made."""
    if path == ":memory:":
        yield
        return
    try:
        descriptor = os.open(f"{path}.open-lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break  # DuckDB's own lock then decides, and its refusal says which process holds the file
                time.sleep(0.002)
        yield
    finally:
        os.close(descriptor)  # releases the lock


class Store:
    """A workspace file (or ':memory:'), migrated to the current schema when opened."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self.connection = self._connect()
        self._migrate()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """DuckDB's own file lock, waited on for up to OPEN_WAIT_SECONDS, in turn with other processes."""
        deadline = time.monotonic() + OPEN_WAIT_SECONDS
        with _in_line(self.path, deadline):
            attempt = 0
            while True:
                try:
                    if self.path == ":memory:":
                        return duckdb.connect(self.path)
                    return duckdb.connect(self.path, config={"memory_limit": WORKSPACE_MEMORY_LIMIT})
                except duckdb.IOException as error:
                    if "lock" not in str(error).lower():
                        raise WorkspaceDamaged(
                            f"workspace {self.path} cannot be opened: it is not a Dial-In workspace, or it is damaged (emptied "
                            f"or cut short). Nothing was changed in it; open another file, or restore it from a copy. ({error})"
                        ) from error
                    if time.monotonic() >= deadline:
                        raise WorkspaceBusy(
                            f"workspace {self.path} is open in another process (the studio, or a CLI run), which did not let "
                            f"it go within {OPEN_WAIT_SECONDS:g} s: DuckDB lets one process use a workspace at a time, so "
                            f"close that one, or use another workspace. ({error})"
                        ) from error
                time.sleep(min(0.05, 0.002 * 2**attempt) * random.uniform(0.5, 1.5))
                attempt += 1

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.connection.execute("BEGIN TRANSACTION")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def _migrate(self) -> None:
        self.connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self.connection.execute("SELECT max(version) FROM schema_version").fetchall()[0]
        current = row[0] or 0
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"workspace {self.path} has schema version {current}, newer than this program's "
                f"{len(MIGRATIONS)}; upgrade Dial-In Studio to open it"
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            with self._transaction() as tx:
                tx.execute(script)
                tx.execute("INSERT INTO schema_version VALUES (?)", [version])

    @property
    def schema_version(self) -> int:
        return self.connection.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]

    # -- data sets -------------------------------------------------------------------------

    def find_dataset(self, content_hash: str, options: dict[str, Any]) -> int | None:
        """The data set already ingested from identical bytes with identical options, if any."""
        rows = self.connection.execute(
            "SELECT dataset_id FROM datasets WHERE content_hash = ? AND options = ?::JSON ORDER BY dataset_id LIMIT 1",
            [content_hash, json.dumps(options, sort_keys=True)],
        ).fetchall()
        return rows[0][0] if rows else None

    def add_dataset(
        self,
        *,
        name: str,
        source: str,
        format: str,
        content_hash: str,
        options: dict[str, Any],
        batches: Iterable[pd.DataFrame],
    ) -> int:
        """Store a parsed file in one transaction: either all of it lands or nothing does.

        `batches` are the file's staged rows (`ingest.staged_batches`), taken one at a time into temporary tables
        on this connection and assembled there in SQL, so a file of any size is stored without its turns in
        Python; a file that fails halfway is refused before the transaction starts."""
        with Staging(self.connection) as staging:
            staging.add(batches)
            staging.number_turns()
            staging.fold_utterances()
            n_utterances = self.connection.execute(f"SELECT count(*) FROM {staging.utterances}").fetchall()[0][0]
            sampled, ids = _one_of("utterance_id", language_sample(n_utterances))
            sample = self.connection.execute(
                f"SELECT text FROM {staging.utterances} WHERE true{sampled} ORDER BY utterance_id", ids
            ).fetchall()
            language = detect_language([text for (text,) in sample])
            with self._transaction() as tx:
                dataset_id = tx.execute(
                    "INSERT INTO datasets (name, source, format, content_hash, options, language) VALUES (?, ?, ?, ?, ?::JSON, ?) "
                    "RETURNING dataset_id",
                    [name, source, format, content_hash, json.dumps(options, sort_keys=True), language],
                ).fetchall()[0][0]
                tx.execute(
                    f"INSERT INTO dialogues SELECT ?, dialogue_id, count(*) FROM {staging.turns} GROUP BY dialogue_id",
                    [dataset_id],
                )
                tx.execute(
                    f"INSERT INTO turns SELECT ?, t.dialogue_id, t.turn_index, t.speaker, t.role, t.text, t.clean_text, "
                    f"t.gold_label, u.utterance_id FROM {staging.turns} t JOIN {staging.utterances} u USING (norm_text) "
                    "ORDER BY t.pos",
                    [dataset_id],
                )
                tx.execute(
                    f"INSERT INTO utterances SELECT ?, utterance_id, norm_text, text, sha256(text), frequency, roles, "  # text_hash
                    f"gold_label FROM {staging.utterances}",
                    [dataset_id],
                )
        return dataset_id

    def datasets(self, dataset_id: int | None = None) -> list[DatasetInfo]:
        """Every data set with its counts, or only `dataset_id`'s (counting a workspace's every data set
        to show one costs a scan of all their turns)."""
        rows = self.connection.execute(
            """
            SELECT d.dataset_id, d.name, d.source, d.format,
                   (SELECT count(*) FROM dialogues g WHERE g.dataset_id = d.dataset_id),
                   (SELECT count(*) FROM turns t WHERE t.dataset_id = d.dataset_id),
                   (SELECT count(*) FROM utterances u WHERE u.dataset_id = d.dataset_id),
                   d.language
            FROM datasets d WHERE ? IS NULL OR d.dataset_id = ? ORDER BY d.dataset_id
            """,
            [dataset_id, dataset_id],
        ).fetchall()
        return [DatasetInfo(*row) for row in rows]

    def dataset(self, dataset_id: int) -> DatasetInfo:
        found = self.datasets(dataset_id)
        if not found:
            raise ValueError(f"workspace {self.path} has no data set {dataset_id}")
        return found[0]

    def dataset_language(self, dataset_id: int) -> str:
        """The data set's language; detected from its utterances and stored when an older version stored it."""
        stored = self.dataset(dataset_id).language
        if stored:
            return stored
        language = detect_language(self.utterances(dataset_id)["text"].tolist())
        with self._transaction() as tx:
            tx.execute("UPDATE datasets SET language = ? WHERE dataset_id = ?", [language, dataset_id])
        return language

    def utterances(self, dataset_id: int, roles: Sequence[str] | None = None, utterance_ids: Sequence[int] | None = None) -> pd.DataFrame:
        """Unique utterances of a data set, optionally only those spoken in one of `roles`, or only `utterance_ids`."""
        query = (
            "SELECT utterance_id, text, norm_text, text_hash, frequency, roles, gold_label "
            "FROM utterances WHERE dataset_id = ?"
        )
        spoken, role_params = _spoken_in(roles)
        query += spoken
        params: list[Any] = [dataset_id, *role_params]
        if utterance_ids is not None:
            wanted, ids = _one_of("utterance_id", utterance_ids)
            query += wanted
            params += ids
        return self.connection.execute(query + " ORDER BY utterance_id", params).df()

    def has_speaker_roles(self, dataset_id: int, roles: Sequence[str] | None = None) -> bool:
        """Whether ingest knew who spoke any utterance (of `roles`, when given): then its roles split a run, and
        names are not needed. One indexed scan, not a million lists read into Python."""
        query = "SELECT EXISTS (SELECT 1 FROM utterances WHERE dataset_id = ? AND list_has_any(roles, ['customer', 'agent'])"
        spoken, params = _spoken_in(roles)
        return bool(self.connection.execute(query + spoken + ")", [dataset_id, *params]).fetchone()[0])

    def sentences(self, run_id: int, utterance_ids: Sequence[int]) -> pd.DataFrame:
        """utterance_id, text, frequency and gold_label of some of a run's utterances, in the order asked for:
        what the Review page shows of one cluster, read without the rest of the run."""
        wanted, ids = _one_of("u.utterance_id", utterance_ids)
        found = self.connection.execute(
            "SELECT u.utterance_id, u.text, u.frequency, u.gold_label FROM utterances u JOIN runs r USING (dataset_id) "
            f"WHERE r.run_id = ?{wanted}", [run_id, *ids],
        ).df()
        return found.set_index("utterance_id").reindex(list(utterance_ids)).dropna(subset=["text"]).reset_index()

    def search_sentences(self, run_id: int, query: str, limit: int) -> tuple[pd.DataFrame, int]:
        """The first `limit` of a run's utterances that contain `query`, any case (utterance_id, text), and how many
        contain it."""
        found = self.connection.execute(
            f"SELECT u.utterance_id, u.text, count(*) OVER () AS n_found {RUN_UTTERANCES} "
            "WHERE a.run_id = ? AND contains(lower(u.text), lower(?)) ORDER BY u.utterance_id LIMIT ?", [run_id, query, limit],
        ).df()
        total = int(found["n_found"].iloc[0]) if len(found) else 0
        return found.drop(columns="n_found"), total

    def utterance_dialogues(self, dataset_id: int) -> pd.Series:
        """The first dialogue each utterance was spoken in (an utterance is a unique text: it may recur), by id."""
        frame = self.connection.execute(
            "SELECT utterance_id, min(dialogue_id) AS dialogue_id FROM turns WHERE dataset_id = ? AND utterance_id IS NOT NULL "
            "GROUP BY utterance_id", [dataset_id]).df()
        return frame.set_index("utterance_id")["dialogue_id"]

    def turns(self, dataset_id: int) -> pd.DataFrame:
        return self.connection.execute(
            "SELECT * EXCLUDE (dataset_id) FROM turns WHERE dataset_id = ? ORDER BY dialogue_id, turn_index",
            [dataset_id],
        ).df()

    # -- embedding cache -------------------------------------------------------------------

    def cached_matrix(self, model: str, hashes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The cached vectors of these texts as one float32 matrix, a row per hash in the order given (zeros where
        none is cached), and which rows were found. Read in record batches straight into that matrix: a million
        vectors are 1.5 GB, and a whole Arrow table beside a dict of rows by hash and a stacked copy held three
        times that at once."""
        found = np.zeros(len(hashes), dtype=bool)
        matrix = np.zeros((len(hashes), 0), dtype=np.float32)
        if not hashes:
            return matrix, found
        wanted = pa.table({"position": pa.array(np.arange(len(hashes), dtype=np.int64)), "text_hash": pa.array(list(hashes), pa.string())})
        self.connection.register("wanted_hashes", wanted)
        try:
            reader = self.connection.sql(
                "SELECT w.position, e.vector FROM embeddings e JOIN wanted_hashes w USING (text_hash) WHERE e.model = ?",
                params=[model],
            ).fetch_arrow_reader(CACHE_READ_ROWS)
            for batch in reader:
                if not batch.num_rows:
                    continue
                rows = batch.column("position").to_numpy()
                flat = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
                if matrix.shape[1] == 0:
                    matrix = np.zeros((len(hashes), len(flat) // batch.num_rows), dtype=np.float32)
                matrix[rows] = flat.reshape(batch.num_rows, -1)
                found[rows] = True
        finally:
            self.connection.unregister("wanted_hashes")
        return matrix, found

    def cached_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of these texts, by hash."""
        matrix, found = self.cached_matrix(model, hashes)
        return {hashes[i]: matrix[i] for i in np.flatnonzero(found)}

    def embedding_models(self) -> list[str]:
        """Every embedder name the cache holds vectors for."""
        return [row[0] for row in self.connection.execute("SELECT DISTINCT model FROM embeddings ORDER BY model").fetchall()]

    def put_embeddings(self, model: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        frame = pa.table({"text_hash": pa.array(list(hashes), pa.string()),
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])})
        with self._transaction() as tx:
            tx.register("new_vectors", frame)
            tx.execute(
                "INSERT OR IGNORE INTO embeddings SELECT ?, text_hash, vector::FLOAT[] FROM new_vectors",
                [model],
            )
            tx.unregister("new_vectors")

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, dataset_id: int, method: str, config: dict[str, Any]) -> int:
        return self.connection.execute(
            "INSERT INTO runs (dataset_id, method, config, status) VALUES (?, ?, ?::JSON, 'running') RETURNING run_id",
            [dataset_id, method, json.dumps(config, sort_keys=True)],
        ).fetchall()[0][0]

    @staticmethod
    def _insert_clusters(tx: duckdb.DuckDBPyConnection, run_id: int, clusters: pd.DataFrame, assignments: pd.DataFrame) -> None:
        """Columns are matched by name; those a frame lacks (evidence for a k-means run) stay NULL."""
        cluster_frame = clusters[[c for c in CLUSTER_COLUMNS if c in clusters.columns]]
        assignment_frame = assignments[[c for c in ASSIGNMENT_COLUMNS if c in assignments.columns]]
        tx.register("cluster_frame", cluster_frame)
        tx.register("assignment_frame", assignment_frame)
        tx.execute("INSERT INTO clusters BY NAME SELECT ? AS run_id, * FROM cluster_frame", [run_id])
        tx.execute("INSERT INTO assignments BY NAME SELECT ? AS run_id, * FROM assignment_frame", [run_id])
        tx.unregister("cluster_frame")
        tx.unregister("assignment_frame")

    def save_step(
        self, run_id: int, event: dict[str, Any], clusters: pd.DataFrame | None = None, assignments: pd.DataFrame | None = None
    ) -> None:
        """One step of a running run: its event and the clusters it kept, together or not at all."""
        with self._transaction() as tx:
            if clusters is not None and assignments is not None:
                self._insert_clusters(tx, run_id, clusters, assignments)
            tx.execute(
                "INSERT INTO run_events (run_id, seq, kind, payload) "
                "SELECT ?, coalesce(max(seq), 0) + 1, ?, ?::JSON FROM run_events WHERE run_id = ?",
                [run_id, event["kind"], json.dumps(event, sort_keys=True), run_id],
            )

    def event_times(self, run_id: int) -> tuple[list[tuple[str, Any]], Any]:
        """(kind, logged_at) of a run's events in order, and the database's clock now, which stamped them."""
        rows = self.connection.execute("SELECT kind, logged_at FROM run_events WHERE run_id = ? ORDER BY seq", [run_id]).fetchall()
        now = self.connection.execute("SELECT current_timestamp::TIMESTAMP").fetchall()[0][0]
        return [(kind, logged) for kind, logged in rows], now

    def drop_events_after(self, run_id: int, kinds: Sequence[str]) -> None:
        """Forget the events after the last one of `kinds`: the steps a resumed run will redo."""
        self.connection.execute(
            "DELETE FROM run_events WHERE run_id = ? AND seq > "
            "(SELECT coalesce(max(seq), 0) FROM run_events WHERE run_id = ? AND list_contains(?, kind))",
            [run_id, run_id, list(kinds)],
        )

    def events(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            "SELECT payload FROM run_events WHERE run_id = ? ORDER BY seq", [run_id]
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def finish_run(
        self,
        run_id: int,
        *,
        clusters: pd.DataFrame,
        assignments: pd.DataFrame,
        summary: dict[str, Any],
    ) -> None:
        """The final clusters and assignments replace whatever the running steps stored, with the summary."""
        with self._transaction() as tx:
            tx.execute("DELETE FROM assignments WHERE run_id = ?", [run_id])
            tx.execute("DELETE FROM clusters WHERE run_id = ?", [run_id])
            self._insert_clusters(tx, run_id, clusters, assignments)
            tx.execute(
                "UPDATE runs SET status = 'finished', summary = ?::JSON, finished_at = current_timestamp "
                "WHERE run_id = ?",
                [json.dumps(summary, sort_keys=True), run_id],
            )

    def run(self, run_id: int) -> RunRow:
        """One run's row, its configuration parsed (runs stored by older versions upgraded); a clear error
        for an id the workspace does not have."""
        rows = self.connection.execute(
            "SELECT run_id, dataset_id, method, config, status, summary FROM runs WHERE run_id = ?", [run_id]
        ).fetchall()
        if not rows:
            raise ValueError(f"workspace {self.path} has no run {run_id}")
        run_id, dataset_id, method, config, status, summary = rows[0]
        return RunRow(int(run_id), int(dataset_id), method, RunConfig.from_dict(json.loads(config)), status,
                      json.loads(summary) if summary else None)

    def clusters(self, run_id: int) -> pd.DataFrame:
        return self.connection.execute(
            "SELECT * EXCLUDE (run_id) FROM clusters WHERE run_id = ? ORDER BY cluster_id", [run_id]
        ).df()

    def cluster_members(self, run_id: int) -> pd.DataFrame:
        """utterance_id, cluster_id of every utterance the run has assigned so far."""
        return self.connection.execute(
            "SELECT utterance_id, cluster_id FROM assignments WHERE run_id = ? ORDER BY utterance_id", [run_id]
        ).df()

    def save_coordinates(self, run_id: int, utterance_ids: Sequence[int], coordinates: np.ndarray) -> None:
        frame = pd.DataFrame({"utterance_id": np.asarray(utterance_ids, dtype=np.int64), "coordinates": list(coordinates.astype(np.float32))})
        with self._transaction() as tx:
            tx.register("coordinate_frame", frame)
            tx.execute("INSERT INTO run_coordinates SELECT ?, utterance_id, coordinates FROM coordinate_frame", [run_id])
            tx.unregister("coordinate_frame")

    def coordinates(self, run_id: int, utterance_ids: Sequence[int]) -> np.ndarray | None:
        """The stored loop coordinates of these utterances, in their order; None unless all are stored."""
        wanted = pd.DataFrame({"utterance_id": np.asarray(utterance_ids, dtype=np.int64), "position": np.arange(len(utterance_ids))})
        self.connection.register("wanted_frame", wanted)
        try:
            rows = self.connection.execute(
                "SELECT c.coordinates FROM wanted_frame w JOIN run_coordinates c ON c.utterance_id = w.utterance_id "
                "AND c.run_id = ? ORDER BY w.position", [run_id]
            ).fetchall()
        finally:
            self.connection.unregister("wanted_frame")
        if len(rows) != len(utterance_ids) or not rows:
            return None
        return np.array([r[0] for r in rows], dtype=np.float32)

    def mark_running(self, run_id: int) -> None:
        """The run is being worked; a pause or cancel already asked for stays asked (the worker honours it)."""
        self.connection.execute(
            "UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ? AND status NOT IN ('pausing', 'cancelling')",
            [run_id],
        )

    # -- merge proposals ------------------------------------------------------------------------

    def save_merge_proposals(self, run_id: int, proposals: pd.DataFrame) -> None:
        """proposal_id, cluster_ids, evidence (JSON text), status, merged_name; replaces earlier ones."""
        with self._transaction() as tx:
            tx.execute("DELETE FROM merge_proposals WHERE run_id = ?", [run_id])
            tx.register("proposal_frame", proposals)
            tx.execute(
                "INSERT INTO merge_proposals SELECT ?, proposal_id, cluster_ids, evidence::JSON, status, merged_name "
                "FROM proposal_frame",
                [run_id],
            )
            tx.unregister("proposal_frame")

    def merge_proposals(self, run_id: int) -> pd.DataFrame:
        return self.connection.execute(
            "SELECT * EXCLUDE (run_id) FROM merge_proposals WHERE run_id = ? ORDER BY proposal_id", [run_id]
        ).df()

    def request_stop(self, run_id: int, stopping: str) -> bool:
        """Ask a running run to pause or cancel ('pausing' / 'cancelling'); its worker stops at the next step.

        False when the run was not running: nothing to stop. The changed-row count answers that, not
        `RETURNING`: DuckDB executes an UPDATE ... RETURNING as a delete and an insert, which its foreign keys
        refuse once the run has stored clusters or events ("key is still referenced"), so a pause of any run
        past its first step failed. Plain updates of non-key columns are done in place.
        """
        changed = self.connection.execute(
            "UPDATE runs SET status = ? WHERE run_id = ? AND status = 'running'", [stopping, run_id]
        ).fetchall()
        return changed[0][0] > 0

    def run_status(self, run_id: int) -> str:
        return self.run(run_id).status

    def stop_run(self, run_id: int, status: str) -> None:
        """A worker that honoured a pause or cancel request records where the run now stands."""
        self.connection.execute(
            "UPDATE runs SET status = ?, finished_at = current_timestamp WHERE run_id = ?", [status, run_id]
        )

    def fail_run(self, run_id: int, reason: str) -> None:
        self.connection.execute(
            "UPDATE runs SET status = 'failed', summary = ?::JSON, finished_at = current_timestamp WHERE run_id = ?",
            [json.dumps({"error": reason}), run_id],
        )

    def runs(self) -> pd.DataFrame:
        """Every run with what tells runs of the same settings apart: when it started, its clusters (once
        finished) and how many analyst decisions it has."""
        return self.connection.execute(
            "SELECT r.run_id, r.dataset_id, r.method, r.status, r.created_at, r.finished_at, "
            "CAST(r.summary->>'n_clusters' AS INTEGER) AS n_clusters, "
            "(SELECT count(*) FROM decisions d WHERE d.run_id = r.run_id) AS n_decisions "
            "FROM runs r ORDER BY r.run_id"
        ).df()

    def run_times(self, run_id: int) -> tuple[Any, Any]:
        """When a run was created and when it finished (None while it has not)."""
        rows = self.connection.execute("SELECT created_at, finished_at FROM runs WHERE run_id = ?", [run_id]).fetchall()
        if not rows:
            raise ValueError(f"workspace {self.path} has no run {run_id}")
        return rows[0]

    def utterance_texts(self, run_id: int) -> dict[int, str]:
        """utterance_id -> text for the run's data set: what samples and evidence are shown with."""
        rows = self.connection.execute(
            "SELECT u.utterance_id, u.text FROM utterances u JOIN runs r USING (dataset_id) WHERE r.run_id = ?", [run_id]
        ).fetchall()
        return dict(rows)

    def dialogue_context(self, run_id: int, utterance_id: int, max_dialogues: int = 3) -> pd.DataFrame:
        """Every turn of the first dialogues in which an utterance was said, for reading it in context."""
        return self.connection.execute(
            """
            WITH said AS (
                SELECT DISTINCT t.dataset_id, t.dialogue_id FROM turns t JOIN runs r USING (dataset_id)
                WHERE r.run_id = ? AND t.utterance_id = ? ORDER BY t.dialogue_id LIMIT ?
            )
            SELECT t.dialogue_id, t.turn_index, t.speaker, t.role, t.text, t.utterance_id = ? AS is_it
            FROM turns t JOIN said USING (dataset_id, dialogue_id) ORDER BY t.dialogue_id, t.turn_index
            """,
            [run_id, utterance_id, max_dialogues, utterance_id],
        ).df()

    def assignments(self, run_id: int) -> pd.DataFrame:
        """Each utterance of the run with its cluster, text and gold label."""
        return self.connection.execute(
            f"""
            SELECT a.utterance_id, u.text, u.frequency, u.gold_label, a.cluster_id, c.name AS intent_name, a.x, a.y, a.sampled
            {RUN_UTTERANCES}
            LEFT JOIN clusters c ON c.run_id = a.run_id AND c.cluster_id = a.cluster_id
            WHERE a.run_id = ? ORDER BY a.utterance_id
            """,
            [run_id],
        ).df()

    def map_points(self, run_id: int, limit: int) -> tuple[pd.DataFrame, int]:
        """At most `limit` of the run's utterances placed on the map (x, y, text), the same ones on every call
        (ordered by a hash of their ids), and how many were placed: a map page at a million reads thousands."""
        placed = self.connection.execute(
            "SELECT count(*) FROM assignments WHERE run_id = ? AND x IS NOT NULL AND y IS NOT NULL", [run_id]).fetchone()[0]
        frame = self.connection.execute(
            f"""
            SELECT a.utterance_id, u.text, a.x, a.y
            {RUN_UTTERANCES}
            WHERE a.run_id = ? AND a.x IS NOT NULL AND a.y IS NOT NULL
            ORDER BY hash(a.utterance_id), a.utterance_id LIMIT ?
            """,
            [run_id, limit],
        ).df()
        return frame, int(placed)

    # -- LLM call cache ---------------------------------------------------------------------

    def cached_llm_response(self, backend: str, model: str, request_hash: str) -> dict[str, Any] | None:
        rows = self.connection.execute(
            "SELECT response FROM llm_calls WHERE backend = ? AND model = ? AND request_hash = ?",
            [backend, model, request_hash],
        ).fetchall()
        return json.loads(rows[0][0]) if rows else None

    def put_llm_response(
        self,
        backend: str,
        model: str,
        request_hash: str,
        *,
        request: dict[str, Any],
        response: dict[str, Any],
        prompt_tokens: int,
        completion_tokens: int,
        seconds: float,
    ) -> None:
        self.connection.execute(
            "INSERT OR IGNORE INTO llm_calls (backend, model, request_hash, request, response, prompt_tokens, "
            "completion_tokens, seconds) VALUES (?, ?, ?, ?::JSON, ?::JSON, ?, ?, ?)",
            [backend, model, request_hash, json.dumps(request), json.dumps(response), prompt_tokens,
             completion_tokens, seconds],
        )

    # -- decisions ----------------------------------------------------------------------------

    def record_decision(
        self, run_id: int, *, analyst: str, action: str, target: str, before: Any, after: Any
    ) -> int:
        """Append one analyst action; decisions are never updated or deleted.

        Two tabs (or a tab and a run's thread) write through separate connections to one database, and
        DuckDB resolves their overlap optimistically: the loser of a conflict retries.
        """
        def insert() -> int:
            return self.connection.execute(
                "INSERT INTO decisions (run_id, analyst, action, target, before, after) "
                "VALUES (?, ?, ?, ?, ?::JSON, ?::JSON) RETURNING decision_id",
                [run_id, analyst, action, target, json.dumps(before, default=str), json.dumps(after, default=str)],
            ).fetchall()[0][0]

        for attempt in range(WRITE_ATTEMPTS - 1):
            try:
                return insert()
            except duckdb.TransactionException:
                time.sleep(0.05 * 2**attempt)
        return insert()

    def decisions(self, run_id: int) -> pd.DataFrame:
        return self.connection.execute(
            "SELECT * FROM decisions WHERE run_id = ? ORDER BY decision_id", [run_id]
        ).df()
