"""The audit trail in words: every kind of decision read back as a sentence with cluster names."""

from dialin_core.curation import review
from dialin_core.curation.audit import run_audit_trail
from dialin_core.curation.review import UNASSIGNED, review_state
from tests.test_review import propose_two_merges, run  # noqa: F401  (fixture)


def test_each_decision_reads_as_a_sentence_with_names_and_undos_say_what_they_took_back(run):  # noqa: F811
    store, run_id = run
    names = dict(zip(store.clusters(run_id)["cluster_id"], store.clusters(run_id)["name"]))
    members = review_state(store, run_id).members
    three = members[members["cluster_id"] == 3]["utterance_id"].tolist()
    review.set_verdict(store, run_id, "ana", [1, 2], "bad")
    review.set_status(store, run_id, "bob", [0], "approved")
    review.rename(store, run_id, "ana", 0, "inquire-card_arrival")
    review.move(store, run_id, "ana", three[:2], 0)
    review.move(store, run_id, "ana", three[2:3], UNASSIGNED)
    review.new_cluster(store, run_id, "ana", three[3:6], "report-odd_thing")
    renamed = review.rename(store, run_id, "ana", 4, "ask-fees")
    review.undo(store, run_id, "bob", renamed)
    trail = run_audit_trail(store, run_id)
    words = trail["decision"].tolist()
    assert words == [
        f"marked '{names[1]}', '{names[2]}' bad",
        "approved 'inquire-card_arrival'",  # current names: cluster 0 was renamed after
        f"renamed '{names[0]}' to 'inquire-card_arrival'",
        "moved 2 sentences to 'inquire-card_arrival'",
        "moved 1 sentence to unassigned",
        "made the cluster 'report-odd_thing' from 3 sentences",
        f"renamed '{names[4]}' to 'ask-fees'",
        f"took back: renamed '{names[4]}' to 'ask-fees'",
    ]
    assert trail["analyst"].tolist() == ["ana", "bob"] + ["ana"] * 5 + ["bob"]
    assert trail["active"].tolist() == [True] * 6 + [False, False]  # the undone rename and the undo itself


def test_a_merge_reads_with_the_names_its_parts_had_and_its_verdict(run):  # noqa: F811
    store, run_id = run
    propose_two_merges(store, run_id)  # 0 and 1 as one intent, 2 and 3 as another
    before = dict(zip(store.clusters(run_id)["cluster_id"], store.clusters(run_id)["name"]))
    review.decide_merge(store, run_id, "ana", 0, True, "inquire-cards", "good")
    review.decide_merge(store, run_id, "ana", 1, False)
    merged, rejected = run_audit_trail(store, run_id)["decision"].tolist()
    assert merged == f"merged '{before[0]}', '{before[1]}' into 'inquire-cards', verdict good"
    assert rejected == "rejected merge proposal 1"
    assert run_audit_trail(store, run_id + 99).empty  # a run without decisions: an empty trail, not an error
