"""What every LLM back end accepts and returns, so the judge and namer never know which one runs.

Requests are plain data with a stable hash: the cache key is (backend, model, request hash), so the
same prompt with the same decoding settings is answered from the workspace on a re-run.
"""

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class LLMError(RuntimeError):
    """A back end could not answer; str() says which one and why."""


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion with greedy decoding by default and optional constraints on the output."""

    messages: tuple[tuple[str, str], ...]  # (role, content), role in system/user/assistant
    max_tokens: int = 32
    temperature: float = 0.0
    grammar: str | None = None  # GBNF, for back ends that take one (llama.cpp)
    json_schema: dict[str, Any] | None = None
    top_logprobs: int = 0  # > 0: return the first generated token's most likely alternatives

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "messages": [list(m) for m in self.messages]}

    def content_hash(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChatResponse:
    text: str
    first_token_logprobs: dict[str, float] = field(default_factory=dict)  # stripped token -> log p
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def probability_of(self, *answers: str) -> dict[str, float]:
        """Probabilities of the answers renormalised among themselves, from the first-token log-probs.

        The first token of "Good" may be " Good" or "Good": back ends report those separately, and
        they are summed under the stripped form before this is called.
        """
        mass = {a: math.exp(self.first_token_logprobs[a]) if a in self.first_token_logprobs else 0.0 for a in answers}
        total = sum(mass.values())
        if total == 0:
            return {a: (1.0 if self.text.strip().startswith(a) else 0.0) for a in answers}
        return {a: m / total for a, m in mass.items()}


def merge_token_logprobs(alternatives: list[tuple[str, float]]) -> dict[str, float]:
    """Sum the probability of tokens that differ only by surrounding whitespace."""
    mass: dict[str, float] = {}
    for token, logprob in alternatives:
        key = token.strip()
        mass[key] = mass.get(key, 0.0) + math.exp(logprob)
    return {token: math.log(p) for token, p in mass.items() if p > 0}


class LLMBackend(Protocol):
    """One model behind one API; `name` and `model` are part of the cache key."""

    name: str
    model: str

    def chat(self, request: ChatRequest) -> ChatResponse: ...
