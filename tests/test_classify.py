"""The multi-turn intent classifier (Building Multi-turn Intent Classification with LLM-based Labeling): context, labelled turns, the model, routing, the CLI.

Unit tests use hand-made dialogues and a scripted LLM; the model tests use the real MiniLM embedder on
a few dialogues; the end-to-end tests train and evaluate through the CLI on 150 real SGD dialogues, and
one of them routes a few unsure turns to the real local LLM.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dialin_core.classify.data import (
    ContextTurn,
    Dialogue,
    DialogueTurn,
    LabelCoverage,
    active_intents,
    append_turn,
    dialogues_from_file,
    dialogues_from_run,
    label_coverage,
    labelled_turns,
    recent_context,
    render_context,
    split_dialogues,
)
from dialin_core.classify.encoder import Int8Encoder
from dialin_core.classify.evaluate import label_scores, stream_dialogues
from dialin_core.classify.model import ClassifierSettings, IntentClassifier, Prediction, pooled
from dialin_core.classify.routing import (
    HybridRouter,
    LLMChooser,
    accuracy_coverage_curve,
    routing_report,
    top_k_recall,
)
from dialin_core.config import RunConfig
from dialin_core.curation import review
from dialin_core.data.datasets import ingest_file
from dialin_core.data.store import Store
from dialin_core.llm.base import ChatResponse
from dialin_core.llm.chat import choice_grammar
from dialin_core.methods.baselines import run_discovery
from tests.conftest import REPO, SGD_SAMPLE
from tests.fakes import ScriptedLLM

BOOKING = Dialogue("d1", (
    DialogueTurn(0, "customer", "I need a table for tonight", ("ReserveRestaurant",)),
    DialogueTurn(1, "agent", "Which restaurant?", ()),
    DialogueTurn(2, "agent", "We have Nopa and Zuni.", ()),
    DialogueTurn(3, "customer", "Zuni please", ("ReserveRestaurant",)),
    DialogueTurn(4, "customer", "for 4 people", ("ReserveRestaurant",)),
    DialogueTurn(5, "agent", "Booked. Anything else?", ()),
    DialogueTurn(6, "customer", "Also get me a cab there", ("ReserveRestaurant", "GetRide")),
    DialogueTurn(7, "customer", "thanks, bye", ()),
))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dialin_core", *args], cwd=REPO, capture_output=True, text=True)


# -- context and labelled turns ------------------------------------------------------------------------------


def test_consecutive_turns_of_one_speaker_merge_into_one_unit():
    history = ()
    for speaker, text in [("agent", "Which restaurant?"), ("agent", "We have Nopa and Zuni."), ("customer", "Zuni")]:
        history = append_turn(history, speaker, text)
    assert history == (ContextTurn("agent", "Which restaurant? We have Nopa and Zuni."), ContextTurn("customer", "Zuni"))


def test_turns_of_an_unknown_speaker_are_never_merged():
    assert len(append_turn(append_turn((), "", "line one"), "", "line two")) == 2


def test_each_labelled_turn_carries_the_merged_history_before_it():
    examples = labelled_turns([BOOKING])
    assert [e.turn_index for e in examples] == [0, 3, 4, 6]  # "thanks, bye" has no intent: not an example
    assert examples[0].context == ()
    assert examples[1].context == (
        ContextTurn("customer", "I need a table for tonight"), ContextTurn("agent", "Which restaurant? We have Nopa and Zuni.")
    )
    assert examples[2].context[-1] == ContextTurn("customer", "Zuni please")  # the customer's own last message
    assert examples[3].gold == ("ReserveRestaurant", "GetRide")
    assert recent_context(examples[3].context, 2) == (
        ContextTurn("customer", "Zuni please for 4 people"), ContextTurn("agent", "Booked. Anything else?")
    )
    assert recent_context(examples[3].context, 0) == ()


def test_context_is_rendered_for_an_llm_one_speaker_line_per_unit():
    context = (ContextTurn("customer", "a table please"), ContextTurn("agent", "Which restaurant?"))
    assert render_context(context) == "customer: a table please\nagent: Which restaurant?"
    assert render_context(()) == "(start of the dialogue)"


def test_a_dialogue_file_keeps_every_active_intent_with_ingest_numbering(tmp_path):
    path = tmp_path / "d.jsonl"
    dialogues = [
        {"dialogue_id": "a", "turns": [
            {"speaker": "USER", "utterance": "find a movie and a cab", "active_intents": ["FindMovies", "GetRide"]},
            {"speaker": "SYSTEM", "utterance": "   ", "active_intents": []},  # blank: ingest skips it
            {"speaker": "SYSTEM", "utterance": "Which city?", "active_intents": []},
            {"speaker": "USER", "utterance": "SF", "intent": "FindMovies", "active_intents": ["GetRide"]},  # "intent" wins
        ]},
        {"turns": [{"speaker": "USER", "utterance": "weather?", "active_intents": ["GetWeather"]}]},
    ]
    path.write_text("\n".join(json.dumps(d) for d in dialogues) + "\n")
    assert active_intents(path) == {
        ("a", 0): ("FindMovies", "GetRide"), ("a", 1): (), ("a", 2): ("FindMovies",), ("line-2", 0): ("GetWeather",),
    }
    first = dialogues_from_file(path)[0]
    assert [(t.speaker, t.text, t.gold) for t in first.turns] == [
        ("customer", "find a movie and a cab", ("FindMovies", "GetRide")), ("agent", "Which city?", ()), ("customer", "SF", ("FindMovies",)),
    ]


def test_a_file_without_intents_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "plain.jsonl"
    path.write_text(json.dumps({"turns": [{"speaker": "USER", "utterance": "hello"}]}) + "\n")
    with pytest.raises(ValueError, match="no turn has an intent"):
        dialogues_from_file(path)


def test_dialogues_split_whole_and_reproducibly():
    dialogues = [Dialogue(f"d{i}", ()) for i in range(10)]
    train, test = split_dialogues(dialogues, 0.2, seed=3)
    assert len(test) == 2 and {d.dialogue_id for d in train} | {d.dialogue_id for d in test} == {f"d{i}" for i in range(10)}
    assert split_dialogues(dialogues, 0.2, seed=3) == (train, test)


def test_a_reviewed_run_labels_customer_turns_with_the_analysts_intents(tmp_path):
    path = tmp_path / "calls.jsonl"
    lines = []
    for i in range(6):
        balance, card = (f"what is my balance on account {i}", f"please block my card number {i}")
        lines.append(json.dumps({"dialogue_id": f"c{i}", "turns": [
            {"speaker": "agent", "utterance": "Hello, how can I help?"},
            {"speaker": "customer", "utterance": balance if i % 2 else card},
            {"speaker": "agent", "utterance": "Sure, one moment."},
            {"speaker": "customer", "utterance": f"thanks a lot {i}"},
        ]}))
    path.write_text("\n".join(lines) + "\n")
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, path)
        run_id = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=2, with_map=False)).run_id
        ids = dict(zip(store.utterances(dataset_id)["text"], store.utterances(dataset_id)["utterance_id"]))
        engine_clusters = store.clusters(run_id)["cluster_id"].tolist()
        review.new_cluster(store, run_id, "ana", [u for t, u in ids.items() if "balance" in t], "check-balance")
        review.new_cluster(store, run_id, "ana", [u for t, u in ids.items() if "block" in t or "Hello" in t], "block-card")
        review.set_verdict(store, run_id, "ana", engine_clusters, "bad")  # what is left there ("thanks") is no label
        dialogues = dialogues_from_run(store, run_id)
        coverage = label_coverage(store, run_id)
    # distinct utterances: the 6 balance or card questions and the one greeting (said six times) are labelled; the
    # 6 "thanks" and the agent's one "Sure, one moment." stayed in the clusters judged bad and are left out
    assert coverage == LabelCoverage(labelled=7, in_bad_clusters=7, unassigned=0)
    assert coverage.sentence().startswith("7 of 14 distinct utterances carry an intent")
    by_id = {d.dialogue_id: d for d in dialogues}
    assert [(t.speaker, t.gold) for t in by_id["c1"].turns] == [
        ("agent", ()), ("customer", ("check-balance",)), ("agent", ()), ("customer", ()),  # agent turns stay context
    ]
    (example,) = labelled_turns([by_id["c2"]])
    assert example.gold == ("block-card",) and example.context == (ContextTurn("agent", "Hello, how can I help?"),)


# -- the model -------------------------------------------------------------------------------------------------


def test_the_int8_encoder_gives_a_text_one_vector_and_keeps_meaning():
    encoder = Int8Encoder("all-minilm-l6-v2")
    texts = ["book a table for two tonight", "reserve a restaurant for 2 this evening", "what's the weather in Paris"]
    together = encoder.encode(texts)
    np.testing.assert_array_equal(together[1], encoder.encode([texts[1]])[0])  # alone or not: the same vector
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    assert together[0] @ together[1] > together[0] @ together[2] + 0.3
    assert encoder.name == "all-minilm-l6-v2+int8"


def test_context_pools_weight_the_latest_unit_most():
    older, newer = np.array([1.0, 0.0], dtype=np.float32), np.array([0.0, 1.0], dtype=np.float32)
    np.testing.assert_allclose(pooled([older, newer], 0.5, 2), [1 / 3, 2 / 3])
    np.testing.assert_allclose(pooled([], 0.5, 2), [0.0, 0.0])


@pytest.fixture(scope="module")
def sgd_dialogues(tmp_path_factory) -> tuple[Path, Path]:
    """The first 150 SGD dialogues: every fifth held out (30), the rest to train on. The file is grouped
    by service, so a split by position would hold out intents never seen in training."""
    folder = tmp_path_factory.mktemp("sgd")
    lines = SGD_SAMPLE.read_text(encoding="utf-8").splitlines()[:150]
    (folder / "train.jsonl").write_text("\n".join(l for i, l in enumerate(lines) if i % 5) + "\n", encoding="utf-8")
    (folder / "test.jsonl").write_text("\n".join(l for i, l in enumerate(lines) if not i % 5) + "\n", encoding="utf-8")
    return folder / "train.jsonl", folder / "test.jsonl"


@pytest.fixture(scope="module")
def small_model(sgd_dialogues) -> IntentClassifier:
    """A context model on 30 SGD dialogues (real MiniLM): enough intents to test mechanics, seconds to fit."""
    dialogues = dialogues_from_file(sgd_dialogues[0])[:30]
    return IntentClassifier(ClassifierSettings()).fit(labelled_turns(dialogues))


def test_a_saved_model_predicts_exactly_as_before(small_model, sgd_dialogues, tmp_path):
    examples = labelled_turns(dialogues_from_file(sgd_dialogues[1])[:5])
    small_model.save(tmp_path / "model")
    loaded = IntentClassifier.load(tmp_path / "model")
    assert loaded.labels_ == small_model.labels_ and loaded.settings == small_model.settings
    np.testing.assert_array_equal(loaded.predict_proba(examples), small_model.predict_proba(examples))
    meta = json.loads((tmp_path / "model" / "classifier.json").read_text())
    assert meta["settings"]["embedder"] == "all-minilm-l6-v2" and meta["settings"]["quantized"] is True
    assert meta["settings"]["use_context"] is True


def test_a_live_session_predicts_what_the_batch_path_predicts(small_model, sgd_dialogues):
    dialogues = dialogues_from_file(sgd_dialogues[1])[:3]
    batch = small_model.predict(labelled_turns(dialogues), k=3)
    live = stream_dialogues(small_model, dialogues, k=3).turns
    assert [t.prediction.labels for t in live] == [p.labels for p in batch]
    np.testing.assert_allclose([t.prediction.probabilities for t in live], [p.probabilities for p in batch], atol=1e-4)


def test_a_live_session_embeds_each_turn_once():
    class Counting:
        name = "counting"
        seen: list[str] = []

        def encode(self, texts):
            self.seen.extend(texts)
            return np.stack([np.random.default_rng(len(t)).normal(size=4).astype(np.float32) for t in texts])

    embedder = Counting()
    examples = labelled_turns([BOOKING])
    model = IntentClassifier(ClassifierSettings(embedder="counting"), embedder).fit(examples)
    embedder.seen.clear()
    session = model.session()
    for turn in BOOKING.turns:
        if turn.gold:
            session.classify(turn.speaker, turn.text)
        else:
            session.observe(turn.speaker, turn.text)
    assert len(embedder.seen) == len(set(embedder.seen))  # no text twice
    assert embedder.seen == [
        "I need a table for tonight",
        "Which restaurant?", "Which restaurant? We have Nopa and Zuni.",  # the agent's turns as they arrive, merged
        "Zuni please", "for 4 people",
        "Zuni please for 4 people", "Booked. Anything else?",  # a merged unit once, when it is next needed as context
        "Also get me a cab there", "Also get me a cab there thanks, bye",
    ]


def test_a_model_folder_from_elsewhere_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="not a classifier folder"):
        IntentClassifier.load(tmp_path)


# -- routing arithmetic -------------------------------------------------------------------------------------------

UNSURE = Prediction(("FindMovies", "GetTimesForMovie", "BuyMovieTickets"), (0.5, 0.3, 0.1))
SURE = Prediction(("GetRide", "FindMovies", "GetWeather"), (0.9, 0.05, 0.02))
CONTEXT = (ContextTurn("agent", "Which movie?"),)


def answering(text: str) -> ScriptedLLM:
    return ScriptedLLM(lambda _: ChatResponse(text=text))


def test_a_confident_turn_never_reaches_the_llm():
    llm = answering("FindMovies")
    routed = HybridRouter(LLMChooser(llm), tau=0.7).route(SURE, CONTEXT, "customer", "a cab please")
    assert (routed.label, routed.path, llm.requests) == ("GetRide", "classifier", [])


def test_an_unsure_turn_goes_to_the_llm_constrained_to_the_top_k():
    llm = answering("GetTimesForMovie")
    routed = HybridRouter(LLMChooser(llm), tau=0.7, top_k=2).route(UNSURE, CONTEXT, "customer", "when is it on?")
    assert (routed.label, routed.path) == ("GetTimesForMovie", "llm")
    (request,) = llm.requests
    assert request.grammar == 'root ::= "FindMovies" | "GetTimesForMovie"' == choice_grammar(UNSURE.labels[:2])
    assert "agent: Which movie?" in request.messages[-1][1] and "customer: when is it on?" in request.messages[-1][1]
    assert "1. FindMovies\n2. GetTimesForMovie" in request.messages[-1][1] and "BuyMovieTickets" not in request.messages[-1][1]


def test_the_llm_budget_caps_calls_and_an_off_list_answer_keeps_the_classifier():
    llm = answering("Something else")
    router = HybridRouter(LLMChooser(llm), tau=0.7, max_llm_calls=1)
    first, second = (router.route(UNSURE, CONTEXT, "customer", "hm") for _ in range(2))
    assert (first.path, first.label) == ("llm_off_list", "FindMovies")
    assert (second.path, second.label, len(llm.requests)) == ("over_budget", "FindMovies", 1)


def test_grammar_literals_are_escaped():
    assert choice_grammar(['say "hi"', "a\\b"]) == r'root ::= "say \"hi\"" | "a\\b"'


def test_accuracy_coverage_curve_counts_kept_and_deferred_turns():
    curve = accuracy_coverage_curve(np.array([0.95, 0.8, 0.6, 0.3]), np.array([True, True, False, True]), [0.0, 0.7, 0.99])
    assert curve[0] == {"tau": 0.0, "coverage": 1.0, "accuracy_kept": 0.75, "accuracy_deferred": None}
    assert curve[1] == {"tau": 0.7, "coverage": 0.5, "accuracy_kept": 1.0, "accuracy_deferred": 0.5}
    assert curve[2] == {"tau": 0.99, "coverage": 0.0, "accuracy_kept": None, "accuracy_deferred": 0.75}


def test_routing_report_gives_each_path_its_share_and_accuracy():
    llm = answering("GetTimesForMovie")
    router = HybridRouter(LLMChooser(llm), tau=0.7)
    routed = [router.route(p, CONTEXT, "customer", "x") for p in (SURE, UNSURE, UNSURE, SURE)]
    gold = [("GetRide",), ("GetTimesForMovie",), ("FindMovies",), ("GetWeather",)]
    report = routing_report(routed, gold)
    assert report["classifier"] == {"n": 2, "share": 0.5, "accuracy": 0.5}
    assert report["llm"] == {"n": 2, "share": 0.5, "accuracy": 0.5}
    assert report["over_budget"] == {"n": 0, "share": 0.0, "accuracy": None}
    assert top_k_recall([UNSURE, SURE], [("BuyMovieTickets",), ("PlaySong",)], k=3) == 0.5


def test_a_label_among_the_active_intents_counts_as_right_for_accuracy_and_f1():
    scores = label_scores(["GetRide", "FindMovies"], [("FindMovies", "GetRide"), ("FindMovies",)])
    assert scores == {"accuracy": 1.0, "macro_f1": 1.0}
    assert label_scores(["GetRide"], [("FindMovies",)])["accuracy"] == 0.0


# -- end to end, through the CLI --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(sgd_dialogues, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("classifier") / "model"
    result = run_cli("classify-train", str(sgd_dialogues[0]), "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dialogues"] == 120 and summary["use_context"] and summary["intents"] > 10
    return out


def test_classify_eval_on_held_out_sgd_dialogues_is_far_above_chance(trained, sgd_dialogues):
    result = run_cli("classify-eval", str(trained), str(sgd_dialogues[1]))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_dialogues"] == 30 and report["n_turns"] > 150
    assert report["accuracy"] > 0.7  # chance is ~1/20 intents
    assert 0 < report["macro_f1"] <= 1 and report["coverage"] == {"classifier": 1.0}
    assert set(report["latency_ms"]) == {"p50", "p90", "p99", "mean"}
    kept = next(row for row in report["tau_curve"] if row["tau"] == 0.7)
    assert kept["accuracy_kept"] >= report["accuracy"]  # the confident share is the more accurate one


def test_classify_train_learns_a_reviewed_run_from_its_workspace(tmp_path):
    workspace, head = tmp_path / "w.duckdb", tmp_path / "head.jsonl"
    head.write_text("\n".join(SGD_SAMPLE.read_text(encoding="utf-8").splitlines()[:40]) + "\n", encoding="utf-8")
    with Store(workspace) as store:
        dataset_id = ingest_file(store, head)
        run_id = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=12, with_map=False, roles=("customer",))).run_id
        named = store.clusters(run_id)["cluster_id"].tolist()[:6]
        for n, cluster_id in enumerate(named):
            review.rename(store, run_id, "ana", cluster_id, f"inquire-topic{n}")
        review.set_verdict(store, run_id, "ana", store.clusters(run_id)["cluster_id"].tolist()[6:], "bad")
    out = tmp_path / "model"
    result = run_cli("classify-train", "--workspace", str(workspace), "--run", str(run_id), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["intents"] == 6
    assert set(IntentClassifier.load(out).labels_) == {f"inquire-topic{n}" for n in range(6)}


def test_classify_train_needs_a_file_or_a_run(tmp_path):
    result = run_cli("classify-train", "--out", str(tmp_path / "m"))
    assert result.returncode == 2 and "either a dialogue file or --run" in result.stderr


def test_hybrid_eval_with_the_real_local_llm_answers_within_the_top_k(trained, sgd_dialogues, tmp_path):
    predictions = tmp_path / "predictions.jsonl"
    result = run_cli(
        "classify-eval", str(trained), str(sgd_dialogues[1]), "--hybrid", "--llm", "local", "--tau", "0.9",
        "--max-llm-calls", "4", "--predictions", str(predictions),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["llm"]["calls"] == 4 and report["paths"]["llm_off_list"]["n"] == 0
    assert sum(report["coverage"].values()) == pytest.approx(1.0)
    asked = [json.loads(line) for line in predictions.read_text().splitlines()]
    asked = [row for row in asked if row["path"] == "llm"]
    assert len(asked) == 4
    assert all(row["label"] in [label for label, _ in row["top_k"]] for row in asked)
