"""The local LLM taught to judge: examples, the adapter file llama.cpp loads, and a real training on CPU.

The real-model tests train the packaged 0.5B model for a few steps (about two minutes on 2 cores: most of it is
transformers dequantising the GGUF) and check the round trip the product depends on: what the trained model
says in torch is what llama.cpp says with the written adapter.
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dialin_core.cli import main
from dialin_core.config import RunConfig
from dialin_core.data.store import Store
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import load_embedder
from dialin_core.judging.feedback import AnalystLabel
from dialin_core.judging.llm_judge import LLMJudge, judge_messages
from dialin_core.judging.llm_tuning import (
    ANSWERS,
    MIN_EXAMPLES,
    Source,
    analyst_examples,
    labelled_examples,
    next_judge_path,
    read_judge,
    tune_judge,
    tuned_judge,
    workspace_tuned_judges,
)
from dialin_core.llm.lora import load_adapter, read_gguf_adapter, write_gguf_adapter
from dialin_core.methods.dialin import build_tools, create_dialin_run, judge_adapter


def _peft_state(rank: int = 4) -> dict[str, torch.Tensor]:
    """A state dict shaped as peft names a Qwen2 model's adapters (two layers, two projections)."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for layer in (0, 1):
        for module, projection, out_features in (("self_attn", "q_proj", 16), ("mlp", "down_proj", 8)):
            stem = f"base_model.model.model.layers.{layer}.{module}.{projection}"
            state[f"{stem}.lora_A.default.weight"] = torch.randn(rank, 12, generator=generator)
            state[f"{stem}.lora_B.default.weight"] = torch.randn(out_features, rank, generator=generator)
            state[f"{stem}.base_layer.weight"] = torch.randn(out_features, 12, generator=generator)  # not an adapter: left out
    return state


def test_adapter_file_keeps_every_lora_tensor_by_its_llama_cpp_name(tmp_path):
    state = _peft_state()
    write_gguf_adapter(state, tmp_path / "a.gguf", alpha=8.0)
    rank, alpha, tensors = read_gguf_adapter(tmp_path / "a.gguf")
    assert (rank, alpha) == (4, 8.0)
    assert set(tensors) == {f"blk.{layer}.{name}.weight.lora_{half}" for layer in (0, 1) for name in ("attn_q", "ffn_down") for half in "ab"}
    # peft's lora_A (r x in) and lora_B (out x r) are llama.cpp's lora_a and lora_b as they are (float16 on disk)
    np.testing.assert_allclose(tensors["blk.1.attn_q.weight.lora_a"], state["base_model.model.model.layers.1.self_attn.q_proj.lora_A.default.weight"].numpy(), atol=2e-3)
    np.testing.assert_allclose(tensors["blk.0.ffn_down.weight.lora_b"], state["base_model.model.model.layers.0.mlp.down_proj.lora_B.default.weight"].numpy(), atol=2e-3)
    assert not list(tmp_path.glob("*.partial"))


def test_a_state_without_adapters_or_a_file_that_is_not_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no LoRA tensors"):
        write_gguf_adapter({"model.layers.0.self_attn.q_proj.weight": torch.zeros(2, 2)}, tmp_path / "none.gguf", alpha=1.0)
    assert not (tmp_path / "none.gguf").exists()
    from dialin_core.llm.models import resolve_gguf

    with pytest.raises(ValueError, match="not a LoRA adapter"):
        read_gguf_adapter(resolve_gguf("qwen2.5-coder-0.5b-instruct-q4_k_m"))  # a model, not an adapter


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> tuple[list[str], np.ndarray, list[str]]:
    """BANKING77 test queries of 10 intents with MiniLM vectors."""
    from tests.conftest import BANKING77_TEST

    frame = pd.read_csv(BANKING77_TEST)
    frame = frame[frame["category"].isin(sorted(frame["category"].unique())[:10])]
    texts = frame["text"].tolist()
    return texts, embed_texts(texts, load_embedder("all-minilm-l6-v2")), frame["category"].tolist()


def test_labelled_examples_are_half_good_and_ask_what_the_loop_asks(labelled):
    texts, vectors, gold = labelled
    examples, kinds = labelled_examples(texts, vectors, gold, n=40, seed=0)
    assert len(examples) == 40 and sum(e.answer == "Good" for e in examples) == 20
    assert {e.answer for e in examples} == set(ANSWERS)
    assert sum(kinds.values()) == 40 and any(k.startswith("ward") for k in kinds)
    for example in examples:  # the judge's own prompt, with at most the loop's 20 sentences
        sentences = [line.split(". ", 1)[1] for line in example.messages[-1][1].splitlines() if line[:1].isdigit()]
        assert example.messages == judge_messages(sentences) and 5 <= len(sentences) <= 20
        assert set(sentences) <= set(texts)
    with pytest.raises(ValueError, match="at least 5 distinct intents"):
        labelled_examples(texts[:60], vectors[:60], ["a", "b"] * 30, n=10)


def test_analyst_examples_are_their_verdicts_and_too_few_are_refused(tmp_path):
    labels = [AnalystLabel(1, c, c % 2 == 0, np.zeros(3), (f"sentence {c}", f"another {c}")) for c in range(6)]
    examples = analyst_examples(labels)
    assert [e.answer for e in examples] == ["Good", "Bad"] * 3
    assert examples[1].messages == judge_messages(["sentence 1", "another 1"])
    with pytest.raises(ValueError, match=f"too few to teach the LLM judge: at least {MIN_EXAMPLES}"):
        tune_judge([Source("analyst", "w", examples, {})], tmp_path / "llm-judge-1.gguf", "en")
    assert not list(tmp_path.iterdir())


def test_tuned_judge_names_resolve_or_are_refused_with_the_reason(tmp_path):
    workspace = tmp_path / "w.duckdb"
    assert tuned_judge(workspace, "none") is None
    with pytest.raises(ValueError, match="unknown tuned LLM judge 'mine'"):
        tuned_judge(workspace, "mine")
    with pytest.raises(ValueError, match="no tuned LLM judge 'llm-judge-3' beside workspace"):
        tuned_judge(workspace, "llm-judge-3")
    assert next_judge_path(workspace) == tmp_path / "judges" / "llm-judge-1.gguf"
    (tmp_path / "judges").mkdir()
    (tmp_path / "judges" / "llm-judge-4.gguf.partial").write_bytes(b"")  # a killed training's file still takes its number
    assert next_judge_path(workspace).name == "llm-judge-5.gguf"
    assert workspace_tuned_judges(workspace) == []
    with pytest.raises(ValueError, match="adapter of the local model"):
        RunConfig(llm="openai", llm_judge="llm-judge-1")


def test_a_run_naming_an_adapter_the_workspace_lacks_is_refused_before_it_is_stored(tmp_path, banking77_subset):
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping

    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        with pytest.raises(ValueError, match="no tuned LLM judge 'llm-judge-2'"):
            create_dialin_run(store, dataset_id, RunConfig(llm_judge="llm-judge-2"))
        assert store.runs().empty
        # the shipped adapter fits the packaged model only: another model judges as it is
        assert judge_adapter(store, RunConfig(llm_judge="shipped", llm_model="/some/other.gguf")) is None
        assert judge_adapter(store, RunConfig(llm_judge="shipped", judge="cohesion", llm="none")) is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory, labelled):
    """`fine-tune-judge` on clusters of 10 BANKING77 intents: 44 examples, of which 4 are held out (too few to
    calibrate), a learning rate high enough that a few steps move the model visibly."""
    folder = tmp_path_factory.mktemp("tuning")
    texts, _, gold = labelled
    pd.DataFrame({"text": texts, "label": gold}).to_csv(folder / "labelled.csv", index=False)
    workspace = folder / "w.duckdb"
    assert main(["fine-tune-judge", "--labelled", str(folder / "labelled.csv"), "--examples", "44", "--start-from", "none",
                 "--learning-rate", "2e-3", "--workspace", str(workspace)]) == 0
    return workspace


def test_fine_tune_judge_keeps_the_adapter_and_its_record_beside_the_workspace(trained):
    (judge,) = workspace_tuned_judges(trained)
    assert judge.name == "llm-judge-1" and judge.path == trained.parent / "judges" / "llm-judge-1.gguf"
    record = json.loads(judge.path.with_suffix(".json").read_text())
    assert record["sources"][0]["kind"] == "labelled" and record["sources"][0]["examples"] == 44
    assert record["sources"][0]["good"] == 22 and record["sources"][0]["intents"] == 10
    assert record["taught"] == 44 and record["held_out"] is None and record["calibration"] is None  # 10% of 44 is below 20
    assert record["examples"] == 44 and record["seconds"] > 0 and record["peak_memory_mb"] > 500
    assert record["settings"]["learning_rate"] == 2e-3 and record["base"] == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert record["language"] == judge.language == "en"  # a run judges English data with it, other languages untuned
    assert judge.calibration == (1.0, 0.0) and "labelled: 44 clusters (22 good)" in judge.describe()
    assert judge.describe().endswith("; judges English (en) data only")
    assert read_judge(judge.path).record == record


def test_llama_cpp_with_the_adapter_says_what_the_trained_model_says(trained, labelled):
    """The served adapter computes what was trained (names, orientation and scale of every tensor), and it moved
    the model: the untuned model answers otherwise."""
    from dialin_core.llm.local_backend import LocalBackend

    texts, vectors, gold = labelled
    judge = tuned_judge(trained, "llm-judge-1")
    tuned = LLMJudge(LocalBackend(adapter=judge.path))
    untuned = LLMJudge(LocalBackend())
    assert LocalBackend(adapter=judge.path).model.startswith("qwen2.5-coder-0.5b-instruct-q4_k_m+llm-judge-1-")
    clusters = [texts[:12], texts[200:212], [texts[i] for i in range(0, 400, 33)]]
    served = np.array([tuned.judge(c).probability_good for c in clusters])
    plain = np.array([untuned.judge(c).probability_good for c in clusters])
    in_torch = load_adapter(judge.path)  # torch, with the adapter read back from the file
    trained_says = np.array([in_torch.first_token_probabilities(judge_messages(c), ANSWERS)[0] for c in clusters])
    np.testing.assert_allclose(served, trained_says, atol=0.03)
    assert np.abs(served - plain).max() > 0.05


def test_a_run_judges_with_the_workspace_adapter_and_its_calibration(trained, banking77_subset):
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping

    with Store(trained) as store:
        ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        tools = build_tools(store, replace(RunConfig(), llm_judge="llm-judge-1"))
        assert "+llm-judge-1-" in tools.judge.llm_judge.llm.backend.model
        assert tools.judge.llm_judge.llm.counts is tools.llm.counts  # the tuned judge's calls count against the run's budget
        assert tools.llm.backend.model == "qwen2.5-coder-0.5b-instruct-q4_k_m"  # names come from the untuned model
        assert (tools.judge.calibration.slope, tools.judge.calibration.centre) == (1.0, 0.0)


def test_the_judge_page_teaches_the_llm_judge_the_analysts_verdicts_in_the_worker(tmp_path, banking77_subset):
    """24 k-means clusters judged by the analyst (good when one intent holds 90% of one), taught on the Judge page:
    the training runs in the run worker, continues the shipped adapter, is kept as llm-judge-1, and is then offered
    as the LLM judge on the Judge and Discover pages."""
    from collections import Counter

    from dialin_core.curation.review import set_verdict
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
        for cluster_id, members in result.assignments.groupby("cluster_id")["utterance_id"]:
            share = Counter(gold[members]).most_common(1)[0][1] / len(members)
            set_verdict(store, result.run_id, "ana", [int(cluster_id)], "good" if share >= 0.9 else "bad")
    app = open_app(workspace)
    app.switch_page("pages/judge.py").run()
    assert not app.exception, app.exception
    widget(app.button, "Teach the LLM judge these verdicts").click().run()
    assert not app.exception, app.exception
    tuning = jobs.llm_tuning(workspace)
    assert tuning.name == "llm-judge-1"
    tuning.thread.join(900)
    assert tuning.error is None, tuning.error
    assert tuning.result["sources"][0]["kind"] == "analyst" and tuning.result["sources"][0]["examples"] == 24
    assert tuning.result["start_from"] == "llm-judge-qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert tuning.result["language"] == "en"  # the language of the data sets the verdicts were given on
    assert tuning.done == tuning.total == 24
    app.run()
    assert not app.exception, app.exception
    assert "llm-judge-1 is taught" in app.success[0].value
    offered = widget(app.selectbox, "LLM judge").options  # as the page shows them: name and what it learnt
    assert any(o.startswith("llm-judge-1: analyst: 24 clusters") for o in offered), offered
    app.switch_page("pages/discover.py").run()
    offered = widget(app.selectbox, "LLM judge (local)").options
    assert "tuned, shipped (BANKING77 train)" in offered and any(o.startswith("llm-judge-1: analyst") for o in offered), offered
