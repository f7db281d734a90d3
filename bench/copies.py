"""Large labelled sets made from the real ones: what the scale benches ingest, embed and cluster.

A bench at a million utterances needs a million distinct utterances whose intents are known. They are made
from the unique labelled utterances of BANKING77 (train and test) and the SGD customer turns: copy c of
utterance u reads "u's text (c)", so every copy is distinct (after ingest's normalisation too, since the
originals are unique by their normalised text) and keeps u's intent. One place for the rule, so the ingest,
million and scale benches cluster the same kind of data.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bakeoff import SHARED  # noqa: E402

from dialin_core.data.ingest import ColumnMapping, deduplicate, read_transcripts  # noqa: E402
SOURCES = (
    (SHARED / "banking77" / "train.csv", ColumnMapping(text="text", label="category"), None),
    (SHARED / "banking77" / "test.csv", ColumnMapping(text="text", label="category"), None),
    (SHARED / "sgd" / "train_sample.jsonl", None, "customer"),
)


def real_utterances() -> pd.DataFrame:
    """The unique labelled utterances of the sources (text, norm_text, intent), unique by ingest's normalised text."""
    frames = []
    for path, mapping, role in SOURCES:
        turns = [t for t in read_transcripts(path, mapping) if role is None or t.role == role]
        frames.append(pd.DataFrame([(u.text, u.norm_text, u.gold_label) for u in deduplicate(turns) if u.gold_label],
                                   columns=["text", "norm_text", "intent"]))
    return pd.concat(frames).drop_duplicates("norm_text").reset_index(drop=True)


@dataclass(frozen=True)
class Copies:
    """n utterances copied from `real`: the text of each, its intent, and the row of `real` it copies."""

    texts: list[str]
    intents: np.ndarray
    source: np.ndarray


def copies(real: pd.DataFrame, n: int, rng: np.random.Generator) -> Copies:
    """n utterances drawn from `real` with replacement, the c-th draw of an utterance numbered c."""
    source = rng.integers(0, len(real), n)
    copy = np.zeros(n, dtype=np.int64)
    order = np.argsort(source, kind="stable")
    copy[order] = np.arange(n) - np.searchsorted(source[order], source[order])
    texts = [f"{t} ({c})" for t, c in zip(real["text"].to_numpy()[source], copy)]
    return Copies(texts, real["intent"].to_numpy()[source], source)
