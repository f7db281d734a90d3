"""Labelgen (Text Clustering as Classification with LLMs): label generation, merge, classification, the stored run and the combined mode.

Control flow runs on a scripted LLM; the last test runs the packaged local model end to end.
"""

import math
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from dialin_core.cli import main
from dialin_core.config import RunConfig
from dialin_core.curation.review import UNASSIGNED, move, review_state, set_status
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.store import Store
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import load_embedder
from dialin_core.llm.base import ChatRequest, ChatResponse
from dialin_core.methods.dialin import run_dialin
from dialin_core.methods.label_generation import (
    LabelgenSettings,
    classify,
    generate_labels,
    label_prototypes,
    merge_labels,
    numbered_lines,
    refine_prototypes,
)
from dialin_core.methods.labelgen import approved_names, complete_labelgen_run, create_leftover_run, run_labelgen
from dialin_core.naming.names import name_as_text, validate_intent_name
from tests.conftest import BANKING77_TEST
from tests.fakes import ScriptedLLM

KEYWORD_LABELS = (("refund", "request-refund"), ("top", "inquire-top_up"), ("card", "inquire-card"), ("", "inquire-account"))
UTTERANCE = re.compile(r"^\d+\. (.*)$", re.MULTILINE)
CANDIDATES = re.compile(r"^   candidates: (.*)$", re.MULTILINE)


def keyword_label(text: str) -> str:
    return next(label for word, label in KEYWORD_LABELS if word in text.lower())


def scripted_answer(request: ChatRequest) -> ChatResponse:
    """Generation: a keyword label per numbered utterance. Classification: the first candidate."""
    system, user = request.messages[0][1], request.messages[-1][1]
    if system.startswith("You label"):
        lines = [f"{i}. {keyword_label(text)}" for i, text in enumerate(UTTERANCE.findall(user), 1)]
    else:
        lines = [f"{i}. {c.split(', ')[0]}" for i, c in enumerate(CANDIDATES.findall(user), 1)]
    return ChatResponse(text="\n".join(lines), prompt_tokens=100, completion_tokens=8 * len(lines))


@pytest.fixture(scope="module")
def embedder():
    return load_embedder()


def test_numbered_lines_read_one_label_per_number_and_ignore_the_rest():
    assert numbered_lines("1. inquire-balance\nnoise\n2) 'report-lost_card'\n1. again") == {1: "inquire-balance", 2: "report-lost_card"}


def test_generation_labels_every_utterance_in_mini_batches_with_the_examples_shown():
    texts = [f"question {i} about my card" for i in range(40)]
    llm = ScriptedLLM(lambda r: ChatResponse(text="\n".join(f"{i}. inquire-card" if i != 3 else f"{i}. not a name" for i in range(1, 16))))
    proposed = generate_labels(llm, texts, LabelgenSettings(batch_size=15), examples=["inquire-balance"])
    assert len(llm.requests) == 3  # ceil(40 / 15)
    grammars = [r.grammar for r in llm.requests]
    assert [g.count(" ::= name") for g in grammars] == [15, 15, 10]  # one constrained name per utterance of the batch
    assert all("inquire-balance" in r.messages[0][1] for r in llm.requests)
    assert len(proposed) == 40 - 3 and set(proposed.values()) == {"inquire-card"}  # line 3 of each batch was dropped
    first_batch = UTTERANCE.findall(llm.requests[0].messages[-1][1])
    assert first_batch != texts[:15] and set(first_batch) <= set(texts)  # shuffled


def test_a_label_s_prototype_is_the_mean_of_the_utterances_it_was_proposed_for():
    vectors = np.array([[1, 0, 0], [1, 0.2, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    names = np.array([[0, 0, 1], [0, 1, 0], [0.6, 0.8, 0]])
    prototypes = label_prototypes(vectors, np.array([0, 0, 1, -1]), names)
    assert np.allclose(prototypes[0], np.array([2, 0.2, 0]) / np.linalg.norm([2, 0.2, 0]))
    assert np.allclose(prototypes[1], [0, 1, 0])
    assert np.allclose(prototypes[2], names[2])  # proposed for no utterance: its name stands in


def test_refinement_moves_prototypes_to_their_utterances_and_drops_labels_too_few_take():
    rng = np.random.default_rng(0)
    axes = np.eye(4)
    vectors = np.vstack([axes[i] + rng.normal(0, 0.05, (10, 4)) for i in range(3)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = np.vstack([axes[0] + 0.3 * axes[1], axes[1], axes[2], axes[3]])  # a stray fourth label no utterance is near
    prototypes, kept = refine_prototypes(vectors, start / np.linalg.norm(start, axis=1, keepdims=True), np.zeros(4, bool), 2)
    assert kept.tolist() == [0, 1, 2] and np.allclose(np.diag(prototypes @ axes[:3].T), 1, atol=0.01)
    prototypes, kept = refine_prototypes(vectors, start / np.linalg.norm(start, axis=1, keepdims=True), np.array([0, 0, 0, 1], bool), 2)
    assert kept.tolist() == [0, 1, 2, 3]  # an existing intent is never dropped


def test_small_labels_are_dropped_a_few_at_a_time_so_the_specific_ones_survive_a_generic_one():
    """Five labels share each of three intents and one generic label sits between them. Dropping every
    label under five utterances at once would leave the generic label with all thirty."""
    rng = np.random.default_rng(1)
    axes = np.eye(3)
    vectors = np.vstack([axes[i] + rng.normal(0, 0.1, (10, 3)) for i in range(3)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = np.vstack([vectors[i * 10 : i * 10 + 5] for i in range(3)] + [np.ones((1, 3)) / np.sqrt(3)])
    prototypes, kept = refine_prototypes(vectors, start, np.zeros(len(start), bool), 5)
    nearest = (vectors @ prototypes.T).argmax(axis=1)
    assert len(kept) == 3 and 15 not in kept
    assert [len(set(nearest[i * 10 : i * 10 + 10])) for i in range(3)] == [1, 1, 1] and len(set(nearest)) == 3


def test_near_duplicate_labels_fold_into_the_most_proposed_and_fixed_labels_win(embedder):
    vectors = lambda names: embed_texts([name_as_text(n) for n in names], embedder)  # noqa: E731
    proposed = Counter({"inquire-top_up": 2, "inquire-topup": 5, "report-lost_card": 3})
    merged = merge_labels(proposed, vectors)
    assert merged == {"inquire-top_up": "inquire-topup", "inquire-topup": "inquire-topup", "report-lost_card": "report-lost_card"}
    assert merge_labels(proposed, vectors, fixed=["inquire-top_up"])["inquire-topup"] == "inquire-top_up"


def test_classification_offers_each_utterance_its_nearest_labels_several_per_call():
    labels = ["inquire-a", "inquire-b", "inquire-c", "inquire-d"]
    label_vectors = np.eye(4)
    text_vectors = np.array([[1, 0.5, 0, 0], [0, 1, 0.5, 0], [0, 0, 1, 0.5], [0.5, 0, 0, 1], [1, 0.4, 0, 0]] * 2, dtype=float)
    texts = [f"utterance {i}" for i in range(len(text_vectors))]

    def second_candidate_except_off_list(request: ChatRequest) -> ChatResponse:
        rows = CANDIDATES.findall(request.messages[-1][1])
        return ChatResponse(text="\n".join(f"{i}. {c.split(', ')[1] if i > 1 else 'inquire-zzz'}" for i, c in enumerate(rows, 1)))

    llm = ScriptedLLM(second_candidate_except_off_list)
    result = classify(llm, texts, text_vectors, labels, label_vectors, LabelgenSettings(classify_batch=4, candidate_labels=2, sure_margin=1.0))
    assert len(llm.requests) == 3  # ceil(10 / 4)
    first = llm.requests[0]
    assert "1. utterance 0\n   candidates: inquire-a, inquire-b" in first.messages[-1][1]
    assert 'line1 ::= "inquire-a" | "inquire-b"' in first.grammar and 'line2 ::= "inquire-b" | "inquire-c"' in first.grammar
    assert result.off_list == 3  # the first line of each call named no candidate: its nearest label stands
    assert [labels[i] for i in result.label_index[:5]] == ["inquire-a", "inquire-c", "inquire-d", "inquire-a", "inquire-a"]
    assert result.asked_llm.all()


def test_a_sure_nearest_label_needs_no_llm():
    label_vectors = np.eye(3)
    text_vectors = np.array([[1, 0, 0], [0, 1, 0.9], [0, 0.9, 1], [0, 0, 1]], dtype=float)
    llm = ScriptedLLM(lambda r: ChatResponse(text="1. inquire-c\n2. inquire-b"))
    result = classify(llm, ["w", "x", "y", "z"], text_vectors, ["inquire-a", "inquire-b", "inquire-c"], label_vectors,
                      LabelgenSettings(sure_margin=0.2))
    assert len(llm.requests) == 1 and result.asked_llm.tolist() == [False, True, True, False]
    assert result.label_index.tolist() == [0, 2, 1, 2]


LABELGEN = RunConfig(method="labelgen", with_map=False, sure_margin=1.0)  # the LLM classifies every utterance


def test_a_labelgen_run_is_stored_with_named_clusters_counted_calls_and_metrics(banking, embedder):
    store, dataset_id = banking
    llm = ScriptedLLM(scripted_answer)
    result = run_labelgen(store, dataset_id, LABELGEN, embedder=embedder, backend=llm)
    n = len(store.utterances(dataset_id))
    assert store.run(result.run_id).status == "finished"
    assert [e["kind"] for e in store.events(result.run_id)] == ["labels_generated", "labels_merged", "utterances_classified"]
    clusters = store.clusters(result.run_id)
    assert set(clusters["name"]) <= {label for _, label in KEYWORD_LABELS} and len(clusters) >= 3
    assert clusters["name"].map(validate_intent_name).notna().all() and clusters["size"].sum() == n
    assigned = store.assignments(result.run_id)
    assert len(assigned) == n and (assigned["cluster_id"] >= 0).all()
    summary = result.summary
    assert summary["llm_calls"] == len(llm.requests) == math.ceil(n / 15) + math.ceil(n / 8)
    assert summary["llm_calls_per_utterance"] < 1.5
    assert summary["llm_tokens"] == 100 * summary["llm_calls"] + 8 * 2 * n  # one generated and one chosen line per utterance
    assert set(summary["metrics"]) >= {"acc", "nmi", "ari", "f1"} and summary["n_clusters"] == len(clusters)
    again = run_labelgen(store, dataset_id, LABELGEN, embedder=embedder, backend=llm)
    assert again.summary["llm_counts_this_session"]["calls"] == 0 and len(llm.requests) == summary["llm_calls"]  # all from the cache
    assert again.summary["llm_calls"] == summary["llm_calls"]
    nearest = run_labelgen(store, dataset_id, RunConfig(method="labelgen", with_map=False), embedder=embedder, backend=llm)
    assert nearest.summary["asked_llm"] == 0 and nearest.summary["llm_calls"] == math.ceil(n / 15)  # by default the LLM only proposes
    assert set(store.clusters(nearest.run_id)["name"]) <= {label for _, label in KEYWORD_LABELS}


def test_labelgen_refuses_to_run_without_an_llm(tmp_path, capsys):
    with pytest.raises(ValueError, match="labelgen method has an LLM"):
        RunConfig(method="labelgen", llm="none", judge="cohesion")
    with pytest.raises(ValueError, match="needs no k"):
        RunConfig(method="labelgen", k=10)
    code = main(["discover", str(BANKING77_TEST), "--out", str(tmp_path / "out"), "--method", "labelgen", "--llm", "none",
                 "--workspace", str(tmp_path / "w.duckdb")])
    assert code == 2 and "choose --llm local or openai" in capsys.readouterr().err


def test_leftovers_of_a_dialin_run_become_new_intents_beside_its_clusters(banking, embedder):
    store, dataset_id = banking
    source = run_dialin(store, dataset_id, RunConfig(llm="none", judge="cohesion", with_map=False, max_iterations=2))
    with pytest.raises(ValueError, match="no leftovers"):
        create_leftover_run(store, source.run_id)
    engine = store.cluster_members(source.run_id)
    move(store, source.run_id, "ana", engine["utterance_id"].iloc[::10].tolist(), UNASSIGNED)  # the analyst took these out
    members = review_state(store, source.run_id).members
    leftovers = set(members.loc[members["cluster_id"] == UNASSIGNED, "utterance_id"])
    assert len(leftovers) == len(engine.iloc[::10])
    first = int(source.clusters["cluster_id"].max())
    set_status(store, source.run_id, "ana", [0], "approved")
    assert approved_names(store, source.run_id) == [source.clusters.set_index("cluster_id").loc[0, "name"]]

    llm = ScriptedLLM(scripted_answer)
    result = complete_labelgen_run(store, create_leftover_run(store, source.run_id, {"llm": "local"}), embedder=embedder, backend=llm)
    after = store.cluster_members(result.run_id).merge(members, on="utterance_id", suffixes=("", "_before"))
    kept = after[~after["utterance_id"].isin(leftovers)]
    assert (kept["cluster_id"] == kept["cluster_id_before"]).all()  # the source run's clusters stand as they were
    moved = after[after["utterance_id"].isin(leftovers)]
    assert (moved["cluster_id"] >= 0).all()
    new_ids = set(moved["cluster_id"]) - set(members["cluster_id"])
    assert new_ids and min(new_ids) > first
    summary = result.summary
    assert summary["leftovers_of"] == source.run_id and summary["n_leftovers"] == len(leftovers)
    assert summary["n_new_intents"] == len(new_ids) and summary["joined_existing"] == len(moved) - moved["cluster_id"].isin(new_ids).sum()
    assert "Labels already in use" in llm.requests[0].messages[0][1]  # the run's intents were shown as labels to reuse
    with pytest.raises(ValueError, match="leftovers come from a finished dialin run"):
        create_leftover_run(store, result.run_id)


def test_the_local_model_labels_and_classifies_a_small_sample(tmp_path, embedder):
    """The packaged 0.5B model end to end on 15 BANKING77 queries of three intents (three calls, ~40 s)."""
    frame = pd.read_csv(BANKING77_TEST)
    intents = ["age_limit", "exchange_rate", "lost_or_stolen_card"]
    sample = frame[frame["category"].isin(intents)].groupby("category").head(5)
    path = tmp_path / "sample.csv"
    sample.to_csv(path, index=False)
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, path, ColumnMapping(text="text", label="category"))
        result = run_labelgen(store, dataset_id, LABELGEN, embedder=embedder)
    summary = result.summary
    assert summary["llm_calls"] == 1 + 2 and summary["llm_counts_this_session"]["completion_tokens"] > 15  # ceil(15/15) + ceil(15/8)
    assert result.clusters["name"].map(validate_intent_name).notna().all()
    assert 2 <= summary["n_clusters"] <= 15 and summary["metrics"]["nmi"] > 0.2
