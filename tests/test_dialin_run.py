"""A Dial-In run against a real workspace: each step persisted, resumable, named, merge proposals stored."""

import json

import pytest

from dialin_core.config import RunConfig
from dialin_core.data.datasets import ingest_file
from dialin_core.data.store import Store
from dialin_core.judging.llm_judge import VERDICT_GRAMMAR
from dialin_core.llm.base import ChatResponse
from dialin_core.methods.dialin import build_tools, resume_dialin, run_dialin
from dialin_core.methods.progress import run_progress
from dialin_core.naming.names import validate_intent_name
from tests.conftest import SAMPLE_DIALOGUES
from tests.fakes import ScriptedLLM, verdict_response

NO_LLM = RunConfig(llm="none", judge="cohesion", with_map=False, max_iterations=3)


class Interrupted(Exception):
    """Stands in for a killed process."""


def test_a_run_persists_every_step_and_finishes_with_a_summary(banking):
    store, dataset_id = banking
    seen: list[str] = []
    result = run_dialin(store, dataset_id, NO_LLM, on_event=lambda e: seen.append(e["kind"]))
    stored = [e["kind"] for e in store.events(result.run_id)]
    assert stored == seen
    assert {"candidate_judged", "iteration_done", "loop_stopped", "leftovers_assigned", "clusters_named", "merges_proposed"} <= set(stored)
    assert store.run(result.run_id).status == "finished"
    summary = result.summary
    assert summary["method"] == "dialin" and summary["llm_calls"] == 0 and "goodness" not in summary  # scored by another judge, on demand
    assert summary["iterations"][0]["chosen_k"] in [c["k"] for c in summary["iterations"][0]["candidates"]]
    assert summary["metrics"]["nmi"] > 0.6
    clusters = store.clusters(result.run_id)
    kept = clusters[clusters["cluster_id"] >= 0]
    assert kept["sample"].map(len).between(1, 20).all()
    # the loop's clusters are good; what it left when it stopped is kept with the judge's verdicts, for review
    remainder = [c for e in store.events(result.run_id) if e["kind"] == "remainder_kept" for c in e["cluster_ids"]]
    assert (kept.loc[~kept["cluster_id"].isin(remainder), "verdict"] == "good").all() and (kept["verdict"] == "good").any()
    assert set(kept["verdict"]) <= {"good", "bad"}
    assert {"probability", "judged_by", "k"} <= set(json.loads(kept["evidence"].iloc[0]))
    assert len(store.assignments(result.run_id)) == len(store.utterances(dataset_id))


@pytest.mark.parametrize("kill_at", ["candidate_judged", "iteration_done"])
def test_a_killed_run_resumes_from_its_last_finished_step(banking, kill_at):
    """Killed in the middle of an iteration (redone from the start: the second iteration's, where the run has two)
    or right after one (not redone)."""
    store, dataset_id = banking
    reference = run_dialin(store, dataset_id, NO_LLM)
    judged = [e["kind"] for e in store.events(reference.run_id)].count("candidate_judged")
    seen: list[str] = []

    def die(event):
        seen.append(event["kind"])
        if seen.count(kill_at) == (min(2, judged) if kill_at == "candidate_judged" else 1):
            raise Interrupted

    with pytest.raises(Interrupted):
        run_dialin(store, dataset_id, NO_LLM, on_event=die)
    run_id = reference.run_id + 1
    assert store.run(run_id).status == "failed"
    resumed = resume_dialin(store, run_id)
    events = store.events(run_id)
    candidates = [(e["iteration"], e["k"]) for e in events if e["kind"] == "candidate_judged"]
    assert len(candidates) == len(set(candidates)) > 0  # each logged once: an unfinished iteration is redone, not doubled
    assert [e["kind"] for e in events].count("iteration_done") == len(reference.summary["iterations"])
    assert store.run(run_id).status == "finished"
    assert sorted(resumed.clusters["size"]) == sorted(reference.clusters["size"])
    with pytest.raises(ValueError, match="is finished"):
        resume_dialin(store, run_id)


def scripted_llm() -> ScriptedLLM:
    """Judges everything fairly good; gives the first two clusters one name, the next two close names,
    and the rest names far apart."""
    objects = ["volcano", "zebra", "violin", "glacier", "tulip", "saxophone", "meteor", "penguin", "cactus", "lighthouse",
               "origami", "telescope", "marathon", "avalanche", "harpsichord", "coral", "tornado", "chess", "mango", "canyon",
               "kangaroo", "espresso", "pyramid", "jellyfish", "trombone", "blizzard", "walnut", "carousel", "falcon", "sushi"]
    distinct = iter(f"{verb}-{obj}" for obj in objects for verb in ("order", "compare"))
    named = []

    def answer(request):
        if request.grammar == VERDICT_GRAMMAR:
            return verdict_response(0.97)
        named.append(1)
        alike = {1: "inquire-card_delivery", 2: "inquire-card_delivery", 3: "report-stolen_card", 4: "report-lost_stolen_card"}
        return ChatResponse(text=alike.get(len(named)) or next(distinct))

    return ScriptedLLM(answer)


def test_names_come_from_the_llm_and_alike_names_become_a_merge_proposal_applied_by_auto_merge(banking):
    store, dataset_id = banking
    config = RunConfig(llm="local", judge="cascade", with_map=False, max_iterations=2, auto_merge=True, max_llm_calls=200)
    tools = build_tools(store, config, backend=scripted_llm())
    result = run_dialin(store, dataset_id, config, tools=tools)
    names = result.clusters.loc[result.clusters["cluster_id"] >= 0, "name"]
    assert all(validate_intent_name(n) for n in names)
    proposals = store.merge_proposals(result.run_id)
    assert proposals["status"].tolist() == ["accepted", "accepted"]
    evidence = sorted((json.loads(e) for e in proposals["evidence"]), key=lambda e: sorted(e["names"].values()))
    same, close = evidence
    assert sorted(close["names"].values()) == ["report-lost_stolen_card", "report-stolen_card"]
    assert close["edges"][0]["probability"] > 0.5 and close["same_name"] == {}
    assert sorted(same["names"].values()) == ["inquire-card_delivery", "inquire-card_delivery_2"] and same["edges"] == []
    assert "inquire-card_delivery" in proposals["merged_name"].tolist()
    decisions = store.decisions(result.run_id)
    assert decisions["analyst"].tolist() == ["auto-merge"] * 2 and set(decisions["action"]) == {"accept_merge"}
    # Nested Ward cuts can show the judge one cluster twice: the second ask is answered from the cache
    # and still counts against the budget.
    assert len(tools.llm.backend.requests) == tools.llm.counts.calls > 0
    assert result.summary["llm_calls"] == tools.llm.counts.calls + tools.llm.counts.cached_calls
    # every LLM name is an event, counted against the clusters to name: the live view's counter moves while naming
    named = [e for e in store.events(result.run_id) if e["kind"] == "cluster_named"]
    assert [e["n_named"] for e in named] == list(range(1, len(named) + 1))
    assert {e["n_to_name"] for e in named} == {len(named)} and len(named) > len(names)  # all named, then merged
    assert named[-1]["llm_calls_total"] > named[0]["llm_calls_total"]


def test_without_auto_merge_proposals_wait_for_the_analyst(banking):
    store, dataset_id = banking
    config = RunConfig(llm="local", judge="cascade", with_map=False, max_iterations=2, max_llm_calls=200)
    result = run_dialin(store, dataset_id, config, tools=build_tools(store, config, backend=scripted_llm()))
    proposals = store.merge_proposals(result.run_id)
    assert proposals["status"].tolist() == ["proposed", "proposed"] and store.decisions(result.run_id).empty
    assert len(result.clusters) > sum(len(ids) for ids in proposals["cluster_ids"])


def test_customer_and_agent_utterances_are_clustered_apart(tmp_path):
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, SAMPLE_DIALOGUES, None)
        result = run_dialin(store, dataset_id, RunConfig(llm="none", judge="cohesion", with_map=False, max_iterations=1, n_candidates=3))
        clusters = store.clusters(result.run_id)
        assert set(clusters["role"].dropna()) == {"customer", "agent"}
        roles = store.utterances(dataset_id).set_index("utterance_id")["roles"]
        assignments = store.assignments(result.run_id).merge(clusters[["cluster_id", "role"]], on="cluster_id")
        agent_rows = assignments[assignments["role"] == "agent"]
        assert all("agent" in roles[u] for u in agent_rows["utterance_id"])
        stopped = run_progress(store, result.run_id).stopped
        assert sorted(role for role, _ in stopped) == ["agent", "customer"] and all(why for _, why in stopped)


def test_a_cascade_run_with_the_real_local_model_stays_in_budget_and_replays_from_the_cache(banking):
    store, dataset_id = banking
    config = RunConfig(llm="local", judge="cascade", with_map=False, max_iterations=2, n_candidates=3, max_llm_calls=12)
    tools = build_tools(store, config)
    first = run_dialin(store, dataset_id, config, tools=tools)
    assert 0 < first.summary["llm_calls"] <= 12
    llm_named = first.clusters["evidence"].notna() & (first.clusters["cluster_id"] >= 0)
    names = first.clusters.loc[llm_named, "name"].tolist()
    assert sum(1 for n in names if _is_action_objective(n)) >= 1  # the largest clusters got LLM names
    escalated = [json.loads(e) for e in first.clusters["evidence"].dropna()]
    assert all(0.0 <= e["probability"] <= 1.0 for e in escalated)
    again = run_dialin(store, dataset_id, config, tools=build_tools(store, config))
    assert again.summary["llm_counts_this_session"]["calls"] == 0  # every answer came from the workspace
    assert again.summary["llm_counts_this_session"]["cached_calls"] > 0
    assert again.clusters["name"].tolist() == first.clusters["name"].tolist()


def _is_action_objective(name: str) -> bool:
    try:
        validate_intent_name(name)
    except ValueError:
        return False
    return True


def test_a_run_with_the_openai_back_end_talks_to_a_served_model(banking, monkeypatch):
    from tests.test_llm_openai import GOOD_REPLY, ScriptedServer

    names = iter(["order-volcano", "compare-zebra", "book-violin", "track-glacier", "renew-tulip", "verify-meteor"] * 20)

    def respond(body):
        if body.get("grammar") == VERDICT_GRAMMAR:
            return 200, GOOD_REPLY
        reply = {"choices": [{"message": {"role": "assistant", "content": next(names)}}], "usage": {"prompt_tokens": 90, "completion_tokens": 4}}
        return 200, reply

    store, dataset_id = banking
    with ScriptedServer(respond) as server:
        monkeypatch.setenv("DIALIN_OPENAI_BASE_URL", server.base_url)
        config = RunConfig(llm="openai", llm_model="served-judge", with_map=False, max_iterations=2, max_llm_calls=30)
        result = run_dialin(store, dataset_id, config)
    assert 0 < len(server.requests) == result.summary["llm_calls"] <= 30
    assert {r["body"]["model"] for r in server.requests} == {"served-judge"}
    assert result.summary["llm_tokens"] == sum(42 + 1 if r["body"].get("grammar") == VERDICT_GRAMMAR else 90 + 4 for r in server.requests)
    assert "order-volcano" in result.clusters["name"].tolist()


def test_a_refined_run_keeps_what_the_analyst_let_stand_and_reclusters_the_rest(banking):
    from dialin_core.curation import review
    from dialin_core.curation.review import review_state
    from dialin_core.methods.dialin import create_refined_run

    store, dataset_id = banking
    source = run_dialin(store, dataset_id, NO_LLM).run_id
    state = review_state(store, source)
    by_size = state.live_clusters().sort_values("size", ascending=False)["cluster_id"].astype(int).tolist()
    bad, approved, renamed = by_size[:3]
    review.set_verdict(store, source, "ana", [bad], "bad")
    review.set_status(store, source, "ana", [approved], "approved")
    review.rename(store, source, "ana", renamed, "inquire-card_arrival")
    members = state.members.groupby("cluster_id")["utterance_id"].apply(list)
    split = review.new_cluster(store, source, "ana", members[approved][:6], "report-split_off")
    reviewed = review_state(store, source)

    def die(event):  # the leftovers may need a single candidate k: stop at the first one judged
        if event["kind"] == "candidate_judged":
            raise Interrupted

    run_id = create_refined_run(store, source)
    with pytest.raises(Interrupted):
        resume_dialin(store, run_id, on_event=die)
    result = resume_dialin(store, run_id)
    events = [e["kind"] for e in store.events(run_id)]
    assert events[0] == "seeded_from_review" and events.count("seeded_from_review") == 1
    assert store.run(run_id).config.refine_of == source
    final = result.clusters.set_index("cluster_id")
    assigned = store.cluster_members(run_id).groupby("cluster_id")["utterance_id"].apply(set)
    seeded = store.events(run_id)[0]["cluster_ids"]
    sources = {json.loads(e)["source_cluster"]: cid for cid, e in zip(store.clusters(run_id)["cluster_id"], store.clusters(run_id)["evidence"])
               if "source_cluster" in json.loads(e)}
    assert set(sources.values()) == set(seeded) and bad not in sources
    assert final.loc[sources[renamed], "name"] == "inquire-card_arrival"
    assert final.loc[sources[split], "name"] == "report-split_off"
    kept_members = reviewed.members[reviewed.members["cluster_id"] == approved]["utterance_id"]
    assert set(kept_members) <= assigned[sources[approved]]  # leftovers may join it, none leave
    assert result.summary["iterations"], "the bad cluster's sentences were clustered again"
    unfinished = store.create_run(dataset_id, "dialin", NO_LLM.as_dict())
    with pytest.raises(ValueError, match="only a finished, reviewed run"):
        create_refined_run(store, unfinished)


def test_the_seed_llm_judge_with_its_default_budget_judges_every_cluster_instead_of_stopping_at_once(banking):
    store, dataset_id = banking
    llm = ScriptedLLM(lambda r: verdict_response(0.95) if r.grammar == VERDICT_GRAMMAR else ChatResponse(text=f"inquire-topic_{len(llm.requests)}"))
    config = RunConfig(llm="local", judge="llm", with_map=False, max_iterations=2)
    result = run_dialin(store, dataset_id, config, tools=build_tools(store, config, backend=llm))
    assert not any("budget" in reason for reason in result.summary["stopped"]), result.summary["stopped"]
    judged = [e for e in store.events(result.run_id) if e["kind"] == "candidate_judged"]
    assert judged and all(e["escalated"] > 0 and e["llm_calls"] <= e["escalated"] for e in judged)  # the LLM judged them
    assert result.summary["llm_calls"] <= config.llm_call_budget
