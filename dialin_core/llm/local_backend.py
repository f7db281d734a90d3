"""The default back end: llama.cpp in-process (the prebuilt `xllamacpp` binding) on a GGUF file.

One model per process, loaded lazily and shared, because loading costs seconds and hundreds of MB. A LoRA
adapter (a tuned judge, `dialin_core.judging.llm_tuning`) is loaded beside the base file and named in the
back end's model, so the call cache never answers a tuned model's request with the untuned one's answer.
Decoding is greedy; grammars and JSON schemas constrain the output so every answer parses, and the
first token's alternatives give the verdict probability. One thread by default: on a 2-core laptop
that is also embedding and clustering, two llama.cpp threads fight for the cores and generation
collapses (docs/local-llm-research.md).
"""

import hashlib
import threading
from functools import lru_cache
from pathlib import Path

from dialin_core.llm.base import ChatRequest, ChatResponse
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL, resolve_gguf
from dialin_core.llm.openai_backend import parse_completion, request_body


class LocalBackend:
    name = "local"

    def __init__(self, model: str = DEFAULT_LOCAL_MODEL, *, n_threads: int = 1, n_ctx: int = 4096, adapter: Path | None = None) -> None:
        self.model = model if not Path(model).is_file() else Path(model).name
        if adapter is not None:
            self.model += f"+{adapter_id(adapter)}"
        self._server, self._lock = _load_server(str(resolve_gguf(model)), n_threads, n_ctx, str(adapter) if adapter else None)

    def chat(self, request: ChatRequest) -> ChatResponse:
        """llama.cpp's server speaks the OpenAI format in-process, so the same body and parser serve."""
        with self._lock:
            reply = self._server.handle_chat_completions(request_body(request, self.model))
        return parse_completion(reply)


def adapter_id(adapter: Path) -> str:
    """The adapter's file name and the start of its content's sha256: a retrained adapter under an old name is
    another model to the cache."""
    digest = hashlib.sha256(Path(adapter).read_bytes()).hexdigest()
    return f"{Path(adapter).stem}-{digest[:12]}"


@lru_cache(maxsize=3)
def _load_server(gguf_path: str, n_threads: int, n_ctx: int, adapter: str | None = None) -> tuple[object, threading.Lock]:
    """The shared server and its lock: one llama.cpp context answers one request at a time, whichever
    LocalBackend instance sends it. With an adapter it is another server (the weights file is mapped once by
    the operating system for both)."""
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
    if adapter is not None:
        params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(adapter, 1.0)]
    return xllamacpp.Server(params), threading.Lock()
