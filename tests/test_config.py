"""The run configuration: defaults a first-time user gets, and clear refusals of impossible settings."""

import pytest

from dialin_core.config import DEFAULT_LLM_CALLS, RunConfig


def test_dialin_is_the_default_method_and_its_budget_follows_the_back_end():
    assert RunConfig().method == "dialin"
    assert RunConfig(llm="local").llm_call_budget == DEFAULT_LLM_CALLS["local"]
    assert RunConfig(llm="openai").llm_call_budget == 600
    assert RunConfig(llm="openai", max_llm_calls=50).llm_call_budget == 50
    assert RunConfig(llm="none", judge="cohesion", max_llm_calls=50).llm_call_budget == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"k": 8}, "chooses k itself"),
        ({"llm": "none"}, "needs an LLM"),
        ({"judge": "oracle"}, "unknown judge"),
        ({"llm": "gpt"}, "unknown LLM back end"),
        ({"naming_share": 1.5}, "naming_share"),
        ({"loop_clustering": "spectral"}, "unknown loop clustering 'spectral'"),
    ],
)
def test_impossible_settings_are_refused_with_a_reason(settings, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**settings)


def test_runs_stored_before_ward_resume_with_the_k_means_they_started_with():
    stored = RunConfig().as_dict()
    assert RunConfig.from_dict(stored).loop_clustering == "ward"
    del stored["loop_clustering"]
    assert RunConfig.from_dict(stored).loop_clustering == "kmeans"


def test_the_llm_only_judge_gets_a_budget_that_judges_every_cluster_and_the_cost_is_said_up_front():
    cascade, seed_judge = RunConfig(llm="local"), RunConfig(llm="local", judge="llm")
    assert cascade.judging_calls == round(DEFAULT_LLM_CALLS["local"] * (1 - cascade.naming_share))
    assert seed_judge.llm_call_budget == DEFAULT_LLM_CALLS["local"] + 2 * seed_judge.k_max
    assert seed_judge.judging_calls >= 2 * seed_judge.k_max  # a first iteration at k_max can be judged whole
    assert "up to 100 LLM calls" in cascade.cost_estimate() and "min" in cascade.cost_estimate()
    assert RunConfig(llm="none", judge="cohesion").cost_estimate() == "no LLM calls"


def test_a_stored_setting_that_a_later_version_dropped_is_ignored_and_the_rest_kept():
    stored = {**RunConfig(k_max=90).as_dict(), "in_run_goodness": True}
    assert RunConfig.from_dict(stored) == RunConfig(k_max=90)
