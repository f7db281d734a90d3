"""Sentence embeddings of a data set's texts, cached in the workspace by model and text hash, so a second
run (or a second method) on the same data never embeds a text twice."""

from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from dialin_core.data.store import Store, text_hash
from dialin_core.embedding.models import Embedder

PROGRESS_CHUNK = 512  # texts per progress-bar step; tqdm stays silent when stderr is not a terminal


def embed_texts(texts: Sequence[str], embedder: Embedder, store: Store | None = None) -> np.ndarray:
    """Vectors for `texts` in order, computing only those not yet cached in the workspace."""
    hashes = [text_hash(t) for t in texts]
    cached = store.cached_embeddings(embedder.name, hashes) if store is not None else {}
    missing = {h: t for h, t in zip(hashes, texts) if h not in cached}
    if missing:
        pending = list(missing.values())
        chunks = range(0, len(pending), PROGRESS_CHUNK)
        fresh = np.concatenate(
            [embedder.encode(pending[i : i + PROGRESS_CHUNK]) for i in tqdm(chunks, desc="embedding", unit="chunk", disable=None)]
        )
        cached.update(zip(missing.keys(), fresh))
        if store is not None:
            store.put_embeddings(embedder.name, list(missing.keys()), fresh)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cached[h] for h in hashes])
