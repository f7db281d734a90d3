"""Judge and namer: prompts from templates, constrained answers, probabilities, valid unique names."""

import re

import pytest

from dialin_core.judging.llm_judge import VERDICT_GRAMMAR, LLMJudge
from dialin_core.llm.base import ChatResponse
from dialin_core.naming.names import (
    ACTION_VERBS,
    LLMNamer,
    name_grammar,
    name_role,
    unique_name,
    validate_intent_name,
)
from tests.fakes import ScriptedLLM, verdict_response

CARD_ARRIVAL = ["where is my new card", "my card still hasn't arrived", "when will the card come"]


def test_judge_sends_the_sentences_under_a_good_bad_grammar_and_reads_the_probability():
    llm = ScriptedLLM(lambda _: verdict_response(0.8))
    verdict = LLMJudge(llm).judge(CARD_ARRIVAL)
    assert (verdict.verdict, verdict.probability_good) == ("good", pytest.approx(0.8))
    (request,) = llm.requests
    assert request.grammar == VERDICT_GRAMMAR and request.max_tokens == 1 and request.top_logprobs > 0
    assert request.messages[0][0] == "system" and "Good" in request.messages[0][1]
    assert "1. where is my new card\n2. my card still hasn't arrived" in request.messages[-1][1]


def test_judge_threshold_decides_the_verdict():
    llm = ScriptedLLM(lambda _: verdict_response(0.6))
    assert LLMJudge(llm, threshold=0.7).judge(CARD_ARRIVAL).verdict == "bad"


def test_judge_few_shot_examples_come_as_earlier_turns():
    llm = ScriptedLLM(lambda _: verdict_response(0.3))
    LLMJudge(llm, few_shot=True).judge(CARD_ARRIVAL)
    roles = [role for role, _ in llm.requests[0].messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [content for role, content in llm.requests[0].messages if role == "assistant"] == ["Good", "Bad"]


def test_judge_refuses_an_empty_cluster():
    with pytest.raises(ValueError, match="empty cluster"):
        LLMJudge(ScriptedLLM(lambda _: verdict_response(0.5))).judge([])


def test_namer_constrains_to_allowed_verbs_and_keeps_names_unique():
    llm = ScriptedLLM(lambda _: ChatResponse(text="inquire-card_arrival"))
    namer = LLMNamer(llm)
    assert namer.name(CARD_ARRIVAL) == "inquire-card_arrival"
    assert namer.name(CARD_ARRIVAL, taken={"inquire-card_arrival"}) == "inquire-card_arrival_2"
    assert llm.requests[0].grammar == name_grammar()
    assert "inquire, check, report" in llm.requests[0].messages[0][1]


def test_a_name_that_breaks_the_form_is_rejected_with_an_example():
    with pytest.raises(ValueError, match="not an action-objective name.*inquire-balance"):
        validate_intent_name("Balance Inquiry")
    for bad in ("fly-to_moon", "inquire-", "inquire-Balance", "inquire_balance", "inquire-a"):
        with pytest.raises(ValueError):
            validate_intent_name(bad)
    assert validate_intent_name("report-lost_card") == "report-lost_card"


def test_grammar_lists_every_verb_once():
    grammar = name_grammar()
    assert grammar.startswith('root ::= verb "-" word')
    assert re.findall(r'"([a-z]+)"', grammar.split("\n")[1]) == list(ACTION_VERBS)


def test_roles_follow_the_verb():
    assert name_role("inquire-balance") == "customer"
    assert name_role("explain-fees") == "agent"
    assert name_role("chitchat-weather") == "other"


def test_unique_name_counts_up_and_stays_valid():
    name = unique_name("check-balance", {"check-balance", "check-balance_2"})
    assert name == "check-balance_3"
    assert validate_intent_name(name) == name


def test_base_name_drops_only_the_uniqueness_tail():
    from dialin_core.naming.names import base_name

    assert base_name("request-refund_12") == "request-refund"
    assert base_name("report-lost_card") == "report-lost_card"
    assert base_name(unique_name("inquire-balance", {"inquire-balance"})) == "inquire-balance"
