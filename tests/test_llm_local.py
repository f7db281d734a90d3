"""The local llama.cpp back end with the real packaged model: constrained answers, probabilities, cache."""

import json
import re
from dataclasses import replace

import pytest

from dialin_core.data.store import Store
from dialin_core.llm.base import ChatRequest
from dialin_core.llm.cache import CachedLLM
from dialin_core.llm.local_backend import LocalBackend
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL, PACKAGED_GGUFS, assemble, resolve_gguf

QUERIES = "\n".join(["how do I top up my card", "can I add money with a cheque", "where can I top up"])
VERDICT = ChatRequest(
    messages=(("system", "Answer Good if these customer queries share one intent, Bad otherwise."), ("user", QUERIES)),
    max_tokens=1,
    grammar='root ::= "Good" | "Bad"',
    top_logprobs=10,
)


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend()


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
