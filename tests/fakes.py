"""A deterministic stand-in for an LLM, for control-flow tests (every feature also has a real-model test)."""

import math
from collections.abc import Callable

from dialin_core.llm.base import ChatRequest, ChatResponse


class ScriptedLLM:
    """Answers each request with `answer(request)`, recording every request it was sent."""

    name = "scripted"
    model = "scripted-1"

    def __init__(self, answer: Callable[[ChatRequest], ChatResponse]) -> None:
        self.answer = answer
        self.requests: list[ChatRequest] = []

    def chat(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        return self.answer(request)


def verdict_response(probability_good: float) -> ChatResponse:
    text = "Good" if probability_good >= 0.5 else "Bad"
    logprobs = {"Good": math.log(probability_good), "Bad": math.log(1 - probability_good)}
    return ChatResponse(text=text, first_token_logprobs=logprobs, prompt_tokens=50, completion_tokens=1)
