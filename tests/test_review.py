"""The analyst's review: decisions appended, state derived from them, undo, validation."""

import json
from pathlib import Path

import pandas as pd
import pytest

from dialin_core.config import RunConfig
from dialin_core.curation import review
from dialin_core.curation.review import UNASSIGNED, ReviewError, derive_state, review_state
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.store import Store
from dialin_core.methods.baselines import run_discovery


@pytest.fixture
def run(tmp_path: Path, banking77_subset: Path):
    store = Store(tmp_path / "w.duckdb")
    dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
    result = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=8, with_map=False))
    yield store, result.run_id
    store.close()


def test_a_review_without_decisions_is_the_run_as_stored(run):
    store, run_id = run
    state = review_state(store, run_id)
    stored = store.clusters(run_id)
    assert state.clusters["name"].tolist() == stored["name"].tolist()
    assert state.clusters["size"].tolist() == stored["size"].tolist()
    assert (state.clusters["status"] == "open").all() and (state.clusters["origin"] == "run").all()
    assert len(state.members) == len(store.cluster_members(run_id))


def test_rename_verdict_and_approval_apply_and_keep_the_engines_word_beside(run):
    store, run_id = run
    review.rename(store, run_id, "ana", 0, "inquire-card_arrival")
    review.set_verdict(store, run_id, "ana", [1, 2], "bad")
    review.set_status(store, run_id, "bob", [0], "approved")
    state = review_state(store, run_id)
    zero, one = state.cluster(0), state.cluster(1)
    assert zero["name"] == "inquire-card_arrival" and zero["auto_name"] == store.clusters(run_id)["name"][0]
    assert zero["status"] == "approved" and one["verdict"] == "bad" and state.cluster(2)["verdict"] == "bad"
    decisions = store.decisions(run_id)
    assert decisions["analyst"].tolist() == ["ana", "ana", "bob"]
    assert json.loads(decisions["before"][0]) == {"name": store.clusters(run_id)["name"][0]}


def test_moves_and_new_clusters_change_membership_and_sizes(run):
    store, run_id = run
    state = review_state(store, run_id)
    members = state.members[state.members["cluster_id"] == 3]["utterance_id"].tolist()
    review.move(store, run_id, "ana", members[:2], 4)
    review.move(store, run_id, "ana", members[2:3], UNASSIGNED)
    new_id = review.new_cluster(store, run_id, "ana", members[3:6], "report-odd_thing")
    after = review_state(store, run_id)
    sizes = after.clusters.set_index("cluster_id")["size"]
    before_sizes = state.clusters.set_index("cluster_id")["size"]
    assert sizes[3] == before_sizes[3] - 6 and sizes[4] == before_sizes[4] + 2
    assert sizes[UNASSIGNED] == 1 and sizes[new_id] == 3 and new_id == 8
    assert after.cluster(new_id)["origin"] == "analyst" and after.cluster(new_id)["verdict"] == "good"
    assert sizes.sum() == len(state.members)


def test_undo_takes_back_the_latest_decision_or_a_named_one_and_ids_are_never_reused(run):
    store, run_id = run
    state = review_state(store, run_id)
    members = state.members[state.members["cluster_id"] == 5]["utterance_id"].tolist()
    renamed = review.rename(store, run_id, "ana", 5, "request-refund")
    created = review.new_cluster(store, run_id, "ana", members[:3], "request-new_pin")
    review.rename(store, run_id, "ana", created, "request-pin")
    review.undo(store, run_id, "ana")  # the latest: the second rename
    assert review_state(store, run_id).cluster(created)["name"] == "request-new_pin"
    review.undo(store, run_id, "ana", renamed)
    review.undo(store, run_id, "ana")  # the new cluster goes: its sentences return to cluster 5
    after = review_state(store, run_id)
    assert after.cluster(5)["name"] == state.cluster(5)["name"] and after.cluster(5)["size"] == state.cluster(5)["size"]
    assert created not in set(after.clusters["cluster_id"])
    assert review.new_cluster(store, run_id, "ana", members[:2], "request-pin") == created + 1
    with pytest.raises(ReviewError, match="not active"):
        review.undo(store, run_id, "ana", renamed)


def propose_two_merges(store: Store, run_id: int) -> None:
    """Clusters 0 and 1 proposed as one intent, 2 and 3 as another."""
    proposals = pd.DataFrame({"proposal_id": [0, 1], "cluster_ids": [[0, 1], [2, 3]], "evidence": ["{}", "{}"],
                              "status": "proposed", "merged_name": ["inquire-card", "request-pin"]})
    store.save_merge_proposals(run_id, proposals)


def test_merges_fold_into_the_largest_cluster_under_the_chosen_name(run):
    store, run_id = run
    propose_two_merges(store, run_id)
    state = review_state(store, run_id)
    keeper = 0 if state.cluster(0)["size"] >= state.cluster(1)["size"] else 1
    review.decide_merge(store, run_id, "ana", 0, accept=True, name="inquire-card_status")
    review.decide_merge(store, run_id, "ana", 1, accept=False)
    after = review_state(store, run_id)
    assert set(after.clusters["cluster_id"]) == set(state.clusters["cluster_id"]) - {1 - keeper}
    assert after.cluster(keeper)["name"] == "inquire-card_status"
    assert after.cluster(keeper)["size"] == state.cluster(0)["size"] + state.cluster(1)["size"]
    assert after.proposals["status"].tolist() == ["accepted", "rejected"]
    with pytest.raises(ReviewError, match="already rejected"):
        review.decide_merge(store, run_id, "ana", 1, accept=True)


def test_a_merge_of_a_good_and_a_bad_cluster_is_good_unless_the_analyst_says_otherwise(run):
    store, run_id = run
    propose_two_merges(store, run_id)
    state = review_state(store, run_id)
    largest = [max(pair, key=lambda c: state.cluster(c)["size"]) for pair in ([0, 1], [2, 3])]
    review.set_verdict(store, run_id, "ana", [0, 1, 2, 3], "good")
    review.set_verdict(store, run_id, "ana", [largest[0], largest[1]], "bad")  # the keepers are bad, the others good
    review.decide_merge(store, run_id, "ana", 0, accept=True)
    review.decide_merge(store, run_id, "ana", 1, accept=True, verdict="bad")
    after = review_state(store, run_id)
    assert after.cluster(largest[0])["verdict"] == "good" and after.cluster(largest[1])["verdict"] == "bad"
    merge = store.decisions(run_id).iloc[-2]
    assert json.loads(merge["before"])["verdicts"] == {str(largest[0]): "bad", str(sum([0, 1]) - largest[0]): "good"}
    assert review.merged_verdict(["bad", None]) == "bad" and review.merged_verdict([None, "good"]) == "good"
    with pytest.raises(ReviewError, match="one of good, bad"):
        review.decide_merge(store, run_id, "ana", 0, accept=True, verdict="maybe")


@pytest.mark.parametrize(
    "action, message",
    [
        (lambda s, r: review.rename(s, r, "ana", 0, "   "), "cannot be empty"),
        (lambda s, r: review.rename(s, r, "ana", 99, "x"), "no cluster 99"),
        (lambda s, r: review.rename(s, r, "", 0, "x"), "say who you are"),
        (lambda s, r: review.set_verdict(s, r, "ana", [0], "maybe"), "one of good, bad"),
        (lambda s, r: review.set_verdict(s, r, "ana", [], "bad"), "at least one cluster"),
        (lambda s, r: review.move(s, r, "ana", [], 1), "at least one sentence"),
        (lambda s, r: review.move(s, r, "ana", [10**6], 1), "no utterance"),
        (lambda s, r: review.decide_merge(s, r, "ana", 7, accept=True), "no merge proposal 7"),
    ],
)
def test_bad_actions_are_refused_with_a_reason_and_store_nothing(run, action, message):
    store, run_id = run
    with pytest.raises(ReviewError, match=message):
        action(store, run_id)
    assert store.decisions(run_id).empty


def test_a_name_already_taken_is_refused(run):
    store, run_id = run
    taken = review_state(store, run_id).cluster(1)["name"]
    with pytest.raises(ReviewError, match="already called"):
        review.rename(store, run_id, "ana", 0, taken.upper())


def test_derive_state_ignores_decisions_about_clusters_that_are_gone():
    clusters = pd.DataFrame({"cluster_id": [0, 1], "name": ["a", "b"], "size": [1, 1], "verdict": ["good", "good"],
                             "probability": [0.9, 0.8], "role": [None, None]})
    members = pd.DataFrame({"utterance_id": [10, 11], "cluster_id": [0, 1]})
    proposals = pd.DataFrame(columns=["proposal_id", "cluster_ids", "evidence", "status", "merged_name"])
    decisions = pd.DataFrame({
        "decision_id": [1, 2, 3],
        "action": ["new_cluster", "rename", "undo"],
        "after": [json.dumps({"utterance_ids": [11], "cluster_id": 2, "name": "c"}),
                  json.dumps({"cluster_id": 2, "name": "d"}), json.dumps({"decision_id": 1})],
    })
    state = derive_state(clusters, members, proposals, decisions)
    assert state.clusters["name"].tolist() == ["a", "b"] and state.members["cluster_id"].tolist() == [0, 1]


def test_two_analysts_deciding_at_once_through_their_own_connections_lose_nothing(run):
    import threading

    store, run_id = run
    errors: list[BaseException] = []

    def analyst(name: str, cluster_id: int) -> None:
        try:
            with Store(store.path) as own:
                for i in range(25):
                    review.rename(own, run_id, name, cluster_id, f"{name}-name_{i}")
        except BaseException as error:  # surfaced below, with the thread's failure
            errors.append(error)

    threads = [threading.Thread(target=analyst, args=(name, c)) for name, c in (("ana", 0), ("bob", 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    decisions = store.decisions(run_id)
    assert len(decisions) == 50 and decisions["decision_id"].is_unique
    state = review_state(store, run_id)
    assert state.cluster(0)["name"] == "ana-name_24" and state.cluster(1)["name"] == "bob-name_24"
