"""The LLM back ends a run's configuration names, in one registry: `local` (llama.cpp on a GGUF) or
`openai` (any OpenAI-compatible server). A new back end is one module with an `LLMBackend` and one entry
in `BACKENDS`, with what it costs: the run's default call budget and the measured seconds per call."""

from collections.abc import Callable
from dataclasses import dataclass

from dialin_core.llm.base import LLMBackend
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL


@dataclass(frozen=True)
class BackendSpec:
    open: Callable[[str | None], LLMBackend]  # the model name (None: the back end's default) -> a back end
    default_calls: int  # a run's call budget when none is given: what fits about ten minutes
    seconds_per_call: float  # measured (BENCHMARKS.md), for the estimate said before a run starts


def _local(model: str | None) -> LLMBackend:
    from dialin_core.llm.local_backend import LocalBackend

    return LocalBackend(model or DEFAULT_LOCAL_MODEL)


def _openai(model: str | None) -> LLMBackend:
    from dialin_core.llm.openai_backend import OpenAIBackend
    from dialin_core.openai_http import OpenAISettings

    return OpenAIBackend(OpenAISettings.from_env(model=model))


# The packaged 0.5B model takes about 3 s per naming call on 2 cores, so 100 calls fit a ten-minute run with
# room for embedding and the loop; a served model answers in well under a second, and 600 is the Dial-In
# paper's cost on BANKING77.
BACKENDS: dict[str, BackendSpec] = {
    "local": BackendSpec(_local, default_calls=100, seconds_per_call=3.0),
    "openai": BackendSpec(_openai, default_calls=600, seconds_per_call=0.5),
}


def open_backend(kind: str, model: str | None = None) -> LLMBackend:
    """`model` is a packaged model name or a GGUF path for local, the served model name for openai."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown LLM back end '{kind}': choose {' or '.join(BACKENDS)}")
    return BACKENDS[kind].open(model)
