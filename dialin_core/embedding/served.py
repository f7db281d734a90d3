"""Embeddings from a server that speaks the OpenAI `/v1/embeddings` API (TEI, vLLM, Ollama, llama.cpp server,
hosted APIs): the way past one machine's cores when the data set has millions of utterances.

Named `openai:MODEL` wherever an embedder is named (`--embedder openai:bge-small-en`, the Discover page), and
that name keys the workspace's vector cache like a packaged model's, so a rerun asks the server for nothing it
answered before. Texts go in batches, several batches in flight up to the settings' concurrency cap, each
retried with backoff on transient failures (dialin_core.openai_http); the vectors come back in the order
sent (by each item's `index`) and L2-normalised, as every embedder's are. Personal data is masked before the
texts leave the machine unless DIALIN_OPENAI_SEND_PII=1, as for the served LLM.

The server's location: DIALIN_OPENAI_EMBEDDINGS_BASE_URL, else the LLM's DIALIN_OPENAI_BASE_URL or
OPENAI_BASE_URL; OPENAI_API_KEY when it wants a key.
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dialin_core.data.pii import mask_pii
from dialin_core.embedding.models import SERVED_PREFIX
from dialin_core.openai_http import OpenAISettings, post_json

URL_VARIABLE = "DIALIN_OPENAI_EMBEDDINGS_BASE_URL"
BATCH_SIZE = 128  # texts per request: what TEI and vLLM accept by default, and small enough to retry cheaply


class EmbeddingServerError(ValueError):
    """The embedding server did not answer, or answered something that is not embeddings of what was sent."""


class OpenAIEmbedder:
    """An embedder whose vectors a server computes."""

    def __init__(self, settings: OpenAISettings, batch_size: int = BATCH_SIZE) -> None:
        self.settings = settings
        self.name = f"{SERVED_PREFIX}{settings.model}"
        self.batch_size = batch_size
        self.masks_pii = settings.mask_pii

    @classmethod
    def named(cls, name: str) -> "OpenAIEmbedder":
        """The embedder for `openai:MODEL`, at the server the environment names."""
        model = name.removeprefix(SERVED_PREFIX).strip()
        if not model:
            raise ValueError(f"'{name}' names no model: write {SERVED_PREFIX}MODEL, the name the embedding server serves")
        return cls(OpenAISettings.from_env(model=model, url_variable=URL_VARIABLE))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        sent = [mask_pii(t) for t in texts] if self.masks_pii else list(texts)
        batches = [sent[i : i + self.batch_size] for i in range(0, len(sent), self.batch_size)]
        if not batches:
            return np.zeros((0, 0), dtype=np.float32)
        with ThreadPoolExecutor(max_workers=self.settings.max_concurrency) as pool:
            vectors = list(pool.map(self._embed, batches))
        return np.concatenate(vectors)

    def _embed(self, batch: list[str]) -> np.ndarray:
        reply = post_json(self.settings, "/embeddings", {"model": self.settings.model, "input": batch}, EmbeddingServerError)
        try:
            items = sorted(reply["data"], key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as error:
            raise EmbeddingServerError(f"the embedding server's reply has no data[].embedding: {str(reply)[:200]}") from error
        if vectors.ndim != 2 or len(vectors) != len(batch):
            raise EmbeddingServerError(f"the embedding server returned {len(vectors)} vectors for {len(batch)} texts")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
