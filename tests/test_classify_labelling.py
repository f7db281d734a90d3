"""LLM labelling with self-critique and the dialogue simulator (Building Multi-turn Intent Classification with LLM-based Labeling, sections 4.1-4.2).

Control flow runs on a scripted LLM; the CLI tests run the real local model on a few turns and check
what a constrained answer guarantees (a taxonomy intent, a kept/revised decision that tells the truth),
not what a 0.5B model happens to think.
"""

import json
import random
import subprocess
import sys

import pytest

from dialin_core.classify.data import (
    Dialogue,
    DialogueTurn,
    dialogue_records,
    dialogues_from_file,
    labelled_turns,
)
from dialin_core.classify.labelling import (
    LLMLabeller,
    Taxonomy,
    label_dialogues,
    labelling_report,
    read_taxonomy,
    taxonomy_of,
)
from dialin_core.classify.simulate import (
    ENDINGS,
    INTENT_CHANGE,
    OPENING,
    DialogueSimulator,
    SimulatorSettings,
    one_line_after,
    plan_dialogue,
    seed_queries,
    simulate_dialogues,
    simulation_report,
)
from dialin_core.curation.export import write_jsonl
from dialin_core.llm.base import ChatRequest, ChatResponse
from tests.conftest import REPO, SGD_SAMPLE
from tests.fakes import ScriptedLLM

TAXONOMY = Taxonomy(("ReserveRestaurant", "GetRide", "FindMovies"), ("book a table", "order a cab", "find a film"))
TALK = Dialogue("t1", (
    DialogueTurn(0, "customer", "I need a table for tonight", ("ReserveRestaurant",)),
    DialogueTurn(1, "agent", "Which restaurant?", ()),
    DialogueTurn(2, "customer", "Zuni, and a cab there", ("GetRide",)),
    DialogueTurn(3, "customer", "thanks", ()),
))


def stage(request: ChatRequest) -> int:
    return 2 if "Stage 1" in request.messages[1][1] else 1


def labeller_answering(stage1: str, stage2: dict | None) -> ScriptedLLM:
    def answer(request: ChatRequest) -> ChatResponse:
        if stage(request) == 1:
            return ChatResponse(json.dumps({"reason": "the turn asks for it", "intent": stage1}))
        return ChatResponse(json.dumps(stage2))
    return ScriptedLLM(answer)


def test_a_taxonomy_renders_numbered_with_definitions_and_refuses_duplicates():
    assert TAXONOMY.render().splitlines()[1] == "2. GetRide - order a cab"
    with pytest.raises(ValueError, match="twice"):
        Taxonomy(("a", "a"))
    with pytest.raises(ValueError, match="at least two"):
        Taxonomy(("a",))


def test_taxonomy_files_are_read_as_lines_with_definitions_or_as_json(tmp_path):
    lines = tmp_path / "t.txt"
    lines.write_text("# intents\nReserveRestaurant: book a table\nGetRide\n", encoding="utf-8")
    assert read_taxonomy(lines) == Taxonomy(("ReserveRestaurant", "GetRide"), ("book a table", ""))
    listed = tmp_path / "t.json"
    listed.write_text('["a", "b"]', encoding="utf-8")
    assert read_taxonomy(listed).labels == ("a", "b")
    with pytest.raises(ValueError, match="cannot read the taxonomy"):
        read_taxonomy(tmp_path / "missing.txt")
    assert taxonomy_of([TALK]).labels == ("ReserveRestaurant", "GetRide")


def test_stage_one_is_constrained_to_the_taxonomy_with_the_reason_first():
    request = LLMLabeller(labeller_answering("GetRide", None), TAXONOMY).stage1_request((), "customer", "a cab")
    schema = request.json_schema
    assert list(schema["properties"]) == ["reason", "intent"] and schema["properties"]["intent"]["enum"] == list(TAXONOMY.labels)
    assert "2. GetRide - order a cab" in request.messages[1][1]


def test_the_critic_can_only_keep_the_stage_one_intent_or_revise_to_another():
    request = LLMLabeller(labeller_answering("GetRide", None), TAXONOMY).stage2_request((), "customer", "a cab", "GetRide", "why")
    kept, revised = request.json_schema["anyOf"]
    assert kept["properties"]["decision"] == {"const": "kept"} and kept["properties"]["intent"] == {"const": "GetRide"}
    assert revised["properties"]["intent"] == {"enum": ["ReserveRestaurant", "FindMovies"]}
    assert "intent: GetRide" in request.messages[1][1]


def test_two_stages_report_kept_and_revised_and_one_stage_makes_one_call():
    kept = LLMLabeller(labeller_answering("GetRide", {"decision": "kept", "evidence": "cab", "intent": "GetRide"}), TAXONOMY)
    assert kept.label((), "customer", "a cab").decision == "kept"
    revising = labeller_answering("FindMovies", {"decision": "revised", "evidence": "'a cab'", "intent": "GetRide"})
    label = LLMLabeller(revising, TAXONOMY).label((), "customer", "a cab")
    assert (label.intent, label.stage1, label.decision, label.evidence) == ("GetRide", "FindMovies", "revised", "'a cab'")
    single = labeller_answering("GetRide", None)
    assert LLMLabeller(single, TAXONOMY, two_stage=False).label((), "customer", "a cab").decision == "single"
    assert len(single.requests) == 1


def test_an_answer_outside_the_taxonomy_labels_nothing():
    llm = ScriptedLLM(lambda _: ChatResponse('{"reason": "x", "intent": "OrderPizza"}'))
    label = LLMLabeller(llm, TAXONOMY).label((), "customer", "pizza")
    assert (label.intent, label.decision) == (None, "unparsed")
    garbled = ScriptedLLM(lambda r: ChatResponse('{"reason": "x", "intent": "GetRide"}' if stage(r) == 1 else "Keep it"))
    assert LLMLabeller(garbled, TAXONOMY).label((), "customer", "cab").decision == "unparsed"


def test_labelling_dialogues_labels_customer_turns_with_their_context_and_scores_the_stages():
    def answer(request: ChatRequest) -> ChatResponse:
        cab = "cab there" in request.messages[1][1].split("Turn T")[1]
        if stage(request) == 1:
            return ChatResponse(json.dumps({"reason": "r", "intent": "ReserveRestaurant"}))
        if cab:
            return ChatResponse(json.dumps({"decision": "revised", "evidence": "a cab", "intent": "GetRide"}))
        return ChatResponse(json.dumps({"decision": "kept", "evidence": "table", "intent": "ReserveRestaurant"}))

    llm = ScriptedLLM(answer)
    labelled, records = label_dialogues([TALK], LLMLabeller(llm, TAXONOMY))
    assert [t.gold for t in labelled[0].turns] == [("ReserveRestaurant",), (), ("GetRide",), ("ReserveRestaurant",)]
    assert "agent: Which restaurant?" in llm.requests[2].messages[1][1]  # the second customer turn reads its context
    report = labelling_report(records)
    assert report["revised"] == 1 and report["revise_rate"] == pytest.approx(1 / 3)
    assert (report["gold_turns"], report["stage1_accuracy"], report["final_accuracy"]) == (2, 0.5, 1.0)
    assert (report["revisions_right"], report["revisions_wrong"]) == (1, 0)
    _, capped = label_dialogues([TALK], LLMLabeller(llm, TAXONOMY), max_turns=1)
    assert len(capped) == 1


def test_labelled_dialogues_written_as_records_read_back_with_their_intents(tmp_path):
    path = write_jsonl(dialogue_records([TALK], {("t1", 2): {"label_decision": "revised"}}), tmp_path / "l.jsonl")
    (back,) = dialogues_from_file(path)
    assert [(t.speaker, t.text, t.gold) for t in back.turns] == [(t.speaker, t.text, t.gold) for t in TALK.turns]
    assert json.loads(path.read_text().splitlines()[0])["turns"][2]["label_decision"] == "revised"


# -- the simulator ---------------------------------------------------------------------------------------------

QUERIES = {"ReserveRestaurant": ("a table for two please",), "GetRide": ("I need a cab",), "FindMovies": ("any films tonight?",)}


def test_a_plan_opens_on_a_real_query_ends_once_and_never_too_early():
    settings = SimulatorSettings(min_user_turns=3, max_user_turns=6)
    for seed in range(200):
        plan = plan_dialogue(random.Random(seed), QUERIES, settings)
        assert plan[0].behaviour == OPENING and plan[0].seed_query in QUERIES[plan[0].goal]
        assert plan[-1].behaviour in ENDINGS and not any(p.behaviour in ENDINGS for p in plan[:-1])
        assert len(plan) <= 6 and (len(plan) >= 3 or plan[-1].behaviour == "EndConversation" and len(plan) == 6)
        for before, after in zip(plan, plan[1:]):
            assert (after.goal != before.goal) == (after.behaviour == INTENT_CHANGE)
            assert after.seed_query in QUERIES[after.goal]
    assert plan_dialogue(random.Random(7), QUERIES, settings) == plan_dialogue(random.Random(7), QUERIES, settings)


def test_plans_switch_intent_in_a_good_share_of_dialogues():
    plans = [plan_dialogue(random.Random(seed), QUERIES, SimulatorSettings()) for seed in range(300)]
    switched = sum(any(p.behaviour == INTENT_CHANGE for p in plan) for plan in plans) / len(plans)
    assert 0.2 < switched < 0.8


def test_seed_queries_prefer_dialogue_openings_and_need_two_intents():
    opened_later = Dialogue("t2", (DialogueTurn(0, "customer", "hi there", ()), DialogueTurn(1, "customer", "a cab to Zuni", ("GetRide",))))
    queries = seed_queries([TALK, opened_later])
    assert queries == {"ReserveRestaurant": ("I need a table for tonight",), "GetRide": ("Zuni, and a cab there", "a cab to Zuni")}
    with pytest.raises(ValueError, match="at least two intents"):
        seed_queries([opened_later])


def test_speaker_grammar_opens_with_the_tag_and_stays_on_one_line():
    assert one_line_after("customer").startswith('root ::= "customer: "') and "\\r\\n" in one_line_after("customer")


def test_the_simulator_plays_customer_and_agent_and_the_labeller_labels_the_customer():
    def answer(request: ChatRequest) -> ChatResponse:
        if request.json_schema is not None:
            return ChatResponse(json.dumps({"reason": "r", "intent": "GetRide"}) if stage(request) == 1 else
                                json.dumps({"decision": "kept", "evidence": "e", "intent": "GetRide"}))
        tag = request.grammar.split('"')[1].rstrip(": ")
        return ChatResponse(f'{tag}: "{"sure, which day?" if tag == "agent" else "and then a cab home"}"')

    llm = ScriptedLLM(answer)
    simulator = DialogueSimulator(llm, QUERIES, LLMLabeller(llm, TAXONOMY), SimulatorSettings(min_user_turns=2, max_user_turns=3))
    dialogues = simulate_dialogues(simulator, 3, seed=1)
    for sim in dialogues:
        turns = sim.dialogue().turns
        assert turns[0].text in {q for qs in QUERIES.values() for q in qs}  # the opening is the seed query itself
        assert [t.speaker for t in turns[:2]] == ["customer", "agent"] and turns[1].text == "sure, which day?"
        assert all(t.gold == ("GetRide",) for t in turns if t.speaker == "customer")
        assert [t.turn_index for t in turns] == list(range(len(turns)))
    report = simulation_report(dialogues)
    assert report["dialogues"] == 3 and report["labelled_by"] == "two-stage labeller" and report["revise_rate"] == 0.0
    assert sum(report["behaviours"].values()) == report["customer_turns"]
    extras = dialogues[0].extras()
    assert all({"behaviour", "planned_intent", "label_decision"} <= set(row) for row in extras.values())
    with pytest.raises(ValueError, match="at least 1"):
        simulate_dialogues(simulator, 0)


# -- the CLI, with the real local model ------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dialin_core", *args], cwd=REPO, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def sgd_head(tmp_path_factory):
    path = tmp_path_factory.mktemp("sgd") / "head.jsonl"
    path.write_text("\n".join(SGD_SAMPLE.read_text(encoding="utf-8").splitlines()[:40]) + "\n", encoding="utf-8")
    return path


def test_classify_label_with_the_real_local_model_writes_trainable_labels(sgd_head, tmp_path):
    out, workspace = tmp_path / "labelled.jsonl", tmp_path / "cache.duckdb"
    args = ("classify-label", str(sgd_head), "--out", str(out), "--max-turns", "3", "--workspace", str(workspace))
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["turns"] == 3 and report["gold_turns"] == report["labelled"] and report["llm"]["calls"] == 6
    assert report["revised"] == round(report["revise_rate"] * (3 - report["unparsed"]))
    taxonomy = set(taxonomy_of(dialogues_from_file(sgd_head)).labels)
    turns = [t for line in out.read_text().splitlines() for t in json.loads(line)["turns"] if "intent" in t]
    assert len(turns) == report["labelled"] and all(t["intent"] in taxonomy for t in turns)
    assert all((t["label_decision"] == "kept") == (t["intent"] == t["label_stage1"]) for t in turns)
    again = json.loads(run_cli(*args).stdout)
    assert again["llm"]["calls"] == 0 and again["llm"]["cached_calls"] == 6  # a re-run is answered from the workspace


def test_classify_simulate_with_the_real_local_model_augments_training(sgd_head, tmp_path):
    simulated = tmp_path / "sim.jsonl"
    result = run_cli("classify-simulate", str(sgd_head), "--out", str(simulated), "--dialogues", "1", "--max-user-turns", "2")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dialogues"] == 1 and report["customer_turns"] == 2 and report["agent_turns"] == 1
    (dialogue,) = dialogues_from_file(simulated)
    assert [t.speaker for t in dialogue.turns] == ["customer", "agent", "customer"]
    assert all(t.text.strip() and "\n" not in t.text for t in dialogue.turns)
    taxonomy = set(taxonomy_of(dialogues_from_file(sgd_head)).labels)
    assert {t.gold[0] for t in dialogue.turns if t.gold} <= taxonomy
    model = tmp_path / "model"
    trained = run_cli("classify-train", str(sgd_head), "--augment", str(simulated), "--out", str(model))
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["augmented_dialogues"] == 1
    assert summary["examples"] == len(labelled_turns(dialogues_from_file(sgd_head))) + 2


def test_classify_label_refuses_a_taxonomy_of_one_intent(sgd_head, tmp_path):
    taxonomy = tmp_path / "one.txt"
    taxonomy.write_text("GetRide\n", encoding="utf-8")
    result = run_cli("classify-label", str(sgd_head), "--out", str(tmp_path / "o.jsonl"), "--taxonomy", str(taxonomy))
    assert result.returncode == 2 and "at least two intents" in result.stderr


def test_context_turns_passed_to_the_labeller_are_the_recent_ones():
    llm = labeller_answering("GetRide", {"decision": "kept", "evidence": "e", "intent": "GetRide"})
    long_talk = Dialogue("t3", tuple(
        DialogueTurn(i, "customer" if i % 2 else "agent", f"message {i}", ("GetRide",) if i == 9 else ()) for i in range(10)
    ))
    label_dialogues([long_talk], LLMLabeller(llm, TAXONOMY), context_turns=2, max_turns=None)
    last = llm.requests[-1].messages[1][1]
    assert "message 8" in last and "message 6" not in last
