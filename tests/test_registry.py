"""The registry of discovery methods: a method is one object with the DiscoveryMethod protocol and one
registration, and the configuration, the CLI, the background jobs and the Discover page find it there.

The method here is a test's own (utterances clustered by their first word), as the README's paragraph
on adding a method describes it; it uses the baselines' run plumbing as a real method would.
"""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from dialin_core.cli import main
from dialin_core.config import RunConfig
from dialin_core.data.datasets import ingest_file
from dialin_core.data.store import Store
from dialin_core.methods import jobs, registry
from dialin_core.methods.baselines import RunResult, cluster_table, create_run, store_result
from tests.test_studio import labelled, open_app

TEXTS = ["block my card", "block the card please", "refund my order", "refund the order now", "where is my parcel",
         "where is the parcel"]


@dataclass(frozen=True)
class FirstWordMethod:
    name: str = "first-word"
    description: str = "utterances clustered by their first word (a test's method)"
    settings: frozenset[str] = frozenset()
    follow_ups: frozenset[str] = frozenset()
    resumes: bool = False
    llm_budget: bool = False

    def validate(self, config: RunConfig) -> None:
        if config.k is not None:
            raise ValueError("the first-word method finds its own clusters: drop --k")

    def create(self, store: Store, dataset_id: int, config: RunConfig) -> int:
        return create_run(store, dataset_id, config)

    def complete(self, store: Store, run_id: int, hooks: registry.RunHooks) -> RunResult:
        started = time.perf_counter()
        run = store.run(run_id)
        utterances = store.utterances(run.dataset_id)
        texts = utterances["text"].tolist()
        words = [text.split()[0].lower() for text in texts]
        ids = {word: i for i, word in enumerate(sorted(set(words)))}
        labels = np.array([ids[word] for word in words])
        vectors = np.zeros((len(texts), 2), dtype=np.float32)  # the map is off: no coordinates are computed
        return store_result(store, run_id, utterances, vectors, labels, cluster_table(texts, labels), {"words": len(ids)}, started)

    def cost_estimate(self, config: RunConfig) -> str:
        return "no LLM calls"


@pytest.fixture
def first_word() -> Iterator[FirstWordMethod]:
    method = FirstWordMethod()
    registry.register(method)
    yield method
    registry.unregister(method.name)


@pytest.fixture
def texts_file(tmp_path):
    path = tmp_path / "queries.csv"
    path.write_text("text\n" + "\n".join(TEXTS) + "\n")
    return path


def test_the_shipped_methods_are_registered_and_an_unknown_one_is_refused():
    assert registry.method_names() == ("dialin", "labelgen", "kmeans", "agglomerative", "hdbscan")
    with pytest.raises(ValueError, match="unknown method 'first-word': choose one of dialin, labelgen"):
        RunConfig(method="first-word")
    with pytest.raises(ValueError, match="only a dialin run refines a reviewed run, not a kmeans run"):
        RunConfig(method="kmeans", refine_of=1)
    with pytest.raises(ValueError, match="only a labelgen run labels the leftovers of another run"):
        RunConfig(leftovers_of=1)


def test_a_registered_method_is_validated_run_from_the_cli_and_by_a_background_job(first_word, texts_file, tmp_path):
    assert registry.method_names()[-1] == "first-word"
    assert RunConfig(method="first-word").cost_estimate() == "no LLM calls"
    with pytest.raises(ValueError, match="finds its own clusters"):
        RunConfig(method="first-word", k=3)

    workspace = tmp_path / "w.duckdb"
    out = tmp_path / "out"
    assert main(["discover", str(texts_file), "--workspace", str(workspace), "--out", str(out), "--method", "first-word",
                 "--no-map"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "first-word" and summary["n_clusters"] == 3 and summary["words"] == 3

    with Store(workspace) as store:
        (dataset,) = store.datasets()
    run_id = jobs.start_run(workspace, dataset.dataset_id, RunConfig(method="first-word", with_map=False))
    assert jobs.wait(workspace, run_id, timeout=60)
    with Store(workspace) as store:
        run = store.run(run_id)
        sizes = sorted(store.clusters(run_id)["size"].tolist())
    assert run.status == "finished" and run.method == "first-word" and sizes == [2, 2, 2]
    with pytest.raises(ValueError, match="is a first-word run: start a new one instead"):
        jobs.resume_run(workspace, run_id)  # it does not resume; a finished run of any method would not either


def test_the_discover_page_offers_a_registered_method_with_only_the_settings_it_reads(first_word, texts_file, tmp_path):
    workspace = tmp_path / "w.duckdb"
    with Store(workspace) as store:
        ingest_file(store, texts_file)
    app = open_app(workspace)
    app.switch_page("pages/discover.py").run()
    method = labelled(app.selectbox, "Method")
    assert "first-word" in method.options and "first-word: utterances clustered by their first word" in method.help
    method.set_value("first-word").run()
    assert not app.exception, app.exception
    shown = {widget.label for widget in [*app.selectbox, *app.number_input, *app.slider]}
    assert "Embedder" in shown and not {"k search space", "LLM back end", "Max iterations"} & shown
