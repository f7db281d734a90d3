"""LLM back ends behind one protocol, with a persistent call cache in front of them."""

from dialin_core.llm.base import ChatRequest, ChatResponse, LLMBackend, LLMError
from dialin_core.llm.cache import CachedLLM

__all__ = ["CachedLLM", "ChatRequest", "ChatResponse", "LLMBackend", "LLMError"]
