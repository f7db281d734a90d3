"""What every LLM feature builds on: something that answers a chat request, few-shot examples as earlier
turns, and a grammar that allows only one of a list of answers."""

import json
from collections.abc import Callable, Sequence
from typing import Protocol

from dialin_core import prompts
from dialin_core.llm.base import ChatRequest, ChatResponse


class ChatModel(Protocol):
    """A back end or the per-run cache in front of one: the judge, namer and labellers need no more."""

    def chat(self, request: ChatRequest) -> ChatResponse: ...


def few_shot_turns(name: str, render: Callable[[list[str]], str]) -> tuple[tuple[str, str], ...]:
    """The examples stored as `<name>_examples.json`, as earlier user/assistant turns: the format instruct
    models follow best."""
    turns: list[tuple[str, str]] = []
    for example in prompts.examples(name):
        turns += [("user", render(example["sentences"])), ("assistant", example["answer"])]
    return tuple(turns)


def choice_grammar(labels: Sequence[str]) -> str:
    """GBNF whose only sentences are the labels (JSON string escaping is GBNF's literal syntax)."""
    return "root ::= " + " | ".join(json.dumps(label, ensure_ascii=False) for label in labels)
