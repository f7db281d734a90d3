"""Role separation from names (Dial-In LLM paper, section 3.4): roles read from a run's names, each side re-clustered."""

import json
from pathlib import Path

import pandas as pd
import pytest

from dialin_core.config import RunConfig
from dialin_core.curation import review
from dialin_core.curation.review import UNASSIGNED, derive_state
from dialin_core.data.datasets import ingest_file
from dialin_core.data.store import Store
from dialin_core.judging.llm_judge import VERDICT_GRAMMAR
from dialin_core.llm.base import ChatResponse
from dialin_core.methods.baselines import run_discovery
from dialin_core.methods.dialin import ROLES_DERIVED, build_tools, create_role_split_run, resume_dialin, run_dialin
from dialin_core.data.ingest import ColumnMapping
from dialin_core.methods.role_split import (
    check_splittable, cluster_role_counts, derived_roles, names_by_utterance, role_counts,
)
from tests.conftest import SAMPLE_DIALOGUES
from tests.fakes import ScriptedLLM, verdict_response


class Interrupted(Exception):
    """Stands in for a killed process."""


def _state(decisions: list[tuple[str, dict]]) -> review.ReviewState:
    clusters = pd.DataFrame({"cluster_id": [0, 1, 2, UNASSIGNED], "name": ["request-refund", "provide-tracking", "chitchat-weather", "outlier"],
                             "verdict": ["good", "good", "good", None], "role": ["all"] * 4})
    members = pd.DataFrame({"utterance_id": [10, 11, 12, 13, 14], "cluster_id": [0, 0, 1, 2, UNASSIGNED]})
    table = pd.DataFrame({"decision_id": range(len(decisions)), "action": [a for a, _ in decisions],
                          "after": [json.dumps(after) for _, after in decisions]})
    proposals = pd.DataFrame(columns=["proposal_id", "cluster_ids", "evidence", "status", "merged_name"])
    return derive_state(clusters, members, proposals, table)


def test_roles_come_from_the_verb_of_each_sentences_current_cluster_name():
    roles = derived_roles(names_by_utterance(_state([])))
    assert roles == {10: "customer", 11: "customer", 12: "agent", 13: "other", 14: "other"}  # unassigned: other
    assert role_counts(roles) == {"customer": 2, "agent": 1, "other": 2}


def test_analyst_renames_and_moves_decide_the_roles():
    renamed = _state([("rename", {"cluster_id": 0, "name": "explain-refund_policy"}),
                      ("move", {"utterance_ids": [12], "cluster_id": UNASSIGNED})])
    assert derived_roles(names_by_utterance(renamed)) == {10: "agent", 11: "agent", 12: "other", 13: "other", 14: "other"}


def test_an_unnamed_cluster_gives_other():
    assert derived_roles({1: None, 2: "greet-customer", 3: "cancel-order"}) == {1: "other", 2: "agent", 3: "customer"}


def test_role_counts_from_cluster_sizes_are_the_counts_of_each_sentences_role():
    for state in (_state([]), _state([("rename", {"cluster_id": 0, "name": "explain-refund_policy"}),
                                      ("move", {"utterance_ids": [12], "cluster_id": UNASSIGNED})])):
        assert cluster_role_counts(state) == role_counts(derived_roles(names_by_utterance(state)))
    assert cluster_role_counts(_state([])) == {"customer": 2, "agent": 1, "other": 2}


def test_speaker_roles_from_ingest_are_any_role_but_other(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text("dialogue_id,speaker,text\n1,Caller,my card is lost\n1,Narrator,it rained\n2,Agent,how can I help\n",
                    encoding="utf-8")
    with Store(tmp_path / "w.duckdb") as store:
        with_roles = ingest_file(store, path, ColumnMapping(text="text", dialogue_id="dialogue_id", speaker="speaker"))
        without = ingest_file(store, path, ColumnMapping(text="text", dialogue_id="dialogue_id"))
        assert store.has_speaker_roles(with_roles) and not store.has_speaker_roles(without)
        assert store.has_speaker_roles(with_roles, ["agent"]) and not store.has_speaker_roles(with_roles, ["other"])


def test_a_split_that_changes_nothing_is_refused_with_a_way_out():
    with pytest.raises(ValueError, match="run 4 give 0 agent and 3 customer.*rename clusters"):
        check_splittable({"customer": 3, "agent": 0, "other": 1}, 4)
    with pytest.raises(ValueError, match="needs both"):
        check_splittable({"customer": 0, "agent": 5, "other": 0}, 4)
    check_splittable({"customer": 0, "agent": 5, "other": 1}, 4)  # other goes with the customer side


def test_roles_from_is_a_dialin_option_that_needs_the_role_split():
    assert RunConfig(roles_from=3, refine_of=5).roles_from == 3  # refining a role-split run keeps its roles
    with pytest.raises(ValueError, match="only a dialin run reads roles from a run's names, not a kmeans run"):
        RunConfig(method="kmeans", roles_from=3)
    with pytest.raises(ValueError, match="no-role-split"):
        RunConfig(roles_from=3, separate_roles=False)


def _speaker_of_sample() -> dict[str, str]:
    speakers = {}
    for line in SAMPLE_DIALOGUES.read_text(encoding="utf-8").splitlines():
        for turn in json.loads(line)["turns"]:
            speakers[" ".join(turn["utterance"].split())] = turn["speaker"]
    return speakers


def role_aware_namer() -> ScriptedLLM:
    """Judges everything good; names a cluster with an agent verb when most of its sample was spoken by the
    agent in the sample dialogues, else with a customer verb: a namer that reads roles as the Dial-In paper's does."""
    speaker = _speaker_of_sample()
    count = iter(range(10_000))
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]

    def answer(request):
        if request.grammar == VERDICT_GRAMMAR:
            return verdict_response(0.95)
        lines = [line.split(". ", 1)[1] for line in request.messages[-1][1].splitlines() if ". " in line and line[0].isdigit()]
        agent_share = sum(speaker.get(" ".join(text.split())) == "agent" for text in lines) / max(len(lines), 1)
        n = next(count)
        verb = "provide" if agent_share > 0.5 else "request"
        return ChatResponse(text=f"{verb}-{words[n % 10]}_{words[n // 10 % 10]}")

    return ScriptedLLM(answer)


@pytest.fixture
def roleless(tmp_path: Path) -> tuple[Store, int]:
    """Half the sample dialogues' sentences, agent and customer alike, as plain text: ingest knows no speaker."""
    path = tmp_path / "sentences.txt"
    path.write_text("\n".join(sorted(_speaker_of_sample())[::2]) + "\n", encoding="utf-8")  # ~540 sentences
    store = Store(tmp_path / "w.duckdb")
    dataset_id = ingest_file(store, path, None)
    yield store, dataset_id
    store.close()


CONFIG = RunConfig(llm="local", judge="cohesion", with_map=False, k_max=40, n_candidates=3, max_iterations=2, max_llm_calls=300)


def test_a_role_split_run_reclusters_each_side_of_the_names_and_resumes_with_the_roles_it_started_with(roleless):
    store, dataset_id = roleless
    assert not store.has_speaker_roles(dataset_id)
    first = run_dialin(store, dataset_id, CONFIG, tools=build_tools(store, CONFIG, backend=role_aware_namer())).run_id
    roles = derived_roles(names_by_utterance(review.review_state(store, first)))
    assert role_counts(roles)["agent"] > 30 and role_counts(roles)["customer"] > 30

    split = create_role_split_run(store, first)
    config = store.run(split).config
    assert config.roles_from == first and config.refine_of is None

    def die(event):
        if event["kind"] == "iteration_done":
            raise Interrupted

    tools = build_tools(store, CONFIG, backend=role_aware_namer())
    with pytest.raises(Interrupted):
        resume_dialin(store, split, tools=tools, on_event=die)
    agent_cluster = next(c for c, n in zip(store.clusters(first)["cluster_id"], store.clusters(first)["name"])
                         if str(n).startswith("provide-"))
    review.rename(store, first, "ana", int(agent_cluster), "request-something_else")  # after the start: must not count
    resume_dialin(store, split, tools=build_tools(store, CONFIG, backend=role_aware_namer()))

    derived = [e for e in store.events(split) if e["kind"] == ROLES_DERIVED]
    assert len(derived) == 1 and derived[0]["source_run"] == first
    agents = {u for u, role in roles.items() if role == "agent"}
    assert set(derived[0]["agent_ids"]) == agents
    # each side clustered on its own (whether the cohesion judge keeps a cluster of either side in its first
    # iteration depends on the CPU's floating point: on an AVX2-only machine the customer side kept none)
    assert {e["role"] for e in store.events(split) if e["kind"] == "candidate_judged"} == {"customer", "agent"}
    clusters = store.clusters(split)
    assert set(clusters["role"].dropna()) == {"customer", "agent"}
    members = store.assignments(split).merge(clusters[["cluster_id", "role"]], on="cluster_id")
    members = members[members["cluster_id"] != UNASSIGNED]
    members["derived_agent"] = members["utterance_id"].isin(agents)
    assert (members.groupby("cluster_id")["derived_agent"].nunique() == 1).all()  # no cluster mixes the sides
    assert (members["derived_agent"] == (members["role"] == "agent")).all()


def test_a_role_split_is_refused_for_data_with_speaker_roles_and_for_names_of_one_side(tmp_path, roleless):
    store, dataset_id = roleless
    three = RunConfig(method="kmeans", k=3, with_map=False)
    customer_named = run_discovery(store, dataset_id, three).run_id
    for cluster_id, name in enumerate(["request-refund", "inquire-balance", "report-fraud"]):
        review.rename(store, customer_named, "ana", cluster_id, name)
    with pytest.raises(ValueError, match="give 0 agent"):
        create_role_split_run(store, customer_named)
    review.rename(store, customer_named, "ana", 2, "provide-tracking")
    assert store.run(create_role_split_run(store, customer_named)).config.method == "dialin"
    dialogues = tmp_path / "dialogues.jsonl"
    dialogues.write_text("\n".join(SAMPLE_DIALOGUES.read_text(encoding="utf-8").splitlines()[:20]) + "\n", encoding="utf-8")
    with Store(tmp_path / "speakers.duckdb") as spoken:
        with_speakers = run_discovery(spoken, ingest_file(spoken, dialogues, None), three).run_id
        with pytest.raises(ValueError, match="speaker roles from ingest"):
            create_role_split_run(spoken, with_speakers)
