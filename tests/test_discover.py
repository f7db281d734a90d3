"""The Dial-In loop's control flow, with judges that know the truth or follow a script."""

from collections import Counter

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, homogeneity_score, normalized_mutual_info_score

from dialin_core.clustering.algorithms import NOISE
from dialin_core.clustering.sampling import random_sample
from dialin_core.judging.cascade import CascadeJudge, ClusterCase, CohesionJudge, Judgement, LLMOnlyJudge
from dialin_core.judging.cohesion import FEATURES, CohesionModel
from dialin_core.judging.llm_judge import LLMJudge
from dialin_core.methods.dialin_loop import (
    SILHOUETTE_GRID,
    CandidateJudged,
    IterationDone,
    LoopSettings,
    LoopState,
    LoopStopped,
    RemainderKept,
    assign_leftovers,
    candidate_ks,
    dialin_loop,
    good_bad_ratio,
    kept_labels,
    plateau_centre,
)
from tests.fakes import ScriptedLLM, verdict_response
from tests.test_cohesion import blobs


class PurityOracle:
    """Good when every sampled sentence names the same blob ("blob3 #12"), the way a perfect judge would."""

    def __init__(self) -> None:
        self.cases = 0

    def judge_all(self, cases, llm_allowance):
        self.cases += len(cases)
        return [Judgement(1.0 if len({s.split()[0] for s in c.sentences}) == 1 else 0.0, "oracle") for c in cases]


def blob_texts(labels: np.ndarray) -> list[str]:
    return [f"blob{label} #{i}" for i, label in enumerate(labels)]


def run(vectors, texts, judge, settings, calls=lambda: 0, state=None):
    state = state or LoopState()
    return list(dialin_loop(vectors, texts, judge, random_sample, settings, calls, state)), state


def test_first_search_space_is_geometric_and_later_ones_centre_on_the_predicted_k():
    settings = LoopSettings(k_min=5, k_max=150, n_candidates=5, k_choice="ratio")
    first = candidate_ks(3000, settings, None)
    assert first[0] == 5 and first[-1] == 150 and len(first) == 5
    assert candidate_ks(1000, settings, previous=(100, 2000)) == [25, 35, 50, 70, 100]
    assert max(candidate_ks(40, settings, None)) <= 10  # never more clusters than n / 4


def test_a_silhouette_loop_scans_a_fine_grid_first_and_then_keeps_the_intent_density():
    settings = LoopSettings(k_min=5, k_max=150)
    first = candidate_ks(3000, settings, None)
    assert first[0] == 5 and first[-1] == 150 and len(first) == SILHOUETTE_GRID
    assert candidate_ks(1000, settings, previous=(100, 2000)) == [50]


def test_a_flat_silhouette_chooses_the_centre_of_its_plateau_and_a_peak_chooses_itself():
    """Silhouettes shaped as on BANKING77's manifold (flat within 5% from 40 to 150, best at the low end) point
    at the plateau's centre; a k that stands out is chosen alone; ties go to the smaller k."""
    flat = {22: 0.616, 29: 0.652, 40: 0.685, 46: 0.671, 53: 0.670, 62: 0.692, 72: 0.672, 83: 0.666, 96: 0.661,
            112: 0.672, 129: 0.666, 150: 0.668}
    assert 66 <= plateau_centre(flat) <= 84
    assert plateau_centre(flat, tolerance=0.0) == 62  # no tolerance: the argmax
    assert plateau_centre({10: 0.30, 12: 0.62, 15: 0.31, 20: 0.25}) == 12
    assert plateau_centre({10: 0.5, 12: 0.5}, tolerance=0.0) == 10
    skewed = {20: 0.60, 30: 0.60, 40: 0.59, 60: 0.40}  # the edge's k counts for less than the best's
    assert 24 < plateau_centre(skewed) < 30


@pytest.mark.parametrize("clustering", ["ward", "kmeans"])
def test_the_silhouette_finds_intents_where_the_ratio_keeps_fragments(clustering):
    """A perfect coherence judge calls every fragment good, so the Dial-In paper's ratio picks the largest k; the
    silhouette picks the k of the blobs, and the loop keeps one cluster per intent."""
    vectors, labels = blobs(12, 30, 0.15)
    common = {"k_min": 4, "k_max": 60, "max_iterations": 3, "clustering": clustering}
    _, by_ratio = run(vectors, blob_texts(labels), PurityOracle(), LoopSettings(k_choice="ratio", **common))
    events, by_silhouette = run(vectors, blob_texts(labels), PurityOracle(), LoopSettings(**common))
    assert len(by_ratio.kept) > 12  # fragments
    assert len(by_silhouette.kept) == 12 and all(c.judgement.good for c in by_silhouette.kept)
    assert adjusted_rand_score(labels, kept_labels(len(vectors), by_silhouette.kept)) == pytest.approx(1.0)
    first = [e for e in events if isinstance(e, CandidateJudged)]
    assert first[0].k == 12 and first[0].silhouette > 0.2


def test_the_remainder_is_kept_with_its_verdicts_when_no_cluster_is_good():
    vectors, labels = blobs(6, 20, 0.25)
    never = lambda cases, allowance: [Judgement(0.2, "test") for _ in cases]  # noqa: E731
    judge = type("Never", (), {"judge_all": staticmethod(never)})()
    events, state = run(vectors, blob_texts(labels), judge, LoopSettings(k_min=2, k_max=20))
    remainder = [e for e in events if isinstance(e, RemainderKept)]
    assert len(remainder) == 1 and isinstance(events[-1], LoopStopped) and "no good cluster" in events[-1].reason
    assert len(state.kept) == 6 and not any(c.judgement.good for c in state.kept)
    assert state.unassigned(len(vectors)).size == 0
    _, dropped = run(vectors, blob_texts(labels), judge, LoopSettings(k_min=2, k_max=20, keep_remainder=False))
    assert dropped.kept == []


def test_the_loop_clusters_the_coordinates_it_is_given_and_judges_the_vectors():
    vectors, labels = blobs(6, 20, 0.25)
    scrambled = np.random.default_rng(1).permutation(len(vectors))
    coordinates = vectors[scrambled]  # clusters of these points are random mixes of the blobs
    state = LoopState()
    events = list(dialin_loop(vectors, blob_texts(labels), PurityOracle(), random_sample, LoopSettings(k_min=2, k_max=20, max_iterations=1),
                              lambda: 0, state, coordinates))
    kept = kept_labels(len(vectors), state.kept)
    assert not any(c.judgement.good for c in state.kept)
    assert adjusted_rand_score(labels[scrambled], kept) > 0.5 > 0.1 > adjusted_rand_score(labels, kept)


def test_good_bad_ratio_floors_bad_at_one():
    good, bad = Judgement(0.9, "x"), Judgement(0.1, "x")
    assert good_bad_ratio([good, good, bad]) == 2.0
    assert good_bad_ratio([good, good]) == 2.0


@pytest.mark.parametrize("clustering", ["ward", "kmeans"])
def test_loop_with_a_perfect_judge_keeps_only_pure_clusters_and_reports_each_step(clustering):
    """A coherence judge cannot see that a pure cluster is a fragment of an intent: that is for merging."""
    vectors, labels = blobs(12, 30, 0.25)
    settings = LoopSettings(k_min=4, k_max=40, max_iterations=6, clustering=clustering, k_choice="ratio", keep_remainder=False)
    events, state = run(vectors, blob_texts(labels), PurityOracle(), settings)
    kinds = Counter(type(e).__name__ for e in events)
    assert kinds["CandidateJudged"] >= 5 and kinds["IterationDone"] >= 1 and isinstance(events[-1], LoopStopped)
    first_iteration = [e for e in events if isinstance(e, CandidateJudged) and e.iteration == 1]
    assert len(first_iteration) == 5 and all(e.n_items == 360 for e in first_iteration)
    kept = kept_labels(len(vectors), state.kept)
    assert homogeneity_score(labels[kept != NOISE], kept[kept != NOISE]) == pytest.approx(1.0)
    assert normalized_mutual_info_score(labels, assign_leftovers(vectors, kept, min_cosine=0.0)) > 0.8
    kept_members = np.concatenate([c.members for c in state.kept])
    assert len(kept_members) == len(set(kept_members.tolist()))  # no utterance kept twice


def test_leftovers_join_the_nearest_cluster_only_when_close_enough():
    vectors = np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0], [0.6, 0.8]])
    labels = np.array([0, NOISE, 1, NOISE])
    assert assign_leftovers(vectors, labels, min_cosine=0.9).tolist() == [0, 0, 1, NOISE]
    assert assign_leftovers(vectors, labels, min_cosine=0.0).tolist() == [0, 0, 1, 1]


def test_small_clusters_are_never_kept_nor_shown_to_the_judge():
    vectors, labels = blobs(6, 3, 0.05)  # blobs of 3 utterances
    oracle = PurityOracle()
    settings = LoopSettings(k_min=2, k_max=6, min_cluster_size=5, min_remainder=4, k_choice="ratio", keep_remainder=False)
    events, state = run(vectors, blob_texts(labels), oracle, settings)
    assert state.kept == [] and oracle.cases <= 2 * 5
    assert "no good cluster" in events[-1].reason


def test_an_llm_only_judge_stops_the_loop_when_the_budget_cannot_cover_a_clustering():
    vectors, labels = blobs(6, 20, 0.25)
    llm = ScriptedLLM(lambda _: verdict_response(0.9))
    judge = LLMOnlyJudge(LLMJudge(llm))
    settings = LoopSettings(k_min=3, k_max=12, judge_llm_calls=20, max_iterations=2, n_candidates=2, k_choice="ratio")
    events, _ = run(vectors, blob_texts(labels), judge, settings, calls=lambda: len(llm.requests))
    assert isinstance(events[-1], LoopStopped) and "budget" in events[-1].reason
    assert len(llm.requests) <= 20


def flat_cohesion(probability: float) -> CohesionJudge:
    """A cohesion model that says `probability` for every cluster (zero weights, fitted intercept)."""
    logit = float(np.log(probability / (1 - probability)))
    n = len(FEATURES)
    return CohesionJudge(CohesionModel("toy", (0.0,) * n, (1.0,) * n, (0.0,) * n, logit, {}))


def test_the_cascade_asks_the_llm_only_about_uncertain_clusters_within_its_allowance():
    cases = [ClusterCase([f"s{i}"], np.zeros(len(FEATURES))) for i in range(6)]
    llm = ScriptedLLM(lambda _: verdict_response(0.99))
    uncertain = CascadeJudge(flat_cohesion(0.45), LLMJudge(llm)).judge_all(cases, llm_allowance=4)
    assert len(llm.requests) == 4
    assert [j.judged_by for j in uncertain].count("cascade") == 4
    assert all(j.good for j in uncertain if j.judged_by == "cascade")  # the LLM's confident Good tips them
    assert not any(j.good for j in uncertain if j.judged_by == "cohesion")
    certain = CascadeJudge(flat_cohesion(0.95), LLMJudge(llm)).judge_all(cases, llm_allowance=10)
    assert len(llm.requests) == 4 and {j.judged_by for j in certain} == {"cohesion"}


def test_the_cascade_budget_per_candidate_bounds_the_whole_loop():
    vectors, labels = blobs(10, 20, 0.3)
    llm = ScriptedLLM(lambda _: verdict_response(0.7))
    judge = CascadeJudge(flat_cohesion(0.5), LLMJudge(llm))
    settings = LoopSettings(k_min=4, k_max=30, judge_llm_calls=50, max_iterations=2, n_candidates=5, k_choice="ratio")
    events, _ = run(vectors, blob_texts(labels), judge, settings, calls=lambda: len(llm.requests))
    per_candidate = [e.llm_calls for e in events if isinstance(e, CandidateJudged)]
    assert per_candidate and max(per_candidate) <= 50 // (2 * 5) and len(llm.requests) <= 50


def test_a_resumed_loop_continues_from_its_state_without_repeating_iterations():
    vectors, labels = blobs(12, 30, 0.25)
    texts = blob_texts(labels)
    settings = LoopSettings(k_min=4, k_max=40, max_iterations=4)
    full, full_state = run(vectors, texts, PurityOracle(), settings)
    partial_state = LoopState()
    loop = dialin_loop(vectors, texts, PurityOracle(), random_sample, settings, lambda: 0, partial_state)
    first_done = next(e for e in loop if isinstance(e, IterationDone))
    resumed, resumed_state = run(vectors, texts, PurityOracle(), settings, state=partial_state)
    assert all(e.iteration > first_done.iteration for e in resumed if isinstance(e, CandidateJudged))
    assert [len(c.members) for c in resumed_state.kept] == [len(c.members) for c in full_state.kept]
