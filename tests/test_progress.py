"""Live progress: elapsed time per phase and what the phase has left, read from the events' timestamps."""

from datetime import datetime, timedelta

from dialin_core.methods.progress import Timing, run_timing

T0 = datetime(2026, 12, 2, 9, 0, 0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_loop_estimates_what_is_left_by_its_mean_iteration_and_naming_by_its_mean_name():
    log = [("space_reduced", at(20)), ("candidate_judged", at(30)), ("iteration_done", at(50)),
           ("candidate_judged", at(60)), ("iteration_done", at(80))]
    loop = run_timing("clustering", log, started=T0, now=at(90), max_iterations=5)
    assert loop == Timing(elapsed=90, phase_elapsed=70, phase_left=30 * 3)  # 2 of 5 done, 30 s each since the loop opened
    embedding = run_timing("embedding", [], started=T0, now=at(12), max_iterations=5)
    assert embedding == Timing(elapsed=12, phase_elapsed=12, phase_left=None)  # nothing measured says how long

    log += [("loop_stopped", at(85)), ("leftovers_assigned", at(100)), ("cluster_named", at(103)), ("cluster_named", at(106))]
    naming = run_timing("naming", log, started=T0, now=at(107), max_iterations=5, naming=(2, 10))
    assert naming == Timing(elapsed=107, phase_elapsed=7, phase_left=3 * 8)  # 3 s a name, 8 names to go
    assert naming.caption() == "1 min 47 s since it started; this phase 7 s, about 24 s left in it"


def test_kept_clusters_show_their_samples_texts_and_how_they_were_judged():
    import pandas as pd

    from dialin_core.data.store import Store
    from dialin_core.methods.progress import kept_clusters
    from tests.test_store import add, make_turns

    with Store() as store:
        dataset_id = add(store, make_turns("lost my card", "card stolen", "refund please", "hello"))
        run_id = store.create_run(dataset_id, "dialin", {})
        store.finish_run(run_id, summary={}, clusters=pd.DataFrame({
            "cluster_id": [0, 1, -1], "size": [2, 1, 1], "sample": [[1, 0], [2], [3]],
            "evidence": ['{"judged_by": "cohesion"}', None, None]}),
            assignments=pd.DataFrame({"utterance_id": [0, 1, 2, 3], "cluster_id": [0, 0, 1, -1]}))
        kept = kept_clusters(store, run_id)
    assert kept["cluster_id"].tolist() == [0, 1]  # the outliers are no kept cluster
    assert kept["samples"].tolist() == [["card stolen", "lost my card"], ["refund please"]]
    assert kept["judged_by"].iloc[0] == "cohesion" and pd.isna(kept["judged_by"].iloc[1])  # no evidence stored
