"""Sentence embeddings of a data set's texts, cached in the workspace by model and text hash, so a second
run (or a second method) on the same data never embeds a text twice.

Texts are embedded and stored a batch at a time: a million utterances take about an hour on two cores, and a
run stopped (paused, killed, crashed) in the middle keeps every batch it finished, so it goes on from there.
"""

from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

from dialin_core.data.store import Store, text_hash
from dialin_core.embedding.models import Embedder

# Texts embedded, then stored, together: what a stopped run can lose. Also what the model is handed at once,
# which matters: sentence-transformers groups texts of like length into its own batches within each call, so
# another size pads some texts otherwise and moves their vectors in the last digits (and a clustering with them).
EMBED_BATCH = 512

# Called after each batch with (texts embedded so far, texts to embed): only texts not in the cache count.
EmbeddingProgress = Callable[[int, int], None]


def embed_texts(texts: Sequence[str], embedder: Embedder, store: Store | None = None,
                on_progress: EmbeddingProgress | None = None) -> np.ndarray:
    """Vectors for `texts` in order, computing only those not yet cached in the workspace."""
    hashes = [text_hash(t) for t in texts]
    cached = store.cached_embeddings(embedder.name, hashes) if store is not None else {}
    missing = {h: t for h, t in zip(hashes, texts) if h not in cached}
    keys, pending = list(missing), list(missing.values())
    for start in tqdm(range(0, len(pending), EMBED_BATCH), desc="embedding", unit="batch", disable=None):
        batch = slice(start, start + EMBED_BATCH)
        fresh = embedder.encode(pending[batch])
        cached.update(zip(keys[batch], fresh))
        if store is not None:
            store.put_embeddings(embedder.name, keys[batch], fresh)
        if on_progress is not None:
            on_progress(min(start + EMBED_BATCH, len(pending)), len(pending))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cached[h] for h in hashes])
