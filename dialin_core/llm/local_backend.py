"""The default back end: llama.cpp in-process on a GGUF file, through one of two Python bindings.

`llama-cpp-python` is the design's binding; it ships no wheel, so installing it builds llama.cpp from source
(minutes: `scripts/llama_cpp_python.sh` builds and caches the wheel). `xllamacpp` ships prebuilt wheels and is
what a fresh install runs. The local back end takes llama-cpp-python where it is installed, else xllamacpp;
DIALIN_LLAMA_BINDING names one. Both answer alike (same GGUF, chat template, grammar, greedy decoding and
first-token probabilities; the tests hold them to two decimals), and the binding is not part of the cache key.

One model per process, loaded lazily and shared, because loading costs seconds and hundreds of MB. A LoRA
adapter (a tuned judge, `dialin_core.judging.llm_tuning`) is loaded beside the base file and named in the
back end's model, so the call cache never answers a tuned model's request with the untuned one's answer.
Decoding is greedy; grammars and JSON schemas constrain the output so every answer parses, and the
first token's alternatives give the verdict probability. One thread by default: on a 2-core laptop
that is also embedding and clustering, two llama.cpp threads fight for the cores and generation
collapses (docs/local-llm-research.md).
"""

import hashlib
import importlib.util
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from dialin_core.llm.base import ChatRequest, ChatResponse
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL, resolve_gguf
from dialin_core.llm.openai_backend import parse_completion, request_body

BINDINGS = ("llama-cpp-python", "xllamacpp")
BINDING_VARIABLE = "DIALIN_LLAMA_BINDING"


def default_binding() -> str:
    """The binding DIALIN_LLAMA_BINDING names, else llama-cpp-python where it is installed, else xllamacpp."""
    chosen = os.environ.get(BINDING_VARIABLE, "").strip()
    if chosen:
        if chosen not in BINDINGS:
            raise ValueError(f"{BINDING_VARIABLE}={chosen!r} names no llama.cpp binding: choose {' or '.join(BINDINGS)}")
        return chosen
    return "llama-cpp-python" if importlib.util.find_spec("llama_cpp") else "xllamacpp"


class LocalBackend:
    name = "local"

    def __init__(self, model: str = DEFAULT_LOCAL_MODEL, *, n_threads: int = 1, n_ctx: int = 4096, adapter: Path | None = None,
                 binding: str | None = None) -> None:
        self.model = model if not Path(model).is_file() else Path(model).name
        if adapter is not None:
            self.model += f"+{adapter_id(adapter)}"
        self.binding = binding or default_binding()
        # Loaded at the first request, not here: a run builds a back end for every tuned adapter it may use, and one
        # that is never asked (a judge taught on another language; every answer in the call cache) costs nothing.
        self._key = (self.binding, str(resolve_gguf(model)), n_threads, n_ctx, str(adapter) if adapter else None)
        self._loaded: tuple[Answer, threading.Lock] | None = None

    def chat(self, request: ChatRequest) -> ChatResponse:
        if self._loaded is None:
            with _LOADING:  # two threads' first requests load it once
                if self._loaded is None:
                    self._loaded = _load(*self._key)
        answer, lock = self._loaded
        with lock:
            return answer(request, self.model)


def adapter_id(adapter: Path) -> str:
    """The adapter's file name and the start of its content's sha256: a retrained adapter under an old name is
    another model to the cache."""
    digest = hashlib.sha256(Path(adapter).read_bytes()).hexdigest()
    return f"{Path(adapter).stem}-{digest[:12]}"


Answer = Callable[[ChatRequest, str], ChatResponse]
_LOADING = threading.Lock()


@lru_cache(maxsize=3)
def _load(binding: str, gguf_path: str, n_threads: int, n_ctx: int, adapter: str | None = None) -> tuple[Answer, threading.Lock]:
    """The shared model and its lock: one llama.cpp context answers one request at a time, whichever
    LocalBackend instance sends it. With an adapter it is another model (the weights file is mapped once by
    the operating system for both)."""
    if binding == "llama-cpp-python":
        from dialin_core.llm.llama_cpp_python import LlamaCppPython

        model = LlamaCppPython(gguf_path, n_threads=n_threads, n_ctx=n_ctx, adapter=adapter)
        return (lambda request, _name: model(request)), threading.Lock()
    server = _xllamacpp_server(gguf_path, n_threads, n_ctx, adapter)
    # llama.cpp's server speaks the OpenAI format in-process, so the served back end's body and parser serve
    return (lambda request, name: parse_completion(server.handle_chat_completions(request_body(request, name)))), threading.Lock()


def _xllamacpp_server(gguf_path: str, n_threads: int, n_ctx: int, adapter: str | None) -> object:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = gguf_path
    params.n_ctx = n_ctx
    params.n_batch = params.n_ubatch = 512
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = n_threads
    params.sampling.temp = 0
    params.sampling.top_k = 1
    params.warmup = False
    params.verbosity = 0
    # No prompt states kept in RAM (the server's default keeps up to 8 GiB of them and restores the closest on a
    # later request, so an answer depended on which prompts came long before it): the context keeps the previous
    # prompt, whose shared prefix the next one reuses, as llama-cpp-python's path does.
    params.cache_ram_mib = 0
    if adapter is not None:
        params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(adapter, 1.0)]
    return xllamacpp.Server(params)
