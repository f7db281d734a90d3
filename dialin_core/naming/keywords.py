"""Provisional cluster names from distinctive words, for methods that run without an LLM.

Class-based TF-IDF (as BERTopic does): each cluster's sentences form one document, so a word scores
high when it is frequent in the cluster and rare across clusters. The LLM namer replaces these names.
"""

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer


def keyword_names(texts: Sequence[str], labels: Sequence[int], n_words: int = 2) -> dict[int, str]:
    """A hyphenated name of the top words per cluster label, unique across clusters."""
    cluster_ids = sorted(set(labels))
    documents = [" ".join(t for t, label in zip(texts, labels) if label == cid) for cid in cluster_ids]
    try:
        counts = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{2,}\b").fit(documents)
    except ValueError:  # no word survives the stop list, e.g. clusters of "ok", "yes", "hi"
        return {cid: f"cluster-{cid}" for cid in cluster_ids}
    weights = TfidfTransformer().fit_transform(counts.transform(documents)).toarray()
    vocabulary = counts.get_feature_names_out()
    names: dict[int, str] = {}
    for row, cid in zip(weights, cluster_ids):
        top = [vocabulary[i] for i in np.argsort(-row)[:n_words] if row[i] > 0]
        base = "-".join(top) or f"cluster-{cid}"
        names[cid] = base if base not in names.values() else f"{base}-{cid}"
    return names
