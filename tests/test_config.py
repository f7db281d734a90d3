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
