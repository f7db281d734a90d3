"""Any server that speaks the OpenAI chat-completions API: vLLM, llama.cpp server, Ollama, hosted APIs.

This is how a team scales the only heavy part of discovery: the LLM calls go to a serving engine that
batches across GPUs. Transient failures are retried with backoff (dialin_core.openai_http); a semaphore caps
the requests in flight so a shared server is not flooded; personal data in the prompts is masked before they
leave the machine unless the user opts out. Standard library (and the product's masker) only.
"""

import threading
from dataclasses import replace
from typing import Any

from dialin_core.data.pii import mask_pii
from dialin_core.llm.base import ChatRequest, ChatResponse, LLMError, merge_token_logprobs
from dialin_core.openai_http import OpenAISettings, post_json


class OpenAIBackend:
    name = "openai"

    def __init__(self, settings: OpenAISettings) -> None:
        self.settings = settings
        self.model = settings.model
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self.masks_pii = settings.mask_pii

    def chat(self, request: ChatRequest) -> ChatResponse:
        if self.masks_pii:
            request = replace(request, messages=tuple((role, mask_pii(content)) for role, content in request.messages))
        with self._slots:
            return parse_completion(self._post(request_body(request, self.model)))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        return post_json(self.settings, "/chat/completions", body, LLMError)


def request_body(request: ChatRequest, model: str) -> dict[str, Any]:
    """The JSON body: a GBNF grammar goes as llama.cpp's `grammar`, a schema as `response_format`."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": role, "content": content} for role, content in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if request.top_logprobs:
        body["logprobs"] = True
        body["top_logprobs"] = request.top_logprobs
    if request.grammar:
        body["grammar"] = request.grammar
    if request.json_schema:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": request.json_schema}}
    return body


def parse_completion(reply: dict[str, Any]) -> ChatResponse:
    try:
        choice = reply["choices"][0]
        text = choice["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as error:
        raise LLMError(f"the reply has no choices[0].message.content: {str(reply)[:200]}") from error
    first = ((choice.get("logprobs") or {}).get("content") or [{}])[0]
    alternatives = [(a["token"], a["logprob"]) for a in first.get("top_logprobs", [])]
    usage = reply.get("usage") or {}
    return ChatResponse(
        text=text,
        first_token_logprobs=merge_token_logprobs(alternatives),
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
    )
