"""The local LLM taught to name intents: names read off gold labels, the examples, and a real training on CPU.

The real-model tests train the packaged 0.5B model for a few steps on clusters of 10 BANKING77 intents (about two
minutes on 2 cores, mostly transformers dequantising the GGUF), then check that the adapter moved the model
towards the taught names and that a run names its clusters with it, through llama.cpp.
"""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from dialin_core.cli import main
from dialin_core.config import RunConfig
from dialin_core.data.store import Store
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import load_embedder
from dialin_core.llm.adapters import Source, read_adapter
from dialin_core.llm.base import ChatResponse
from dialin_core.llm.cache import CachedLLM
from dialin_core.llm.lora import ChatExample, load_adapter
from dialin_core.methods.dialin import build_tools, create_dialin_run, namer_adapter
from dialin_core.naming.llm_tuning import (
    MIN_EXAMPLES,
    gold_objective,
    intent_names,
    labelled_name_examples,
    next_namer_path,
    offered_namers,
    tune_namer,
    tuned_namer,
)
from dialin_core.naming.names import NAME_PATTERN, namer_messages
from tests.fakes import ScriptedLLM


def test_gold_labels_read_as_action_objective_names():
    assert gold_objective("card_arrival") == (None, "card_arrival")
    assert gold_objective("cancel_transfer") == ("cancel", "transfer")
    assert gold_objective("FindRestaurants") == ("inquire", "restaurants")  # CamelCase, and a verb read as an allowed one
    assert gold_objective("lost_or_stolen_card") == (None, "lost_stolen_card")  # filler words go
    assert gold_objective("balance_not_updated_after_bank_transfer") == (None, "balance_not_updated_bank")  # at most 4 words
    assert gold_objective("app.LAUNCH") == (None, "app_launch")
    assert gold_objective("activate_my_card") == ("activate", "card")
    with pytest.raises(ValueError, match="no word a name can be made of"):
        gold_objective("42")


def test_intent_names_take_the_labels_verb_or_the_models_and_stay_unique():
    asked = ScriptedLLM(lambda request: ChatResponse(text="report-card_arrival", prompt_tokens=10, completion_tokens=3))
    gold = ["card_arrival"] * 3 + ["cancel_transfer"] * 2 + ["card-arrival"] * 2
    texts = [f"sentence {i}" for i in range(len(gold))]
    names = intent_names(asked, texts, gold)
    assert names == {"cancel_transfer": "cancel-transfer", "card-arrival": "report-card_arrival",
                     "card_arrival": "report-card_arrival_2"}
    assert len(asked.requests) == 2  # one call per intent whose label has no verb
    request = asked.requests[0]
    assert '"-card_arrival"' in request.grammar and [role for role, _ in request.messages] == ["system", "user"]
    assert intent_names(None, texts, gold)["card-arrival"] == "inquire-card_arrival"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> tuple[list[str], np.ndarray, list[str]]:
    """BANKING77 test queries of 10 intents with MiniLM vectors."""
    from tests.conftest import BANKING77_TEST

    frame = pd.read_csv(BANKING77_TEST)
    frame = frame[frame["category"].isin(sorted(frame["category"].unique())[:10])]
    texts = [" ".join(t.split()) for t in frame["text"]]  # as ingest cleans them: one sentence a line in the prompt
    return texts, embed_texts(texts, load_embedder("all-minilm-l6-v2")), frame["category"].tolist()


def test_labelled_name_examples_spread_over_the_intents_and_ask_what_the_namer_asks(labelled):
    texts, vectors, gold = labelled
    names = intent_names(None, texts, gold)
    examples, kinds = labelled_name_examples(texts, vectors, gold, names, n=40, seed=0)
    assert len(examples) == 40 and sum(kinds.values()) == 40 and set(kinds) <= {"pure", "ward cut"}
    answers = pd.Series([e.answer for e in examples]).value_counts()
    assert len(answers) == 10 and answers.max() == 4  # round-robin: four clusters of each intent
    for example in examples:
        sentences = [line.split(". ", 1)[1] for line in example.messages[-1][1].splitlines() if line[:1].isdigit()]
        assert example.messages == namer_messages(sentences, few_shot=False) and 5 <= len(sentences) <= 20
        assert example.ends_turn and NAME_PATTERN.fullmatch(example.answer)
    with pytest.raises(ValueError, match="at least 5 distinct intents"):
        labelled_name_examples(texts[:60], vectors[:60], ["a", "b"] * 30, {"a": "check-a", "b": "check-b"}, n=10)


def test_too_few_or_malformed_names_are_refused_before_training(tmp_path):
    few = [ChatExample(namer_messages(["a"]), "check-balance", ends_turn=True)] * (MIN_EXAMPLES - 1)
    with pytest.raises(ValueError, match=f"too few to teach the LLM namer: at least {MIN_EXAMPLES}"):
        tune_namer([Source("analyst", "w", few, {})], tmp_path / "llm-namer-1.gguf", "en")
    malformed = [ChatExample(namer_messages(["a"]), "Balance please", ends_turn=True)] * MIN_EXAMPLES
    with pytest.raises(ValueError, match="not action-objective names, e.g. 'Balance please'"):
        tune_namer([Source("analyst", "w", malformed, {})], tmp_path / "llm-namer-1.gguf", "en")
    assert not list(tmp_path.iterdir())


def test_tuned_namer_names_resolve_or_are_refused_with_the_reason(tmp_path):
    workspace = tmp_path / "w.duckdb"
    assert tuned_namer(workspace, "none") is None
    with pytest.raises(ValueError, match="unknown tuned LLM namer 'mine'"):
        tuned_namer(workspace, "mine")
    with pytest.raises(ValueError, match="no tuned LLM namer 'llm-namer-2' beside workspace"):
        tuned_namer(workspace, "llm-namer-2")
    assert next_namer_path(workspace) == tmp_path / "namers" / "llm-namer-1.gguf"
    with pytest.raises(ValueError, match="adapter of the local model"):
        RunConfig(llm="openai", llm_namer="llm-namer-1")


def test_a_namer_taught_in_one_language_leaves_the_others_to_the_untuned_model(tmp_path, banking77_subset):
    """Control flow with scripted models: a run names English clusters with the tuned namer's zero-shot prompt
    within the run's one budget; a Chinese data set is named by the untuned model with its examples."""
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.methods.dialin import run_dialin
    from tests.conftest import SMP2019

    tuned = ScriptedLLM(lambda r: ChatResponse(text="check-card_arrival", prompt_tokens=1, completion_tokens=1))
    plain = ScriptedLLM(lambda r: ChatResponse(text="查询-余额", prompt_tokens=1, completion_tokens=1))
    pd.read_csv(SMP2019).sample(300, random_state=0).to_csv(tmp_path / "zh.csv", index=False)
    config = RunConfig(judge="cohesion", max_llm_calls=3, with_map=False)
    with Store(tmp_path / "w.duckdb") as store:
        english = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        chinese = ingest_file(store, tmp_path / "zh.csv", ColumnMapping(text="text", label="label"))
        cohesion = build_tools(store, replace(config, llm="none"))
        plain_llm = CachedLLM(plain, store)
        tools = replace(cohesion, llm=plain_llm, namer_llm=CachedLLM(tuned, store, counts=plain_llm.counts), namer_language="en")
        result = run_dialin(store, english, config, tools=tools)
        names = result.clusters.sort_values("size", ascending=False)["name"].tolist()
        assert names[:3] == ["check-card_arrival", "check-card_arrival_2", "check-card_arrival_3"]
        assert len(tuned.requests) == 3 and not plain.requests and result.summary["llm_calls"] == 3
        assert [role for role, _ in tuned.requests[0].messages] == ["system", "user"]  # zero-shot: no examples
        fresh = CachedLLM(plain, store)  # a run's budget counts from zero
        zh_tools = replace(build_tools(store, replace(config, llm="none", embedder="multilingual-e5-small")), llm=fresh,
                           namer_llm=CachedLLM(tuned, store, counts=fresh.counts), namer_language="en")
        result = run_dialin(store, chinese, replace(config, embedder="multilingual-e5-small"), tools=zh_tools)
        assert "查询-余额" in result.clusters["name"].tolist() and len(tuned.requests) == 3 and len(plain.requests) == 3
        assert len(plain.requests[0].messages) > 2  # the untuned model keeps the prompt's examples


@pytest.fixture(scope="module")
def taught(tmp_path_factory, labelled):
    """`fine-tune-namer` on clusters of 10 BANKING77 intents: 40 examples, verbs chosen by the real model, a
    learning rate high enough that a few steps move the model visibly."""
    folder = tmp_path_factory.mktemp("namer")
    texts, _, gold = labelled
    pd.DataFrame({"text": texts, "label": gold}).to_csv(folder / "labelled.csv", index=False)
    workspace = folder / "w.duckdb"
    assert main(["fine-tune-namer", "--labelled", str(folder / "labelled.csv"), "--examples", "40", "--start-from", "none",
                 "--learning-rate", "2e-3", "--workspace", str(workspace)]) == 0
    return workspace


def test_fine_tune_namer_keeps_the_adapter_and_its_record_beside_the_workspace(taught):
    adapter = offered_namers(taught)["llm-namer-1"]
    assert adapter.path == taught.parent / "namers" / "llm-namer-1.gguf" and adapter.language == "en"
    record = json.loads(adapter.path.with_suffix(".json").read_text())
    (source,) = record["sources"]
    assert source["kind"] == "labelled" and source["examples"] == 40 and source["intents"] == 10
    assert all(NAME_PATTERN.fullmatch(n) for n in source["names"].values()) and len(set(source["names"].values())) == 10
    assert source["names"]["activate_my_card"] == "activate-card"  # the label's own verb
    assert record["task"] == "namer" and record["taught"] == 40 and record["seconds"] > 0
    assert read_adapter(adapter.path).record == record


def test_the_taught_namer_says_the_taught_names_more_readily(taught, labelled):
    """The held-out scorer's measure on a taught example: the answer's loss with the adapter is below the
    loss without it."""
    texts, vectors, gold = labelled
    names = json.loads((taught.parent / "namers" / "llm-namer-1.json").read_text())["sources"][0]["names"]
    examples, _ = labelled_name_examples(texts, vectors, gold, names, n=10, seed=0)
    in_torch = load_adapter(taught.parent / "namers" / "llm-namer-1.gguf")
    tuned = np.mean([in_torch.answer_loss(e) for e in examples[:4]])
    untuned = np.mean([in_torch.answer_loss(e, adapted=False) for e in examples[:4]])
    assert tuned < untuned - 0.2, (tuned, untuned)


def test_a_run_names_with_the_workspace_namer_through_llama_cpp(taught, banking77_subset):
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.methods.dialin import run_dialin

    with Store(taught) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        config = replace(RunConfig(), judge="cohesion", llm_namer="llm-namer-1", max_llm_calls=4, with_map=False)
        assert namer_adapter(store, config).name == "llm-namer-1"
        tools = build_tools(store, config)
        assert "+llm-namer-1-" in tools.namer_llm.backend.model and tools.namer_llm.counts is tools.llm.counts
        result = run_dialin(store, dataset_id, config, tools=tools)
        assert result.summary["llm_namer_model"].startswith("qwen2.5-coder-0.5b-instruct-q4_k_m+llm-namer-1-")
        largest = result.clusters[result.clusters["cluster_id"] >= 0].sort_values("size", ascending=False)["name"].head(4)
        assert result.summary["llm_calls"] == 4 and all(NAME_PATTERN.fullmatch(n) for n in largest)  # the four the LLM named
        with pytest.raises(ValueError, match="no tuned LLM namer 'llm-namer-9'"):
            create_dialin_run(store, dataset_id, replace(config, llm_namer="llm-namer-9"))


def test_the_namer_page_teaches_the_llm_namer_the_analysts_names_in_the_worker(tmp_path, banking77_subset):
    """22 k-means clusters renamed by the analyst for their majority intent, taught on the Namer page: the training
    runs in the run worker, continues the shipped namer when one is installed, is kept as llm-namer-1, and is then
    offered as the LLM namer on the Discover page."""
    from collections import Counter

    from dialin_core.curation.review import rename
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.methods import jobs
    from dialin_core.methods.baselines import run_discovery
    from tests.test_studio import labelled as widget, open_app

    workspace = tmp_path / "w.duckdb"
    with Store(workspace) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        result = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=24, with_map=False))
        gold = store.utterances(dataset_id).set_index("utterance_id")["gold_label"]
        for i, (cluster_id, members) in enumerate(result.assignments.groupby("cluster_id")["utterance_id"]):
            if i < 22:
                verb, objective = gold_objective(Counter(gold[members]).most_common(1)[0][0])
                # unique names the namer's grammar can say: at most three words of the objective and a tag
                objective = "_".join(objective.split("_")[:3])
                rename(store, result.run_id, "ana", int(cluster_id), f"{verb or 'inquire'}-{objective}_{'abcdefghijklmnopqrstuv'[i] * 2}")
    app = open_app(workspace)
    app.switch_page("pages/namer.py").run()
    assert not app.exception, app.exception
    assert any("22 clusters carry a name you gave, in 1 run." in c.value for c in app.caption)
    widget(app.button, "Teach the LLM namer these names").click().run()
    assert not app.exception, app.exception
    tuning = jobs.llm_tuning(workspace, "namer")
    assert tuning.name == "llm-namer-1"
    tuning.thread.join(900)
    assert tuning.error is None, tuning.error
    assert tuning.result["sources"][0]["kind"] == "analyst" and tuning.result["sources"][0]["examples"] == 22
    assert tuning.result["language"] == "en" and tuning.done == tuning.total == 22
    app.run()
    assert not app.exception, app.exception
    assert any("llm-namer-1 is taught" in s.value for s in app.success)
    app.switch_page("pages/discover.py").run()
    assert any(o.startswith("llm-namer-1 (en names): analyst: 22 named clusters") for o in widget(app.selectbox, "LLM namer (local)").options)
