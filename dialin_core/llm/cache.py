"""The persistent call cache and the per-run call counter, in front of any back end."""

import time
from dataclasses import asdict, dataclass

from dialin_core.data.store import Store
from dialin_core.llm.base import ChatRequest, ChatResponse, LLMBackend


@dataclass
class CallCounts:
    calls: int = 0  # answered by the model
    cached_calls: int = 0  # answered from the workspace
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class CachedLLM:
    """Answers a request from the workspace when the same backend, model and request were seen.

    `counts` may be shared: a run whose judge or namer is the local model with a tuned adapter (another
    server, so another CachedLLM) spends one call budget, and every call must count against it."""

    def __init__(self, backend: LLMBackend, store: Store, counts: CallCounts | None = None) -> None:
        self.backend = backend
        self.store = store
        self.counts = counts if counts is not None else CallCounts()

    def chat(self, request: ChatRequest) -> ChatResponse:
        key = request.content_hash()
        cached = self.store.cached_llm_response(self.backend.name, self.backend.model, key)
        if cached is not None:
            self.counts.cached_calls += 1
            return ChatResponse(**cached)
        started = time.perf_counter()
        response = self.backend.chat(request)
        self.store.put_llm_response(
            self.backend.name,
            self.backend.model,
            key,
            request=request.as_dict(),
            response=asdict(response),
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            seconds=time.perf_counter() - started,
        )
        self.counts.calls += 1
        self.counts.prompt_tokens += response.prompt_tokens
        self.counts.completion_tokens += response.completion_tokens
        return response
