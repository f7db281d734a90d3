"""Any server that speaks the OpenAI chat-completions API: vLLM, llama.cpp server, Ollama, hosted APIs.

This is how a team scales the only heavy part of discovery: the LLM calls go to a serving engine that
batches across GPUs. Transient failures (timeouts, 429, 5xx) are retried with exponential backoff;
a semaphore caps the requests in flight so a shared server is not flooded; personal data in the prompts
is masked before they leave the machine unless the user opts out. Standard library (and the product's masker) only.
"""

import json
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any

from dialin_core.data.pii import mask_pii
from dialin_core.llm.base import ChatRequest, ChatResponse, LLMError, merge_token_logprobs

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str  # e.g. http://localhost:8000/v1
    model: str
    api_key: str | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 4
    backoff_seconds: float = 1.0
    max_concurrency: int = 4
    # Personal data in prompts is masked before they leave the machine (dialin_core.data.pii), unless
    # DIALIN_OPENAI_SEND_PII=1 says the server may see it (a server of one's own, say); the run's summary records it.
    mask_pii: bool = True

    @classmethod
    def from_env(cls, model: str | None = None, base_url: str | None = None) -> "OpenAISettings":
        """DIALIN_OPENAI_BASE_URL / OPENAI_BASE_URL, DIALIN_OPENAI_MODEL, OPENAI_API_KEY, unless given."""
        url = base_url or os.environ.get("DIALIN_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        name = model or os.environ.get("DIALIN_OPENAI_MODEL")
        if not url or not name:
            raise ValueError(
                "the openai back end needs a base URL and a model: pass them, or set DIALIN_OPENAI_BASE_URL "
                "and DIALIN_OPENAI_MODEL"
            )
        return cls(base_url=url.rstrip("/"), model=name, api_key=os.environ.get("OPENAI_API_KEY"),
                   mask_pii=os.environ.get("DIALIN_OPENAI_SEND_PII", "") not in ("1", "true", "yes"))


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
        url = f"{self.settings.base_url}/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        data = json.dumps(body).encode("utf-8")
        last_problem = ""
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                time.sleep(self.settings.backoff_seconds * 2 ** (attempt - 1))
            try:
                http_request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(http_request, timeout=self.settings.timeout_seconds) as reply:
                    return json.loads(reply.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                detail = error.read().decode("utf-8", "replace")[:300]
                last_problem = f"HTTP {error.code}: {detail}"
                if error.code not in RETRYABLE_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                last_problem = str(getattr(error, "reason", error))
            except json.JSONDecodeError:
                last_problem = "the reply is not JSON"
                break
        raise LLMError(f"{url} did not answer: {last_problem}")


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
