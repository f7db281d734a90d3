"""Embeddings from the packaged model, and the workspace cache in front of it."""

import numpy as np
import pytest

from dialin_core.data.store import Store
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import SentenceTransformerEmbedder, load_embedder, resolve_model_path


class CountingEmbedder:
    """Deterministic stand-in that records what it was asked to encode, to test the cache's control flow."""

    name = "counting"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


@pytest.mark.parametrize(("name", "dimensions"), [("all-minilm-l6-v2", 384), ("all-mpnet-base-v2", 768)])
def test_packaged_model_embeds_paraphrases_closer_than_unrelated_text(name, dimensions):
    embedder = SentenceTransformerEmbedder(name)
    vectors = embedder.encode(["I lost my credit card", "my card is missing", "what time do you open tomorrow"])
    assert vectors.shape == (3, dimensions)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2


def test_cache_encodes_each_text_once_across_calls_shortest_first_and_keeps_order():
    embedder = CountingEmbedder()
    with Store() as store:
        first = embed_texts(["aa", "b", "aa"], embedder, store)
        second = embed_texts(["b", "ccc"], embedder, store)
    assert embedder.seen == ["b", "aa", "ccc"]  # the model gets each text once, in length order (less padding)
    assert first[:, 0].tolist() == [2, 1, 2]
    assert second[:, 0].tolist() == [1, 3]


def test_unknown_model_names_say_what_is_available():
    with pytest.raises(ValueError, match="unknown embedding model 'nope'.*all-minilm-l6-v2"):
        resolve_model_path("nope")


def test_a_model_directory_can_be_given_instead_of_a_name(tmp_path):
    assert resolve_model_path(str(tmp_path)) == tmp_path


def test_multilingual_model_ranks_a_chinese_paraphrase_above_another_intent():
    embedder = load_embedder("multilingual-e5-small")
    lost_card, paraphrase, weather = embedder.encode(["我的卡丢了，怎么冻结？", "银行卡遗失了，如何挂失？", "今天天气很好，我们去公园散步吧。"])
    assert lost_card.shape == (384,)
    assert float(lost_card @ paraphrase) > float(lost_card @ weather) + 0.03


def test_repeats_and_cached_texts_land_in_their_rows_across_batches(monkeypatch):
    """The matrix is filled a batch of fresh texts at a time: every row, repeated or cached, gets its text's vector."""
    monkeypatch.setattr("dialin_core.embedding.embed.EMBED_BATCH", 2)
    embedder = CountingEmbedder()
    texts = ["a", "bb", "a", "cccc", "ddd", "bb", "eeeee", "a"]
    with Store() as store:
        embed_texts(["cccc"], embedder, store)
        vectors = embed_texts(texts, embedder, store)
    assert embedder.seen == ["cccc", "a", "bb", "ddd", "eeeee"]  # each text once, the cached one not again
    assert vectors[:, 0].tolist() == [len(t) for t in texts]
