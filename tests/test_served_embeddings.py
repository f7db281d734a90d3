"""Embeddings from an OpenAI-compatible server (`--embedder openai:MODEL`), against a real HTTP server on loopback."""

import hashlib
import json
import random
import threading
import time

import numpy as np
import pytest

from dialin_core.cli import main
from dialin_core.data.store import Store
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import load_embedder
from dialin_core.embedding.served import EmbeddingServerError, OpenAIEmbedder
from dialin_core.openai_http import OpenAISettings
from tests.conftest import SAMPLE_DIALOGUES
from tests.test_llm_openai import ScriptedServer

DIMENSIONS = 64


def bag_of_words(text: str) -> list[float]:
    """A deterministic stand-in for a served model: hashed word counts, not unit length (the client normalises)."""
    vector = np.zeros(DIMENSIONS)
    for word in text.lower().split():
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
    vector[0] += 0.5  # no text maps to the zero vector
    return vector.tolist()


class EmbeddingService:
    """Answers /embeddings like TEI or vLLM, its items shuffled (clients must order by `index`); counts the
    requests in flight at once."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.in_flight, self.most_in_flight = delay, 0, 0
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> tuple[int, dict]:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay)
        items = [{"object": "embedding", "index": i, "embedding": bag_of_words(t)} for i, t in enumerate(body["input"])]
        random.Random(len(items)).shuffle(items)
        with self._lock:
            self.in_flight -= 1
        return 200, {"object": "list", "model": body["model"], "data": items}


def embedder_for(server: ScriptedServer, **overrides) -> OpenAIEmbedder:
    return OpenAIEmbedder(OpenAISettings(base_url=server.base_url, model="bge-small", backoff_seconds=0.01, **overrides))


def test_texts_go_in_batches_at_most_the_cap_in_flight_and_come_back_in_order_and_unit_length():
    service = EmbeddingService(delay=0.05)
    texts = [f"where is card number {i} of mine" for i in range(300)]
    with ScriptedServer(service) as server:
        vectors = embedder_for(server, max_concurrency=2).encode(texts)
    assert [len(r["body"]["input"]) for r in server.requests] == [128, 128, 44]
    assert {r["path"] for r in server.requests} == {"/v1/embeddings"} and server.requests[0]["body"]["model"] == "bge-small"
    assert service.most_in_flight == 2
    expected = np.array([bag_of_words(t) for t in texts])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)


def test_a_transient_failure_is_retried_and_a_client_error_is_one_clear_message():
    ok = EmbeddingService()
    with ScriptedServer([(503, {"error": "loading"}), (429, {"error": "slow down"}), ok({"input": ["hi"], "model": "m"})]) as server:
        vectors = embedder_for(server).encode(["hi"])
    assert len(server.requests) == 3 and vectors.shape == (1, DIMENSIONS)
    with ScriptedServer([(400, {"error": "input too long"})]) as server:
        with pytest.raises(EmbeddingServerError, match="HTTP 400: .*input too long"):
            embedder_for(server).encode(["hi"])
    assert len(server.requests) == 1  # not retried: retrying cannot mend it
    with ScriptedServer([(200, {"data": [{"index": 0, "embedding": [1.0]}]})]) as server:
        with pytest.raises(EmbeddingServerError, match="returned 1 vectors for 2 texts"):
            embedder_for(server).encode(["a", "b"])


def test_personal_data_is_masked_before_it_leaves_unless_the_user_lets_it():
    text = "my phone is +44 20 7946 0958, why was I charged"
    with ScriptedServer(EmbeddingService()) as server:
        embedder_for(server).encode([text])
        embedder_for(server, mask_pii=False).encode([text])
    masked, sent = (r["body"]["input"][0] for r in server.requests)
    assert "7946" not in masked and "why was I charged" in masked
    assert sent == text


def test_vectors_are_cached_by_the_served_name_so_a_rerun_asks_the_server_nothing(monkeypatch):
    with ScriptedServer(EmbeddingService()) as server, Store() as store:
        monkeypatch.setenv("DIALIN_OPENAI_EMBEDDINGS_BASE_URL", server.base_url)
        embedder = load_embedder("openai:bge-small")
        assert embedder.name == "openai:bge-small"
        first = embed_texts(["card arrival", "exchange rate"], embedder, store)
        again = embed_texts(["exchange rate", "card arrival"], load_embedder("openai:bge-small"), store)
        assert len(server.requests) == 1 and "openai:bge-small" in store.embedding_models()
    np.testing.assert_array_equal(again, first[::-1])


def test_a_served_name_without_a_model_or_a_server_is_refused_with_what_to_set(monkeypatch):
    for variable in ("DIALIN_OPENAI_EMBEDDINGS_BASE_URL", "DIALIN_OPENAI_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ValueError, match="names no model"):
        load_embedder("openai:")
    with pytest.raises(ValueError, match="set DIALIN_OPENAI_EMBEDDINGS_BASE_URL or DIALIN_OPENAI_BASE_URL or OPENAI_BASE_URL"):
        load_embedder("openai:bge-small")


def test_discover_on_the_command_line_embeds_with_a_served_model(tmp_path, monkeypatch):
    workspace, out = tmp_path / "w.duckdb", tmp_path / "out"
    with ScriptedServer(EmbeddingService()) as server:
        monkeypatch.setenv("DIALIN_OPENAI_EMBEDDINGS_BASE_URL", server.base_url)
        arguments = ["discover", str(SAMPLE_DIALOGUES), "--workspace", str(workspace), "--out", str(out), "--method", "kmeans",
                     "--k", "4", "--no-map", "--embedder", "openai:bge-small"]
        assert main(arguments) == 0
        asked = len(server.requests)
        assert main(arguments) == 0  # the same texts again: every vector is in the workspace's cache
        assert len(server.requests) == asked > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["embedder"] == "openai:bge-small" and summary["n_clusters"] == 4


def test_the_discover_page_runs_with_a_served_embedder_in_the_worker(tmp_path, monkeypatch, banking77_subset):
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.methods import jobs
    from tests.test_studio import labelled, open_app

    workspace = tmp_path / "w.duckdb"
    with Store(workspace) as store:
        ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
    with ScriptedServer(EmbeddingService()) as server:
        monkeypatch.setenv("DIALIN_OPENAI_EMBEDDINGS_BASE_URL", server.base_url)  # set after a warm worker may have started
        app = open_app(workspace)
        app.switch_page("pages/discover.py").run()
        labelled(app.selectbox, "Method").set_value("kmeans").run()
        labelled(app.selectbox, "Embedder").set_value("openai:")
        labelled(app.number_input, "k (0: chosen by silhouette)").set_value(8)
        labelled(app.button, "Start the run").click().run()
        assert [e.value for e in app.error] == ["Name the served embedding model: the Embedder served needs the model its server serves."]
        labelled(app.text_input, "Served embedding model").set_value("bge-small")
        labelled(app.button, "Start the run").click().run()
        assert not app.exception and not app.error, (app.exception, [e.value for e in app.error])
        run_id = app.session_state["run_id"]
        assert jobs.wait(workspace, run_id, timeout=300)
        with Store(workspace) as store:
            run = store.run(run_id)
        assert run.status == "finished", run.summary
        assert run.config.embedder == "openai:bge-small" and server.requests
