"""Opening the back end a run's configuration names: `local` (llama.cpp on a GGUF) or `openai`."""

from dialin_core.llm.base import LLMBackend
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL


def open_backend(kind: str, model: str | None = None) -> LLMBackend:
    """`model` is a packaged model name or a GGUF path for local, the served model name for openai."""
    if kind == "local":
        from dialin_core.llm.local_backend import LocalBackend

        return LocalBackend(model or DEFAULT_LOCAL_MODEL)
    if kind == "openai":
        from dialin_core.llm.openai_backend import OpenAIBackend, OpenAISettings

        return OpenAIBackend(OpenAISettings.from_env(model=model))
    raise ValueError(f"unknown LLM back end '{kind}': choose local or openai")
