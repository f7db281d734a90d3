"""Provisional cluster names from distinctive words, for methods that run without an LLM.

Class-based TF-IDF (as BERTopic does): each cluster's sentences form one document, so a word scores
high when it is frequent in the cluster and rare across clusters. The LLM namer replaces these names.

Words are found the way the data's language writes them: English words with its stop list, Chinese by
jieba's dictionary segmentation (Chinese puts no spaces between words, and single characters such as 的,
我, 吗 carry grammar, not topic, so a Chinese word here has at least two characters), any other language
by its letters.
"""

import logging
from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

from dialin_core.data.language import reads_as_english

WORD = r"(?u)\b[^\W\d_]{2,}\b"
# Chinese function words that jieba keeps as words but that name no topic: question words, politeness,
# pronoun compounds (the Chinese counterpart of scikit-learn's English stop list, which the English names use).
CHINESE_STOP_WORDS = frozenset(
    "怎么 怎么样 什么 为什么 哪里 哪个 哪些 多少 如何 是否 可以 能否 能不能 一下 一个 这个 那个 这些 那些 我们 你们 他们 "
    "我要 我想 想要 帮我 给我 请问 麻烦 谢谢 现在 还有 就是 然后 还是 没有 已经 知道 需要 应该".split()
)


@cache
def _chinese_words() -> Callable[[str], list[str]]:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it announces its dictionary load on every first use
    segmenter = jieba.Tokenizer()

    def words(text: str) -> list[str]:
        return [w for w in segmenter.lcut(text) if len(w) >= 2 and all(c.isalpha() for c in w) and w not in CHINESE_STOP_WORDS]

    return words


def vectorizer(language: str | None) -> CountVectorizer:
    """Word counts for text in `language`."""
    if language == "zh":
        return CountVectorizer(tokenizer=_chinese_words(), token_pattern=None, lowercase=False)
    if reads_as_english(language):
        return CountVectorizer(stop_words="english", token_pattern=WORD)
    return CountVectorizer(token_pattern=WORD)


def keyword_names(texts: Sequence[str], labels: Sequence[int], n_words: int = 2, language: str | None = "en") -> dict[int, str]:
    """A hyphenated name of the top words per cluster label, unique across clusters."""
    cluster_ids = sorted(set(labels))
    documents = [" ".join(t for t, label in zip(texts, labels) if label == cid) for cid in cluster_ids]
    try:
        counts = vectorizer(language).fit(documents)
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
