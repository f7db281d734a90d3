"""The local llama.cpp back end with the real packaged model: constrained answers, probabilities, cache."""

import json
import re
from dataclasses import replace

import pytest

from dialin_core.data.store import Store
from dialin_core.llm.base import ChatRequest
from dialin_core.llm.cache import CachedLLM
from dialin_core.llm.local_backend import BINDING_VARIABLE, BINDINGS, LocalBackend, _load, default_binding
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL, PACKAGED_GGUFS, assemble, resolve_gguf

QUERIES = "\n".join(["how do I top up my card", "can I add money with a cheque", "where can I top up"])
VERDICT = ChatRequest(
    messages=(("system", "Answer Good if these customer queries share one intent, Bad otherwise."), ("user", QUERIES)),
    max_tokens=1,
    grammar='root ::= "Good" | "Bad"',
    top_logprobs=10,
)


@pytest.fixture(scope="module", params=BINDINGS)
def backend(request) -> LocalBackend:
    """Each test on both llama.cpp bindings: llama-cpp-python (built from source by the test command) and xllamacpp."""
    return LocalBackend(binding=request.param)


def test_grammar_constrained_verdict_carries_a_probability(backend):
    response = backend.chat(VERDICT)
    assert response.text in {"Good", "Bad"}
    probabilities = response.probability_of("Good", "Bad")
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert probabilities[response.text] > 0.5  # greedy decoding picked the likelier answer
    assert response.prompt_tokens > 20 and response.completion_tokens == 1


def test_json_schema_output_parses_and_follows_its_patterns(backend):
    schema = {
        "type": "object",
        "properties": {"action": {"type": "string", "pattern": "^[a-z]{2,12}$"}, "objective": {"type": "string", "pattern": "^[a-z_]{2,30}$"}},
        "required": ["action", "objective"],
    }
    request = ChatRequest(messages=(("system", "Name the intent as an action and an objective."), ("user", QUERIES)), max_tokens=40, json_schema=schema)
    answer = json.loads(backend.chat(request).text)
    assert re.fullmatch(r"[a-z]{2,12}", answer["action"]) and re.fullmatch(r"[a-z_]{2,30}", answer["objective"])


def test_a_rerun_is_answered_from_the_workspace(backend, tmp_path):
    with Store(tmp_path / "w.duckdb") as store:
        llm = CachedLLM(backend, store)
        first, second = llm.chat(VERDICT), llm.chat(VERDICT)
    assert first == second
    assert (llm.counts.calls, llm.counts.cached_calls) == (1, 1)


def test_a_backend_loads_its_model_at_its_first_request_and_a_cached_answer_loads_nothing(tmp_path):
    """A run builds a back end for each tuned adapter it may use; one never asked (a judge taught on another
    language, or every answer in the call cache) must cost no model in memory."""
    from dialin_core.judging.llm_tuning import shipped_path

    with Store(tmp_path / "w.duckdb") as store:
        before = _load.cache_info().misses
        first = CachedLLM(LocalBackend(adapter=shipped_path(), n_ctx=2048), store)  # a key no other test loads
        assert _load.cache_info().misses == before  # built, not loaded
        answered = first.chat(VERDICT)
        assert _load.cache_info().misses == before + 1 and answered.text in {"Good", "Bad"}
        again = CachedLLM(LocalBackend(adapter=shipped_path(), n_ctx=1024), store)  # another key, the same model name
        assert again.chat(VERDICT) == answered and again.counts.cached_calls == 1
        assert _load.cache_info().misses == before + 1  # answered from the workspace: nothing loaded


def test_joined_model_is_verified_against_its_pinned_hash(tmp_path):
    assert resolve_gguf(DEFAULT_LOCAL_MODEL).stat().st_size == PACKAGED_GGUFS[DEFAULT_LOCAL_MODEL].size
    tampered = replace(PACKAGED_GGUFS[DEFAULT_LOCAL_MODEL], sha256="0" * 64)
    with pytest.raises(ValueError, match="not the pinned 0000"):
        assemble("tampered", tampered, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left to be loaded later


def test_unknown_model_names_say_what_to_use():
    with pytest.raises(ValueError, match="unknown local model 'gpt-5'.*qwen2.5-coder-0.5b"):
        resolve_gguf("gpt-5")


def test_real_model_judges_and_names_a_cluster(backend):
    from dialin_core.judging.llm_judge import LLMJudge
    from dialin_core.naming.names import LLMNamer, validate_intent_name

    sentences = QUERIES.split("\n")
    verdict = LLMJudge(backend).judge(sentences)
    assert verdict.verdict in {"good", "bad"} and 0.0 <= verdict.probability_good <= 1.0
    assert (verdict.verdict == "good") == (verdict.probability_good >= 0.5)
    name = LLMNamer(backend).name(sentences, taken={"inquire-balance"})
    assert validate_intent_name(name) == name and name != "inquire-balance"


def _banking_clusters() -> list[list[str]]:
    """Eight BANKING77 test clusters a judge sees: four pure intents and four mixes of two."""
    import pandas as pd

    from tests.conftest import BANKING77_TEST

    frame = pd.read_csv(BANKING77_TEST)
    by_intent = [group["text"].tolist()[:8] for _, group in frame.groupby("category", sort=True)]
    pure = by_intent[:4]
    mixed = [a[:4] + b[:4] for a, b in zip(by_intent[4:8], by_intent[8:12])]
    return pure + mixed


def test_both_bindings_give_the_judge_the_same_verdict_probabilities_to_two_decimals():
    from dialin_core.judging.llm_judge import LLMJudge
    from dialin_core.judging.llm_tuning import shipped_path

    clusters = _banking_clusters()
    # Both freshly loaded, so both are asked the same questions in the same order: each keeps the prefix its previous
    # prompt shares with the next, and llama.cpp's numbers depend a little on how a prompt was split into batches
    # (asked after another prompt, a probability here moved by up to 0.02 on either binding).
    _load.cache_clear()
    for adapter in (None, shipped_path()):
        by_binding = {b: [LLMJudge(LocalBackend(adapter=adapter, binding=b)).judge(c).probability_good for c in clusters]
                      for b in BINDINGS}
        assert by_binding["llama-cpp-python"] == pytest.approx(by_binding["xllamacpp"], abs=0.005), adapter
        assert len({round(p, 2) for p in by_binding["xllamacpp"]}) > 1  # verdicts of different clusters, not one constant


def test_the_binding_is_llama_cpp_python_where_installed_and_the_variable_chooses(monkeypatch):
    monkeypatch.delenv(BINDING_VARIABLE, raising=False)
    assert default_binding() == "llama-cpp-python"  # the test command builds and installs it
    monkeypatch.setenv(BINDING_VARIABLE, "xllamacpp")
    assert default_binding() == "xllamacpp"
    monkeypatch.setenv(BINDING_VARIABLE, "llama.cpp")
    with pytest.raises(ValueError, match="names no llama.cpp binding: choose llama-cpp-python or xllamacpp"):
        default_binding()
