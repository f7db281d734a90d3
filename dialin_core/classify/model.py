"""The deployable classifier: frozen sentence embeddings of a turn and its context, a linear softmax on top.

Why this shape: the multi-turn classification paper fine-tunes RoBERTa on history + turn; on a 2-core CPU the budget is ~10 ms a
turn, about one int8 MiniLM pass over one short text (encoder.py). So the encoder stays frozen and every
turn is embedded once, when it arrives; the context is not re-encoded as one long string but pooled from the
vectors of its merged units, split by speaker: what the same speaker said before (the customer's own
request, carried over) and what the others said (the agent's question being answered). Each pool is
a recency-weighted mean, so the latest unit counts most. A multinomial logistic regression on
[turn, same-speaker pool, other-speaker pool] gives probabilities that the router's threshold can use.

Saved as a folder: `classifier.json` (settings, labels, embedder name) and `weights.npz`; prediction is
a matrix product and a softmax, so a saved model needs numpy and the embedder, not scikit-learn.
"""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from dialin_core.classify.data import DEFAULT_CONTEXT_TURNS, ContextTurn, LabelledTurn, append_turn, recent_context
from dialin_core.classify.encoder import load_encoder
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import DEFAULT_EMBEDDER, Embedder

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ClassifierSettings:
    """Everything that decides the features and the fit; saved with the model.

    The defaults were chosen on a validation split of SGD training dialogues (BENCHMARKS.md):
    eight units of context beat three (accuracy 0.934 against 0.904), decay 0.75 beat 0.5, and C = 10
    gives probabilities a threshold can use as they are (the turns kept at any tau are right more often
    than tau), so no calibration step is added.
    """

    embedder: str = DEFAULT_EMBEDDER
    quantized: bool = True  # the int8 traced encoder (encoder.py); False: the project's float embedder
    use_context: bool = True
    context_turns: int = DEFAULT_CONTEXT_TURNS  # merged units read before the turn
    recency_decay: float = 0.75  # weight of a unit relative to the one after it
    regularisation: float = 10.0  # LogisticRegression C
    seed: int = 0


@dataclass(frozen=True)
class Prediction:
    """The top intents of one turn, most likely first."""

    labels: tuple[str, ...]
    probabilities: tuple[float, ...]

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def confidence(self) -> float:
        return self.probabilities[0]


def top_k(probabilities: np.ndarray, labels: Sequence[str], k: int) -> Prediction:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return Prediction(tuple(labels[i] for i in order), tuple(float(probabilities[i]) for i in order))


def pooled(vectors: Sequence[np.ndarray], decay: float, dim: int) -> np.ndarray:
    """Recency-weighted mean of unit vectors given oldest first; zeros when there are none."""
    if not vectors:
        return np.zeros(dim, dtype=np.float32)
    weights = decay ** np.arange(len(vectors) - 1, -1, -1, dtype=np.float32)
    return (weights @ np.stack(vectors)) / weights.sum()


def turn_features(
    turn: np.ndarray, speaker: str, context: Sequence[ContextTurn], vector_of: dict[str, np.ndarray], settings: ClassifierSettings
) -> np.ndarray:
    """[turn] without context; [turn, same-speaker pool, other-speaker pool] with it.

    An unknown speaker ("") is never "the same" as anyone, as in merging.
    """
    if not settings.use_context:
        return turn
    recent = recent_context(context, settings.context_turns)
    same = [vector_of[unit.text] for unit in recent if speaker and unit.speaker == speaker]
    other = [vector_of[unit.text] for unit in recent if not (speaker and unit.speaker == speaker)]
    dim = turn.shape[0]
    return np.concatenate([turn, pooled(same, settings.recency_decay, dim), pooled(other, settings.recency_decay, dim)])


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class IntentClassifier:
    """Fit on labelled turns, predict top-K intents per turn; `session()` serves a live dialogue."""

    def __init__(self, settings: ClassifierSettings = ClassifierSettings(), embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_encoder(self.settings.embedder, self.settings.quantized)
        return self._embedder

    def _needed_texts(self, examples: Sequence[LabelledTurn]) -> list[str]:
        texts = [e.text for e in examples]
        if self.settings.use_context:
            texts += [unit.text for e in examples for unit in recent_context(e.context, self.settings.context_turns)]
        return list(dict.fromkeys(texts))

    def features(self, examples: Sequence[LabelledTurn]) -> np.ndarray:
        """One feature row per example; every distinct text is embedded once, in batches."""
        texts = self._needed_texts(examples)
        vector_of = dict(zip(texts, embed_texts(texts, self.embedder)))
        return np.stack([turn_features(vector_of[e.text], e.speaker, e.context, vector_of, self.settings) for e in examples])

    def fit(self, examples: Sequence[LabelledTurn]) -> "IntentClassifier":
        """A turn with several gold intents is one example per intent, each weighted 1/n: all of them
        are right answers, and the model should spread its belief rather than learn one at random."""
        if not examples:
            raise ValueError("no labelled turns to train on")
        features = self.features(examples)
        rows = [i for i, e in enumerate(examples) for _ in e.gold]
        targets = [label for e in examples for label in e.gold]
        weights = [1 / len(e.gold) for e in examples for _ in e.gold]
        if len(set(targets)) < 2:
            raise ValueError(f"need at least two intents to train a classifier, found only {targets[0]!r}")
        model = LogisticRegression(C=self.settings.regularisation, max_iter=2000, random_state=self.settings.seed)
        model.fit(features[rows], targets, sample_weight=weights)
        self.labels_: tuple[str, ...] = tuple(str(label) for label in model.classes_)
        self.coef_: np.ndarray = model.coef_.astype(np.float32)
        self.intercept_: np.ndarray = model.intercept_.astype(np.float32)
        self.n_examples_: int = len(examples)
        return self

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Softmax over intents, one row per feature row (the multinomial model's predict_proba)."""
        return softmax_rows(features @ self.coef_.T + self.intercept_)

    def predict_proba(self, examples: Sequence[LabelledTurn]) -> np.ndarray:
        return self.probabilities(self.features(examples))

    def predict(self, examples: Sequence[LabelledTurn], k: int = 1) -> list[Prediction]:
        return [top_k(p, self.labels_, k) for p in self.predict_proba(examples)]

    def session(self) -> "DialogueSession":
        return DialogueSession(self)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"format_version": FORMAT_VERSION, "settings": asdict(self.settings), "labels": list(self.labels_),
                "n_examples": self.n_examples_, "n_features": int(self.coef_.shape[1])}
        (folder / "classifier.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        np.savez(folder / "weights.npz", coef=self.coef_, intercept=self.intercept_)
        return folder

    @classmethod
    def load(cls, folder: str | Path, embedder: Embedder | None = None) -> "IntentClassifier":
        folder = Path(folder)
        meta_path = folder / "classifier.json"
        if not meta_path.is_file():
            raise ValueError(f"{folder} is not a classifier folder (no classifier.json): train one with classify-train")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format version {meta.get('format_version')}, this version reads {FORMAT_VERSION}")
        model = cls(ClassifierSettings(**meta["settings"]), embedder)
        weights = np.load(folder / "weights.npz")
        model.labels_ = tuple(meta["labels"])
        model.coef_, model.intercept_ = weights["coef"], weights["intercept"]
        model.n_examples_ = meta["n_examples"]
        return model


class DialogueSession:
    """One live conversation: turns arrive one by one and each text is embedded once.

    `observe` records a turn that is not classified (the agent's reply) and embeds it then, while the
    customer reads it; `classify` embeds only the new turn, predicts, and records it. A merged unit
    (the same speaker again) is re-embedded once, when a later turn first needs it as context.
    """

    def __init__(self, model: IntentClassifier) -> None:
        self.model = model
        self.history: tuple[ContextTurn, ...] = ()
        self._vectors: dict[str, np.ndarray] = {}

    def _vector_of(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.model.embedder.encode(missing)))
        return self._vectors

    def _context_texts(self) -> list[str]:
        settings = self.model.settings
        return [unit.text for unit in recent_context(self.history, settings.context_turns)] if settings.use_context else []

    def observe(self, speaker: str, text: str) -> None:
        self.history = append_turn(self.history, speaker, text)
        self._vector_of(self._context_texts())

    def classify(self, speaker: str, text: str, k: int = 3) -> Prediction:
        vector_of = self._vector_of([text, *self._context_texts()])
        features = turn_features(vector_of[text], speaker, self.history, vector_of, self.model.settings)
        prediction = top_k(self.model.probabilities(features[None, :])[0], self.model.labels_, k)
        self.history = append_turn(self.history, speaker, text)
        return prediction
