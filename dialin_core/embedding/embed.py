"""Sentence embeddings of a data set's texts, cached in the workspace by model and text hash, so a second
run (or a second method) on the same data never embeds a text twice.

Texts are embedded and stored a batch at a time: a million utterances take over an hour on two cores, and a
run stopped (paused, killed, crashed) in the middle keeps every batch it finished, so it goes on from there.
"""

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
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
    """Vectors for `texts` in order, computing only those not yet cached in the workspace.

    The result is one matrix, filled from the cache and then a batch of fresh vectors at a time: at a million
    texts each copy of it is 1.5 GB, so no other (a dict of rows, a stacked copy) is made."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    hashes = [text_hash(t) for t in texts]
    if store is not None:
        matrix, found = store.cached_matrix(embedder.name, hashes)
    else:
        matrix, found = np.zeros((len(texts), 0), dtype=np.float32), np.zeros(len(texts), dtype=bool)
    missing = np.flatnonzero(~found)
    pending: dict[str, str] = {}  # hash -> text, each text once
    for i in missing:
        pending.setdefault(hashes[i], texts[i])
    # Shortest first, across the whole set: a model batch is padded to its longest text, and sentence-transformers
    # sorts by length only within one call, so batches cut from texts in their data order carried a long turn's
    # padding into short ones. In length order the model embedded 3,072 of the scale benches' turns 15% faster
    # (218 against 189 texts a second, medians of three interleaved in one process: `bench/embedding_order.py`),
    # and the vectors agree to 2e-7.
    by_length = sorted(pending.items(), key=lambda item: len(item[1]))
    keys, pending_texts = [k for k, _ in by_length], [t for _, t in by_length]
    slot = pd.Index(keys).get_indexer([hashes[i] for i in missing])  # each missing row's text among `keys`
    order = np.argsort(slot, kind="stable")
    sorted_slot = slot[order]
    for start in tqdm(range(0, len(keys), EMBED_BATCH), desc="embedding", unit="batch", disable=None):
        stop = min(start + EMBED_BATCH, len(keys))
        fresh = np.asarray(embedder.encode(pending_texts[start:stop]), dtype=np.float32)
        if matrix.shape[1] == 0:
            matrix = np.zeros((len(texts), fresh.shape[1]), dtype=np.float32)
        low, high = np.searchsorted(sorted_slot, [start, stop])
        batch = order[low:high]  # the missing rows whose text is in this batch
        matrix[missing[batch]] = fresh[slot[batch] - start]
        if store is not None:
            store.put_embeddings(embedder.name, keys[start:stop], fresh)
        if on_progress is not None:
            on_progress(stop, len(keys))
    return matrix
