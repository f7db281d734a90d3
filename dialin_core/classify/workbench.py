"""Classifiers kept with a workspace: train on labelled dialogues with a held-out share, save the model
with its evaluation, list them, and the figures the Classify page draws (confusion, tau curve).

A model folder holds what `IntentClassifier.save` writes plus `evaluation.json` (the report
`classify-eval` prints, on the held-out dialogues) and `predictions.jsonl` (one row per scored turn),
so a page redraw or a restart shows the evaluation without running it again.
"""

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import confusion_matrix

from dialin_core.classify.data import Dialogue, labelled_turns, split_dialogues
from dialin_core.classify.evaluate import evaluation_report, prediction_records, stream_dialogues
from dialin_core.classify.model import ClassifierSettings, IntentClassifier
from dialin_core.curation.export import write_jsonl

EVALUATION = "evaluation.json"
PREDICTIONS = "predictions.jsonl"
OTHER = "(other)"


def workspace_classifiers(workspace: Path) -> Path:
    """`<workspace stem>-classifiers/` beside the workspace file: models go with the data they came from."""
    return workspace.parent / f"{workspace.stem}-classifiers"


def saved_classifiers(folder: Path) -> list[Path]:
    """Model folders under `folder`, newest first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if (p / "classifier.json").is_file()), key=lambda p: p.name, reverse=True)


def train_and_evaluate(
    dialogues: Sequence[Dialogue], settings: ClassifierSettings, folder: Path, *, source: str,
    test_share: float = 0.2, seed: int = 0, name: str | None = None,
) -> Path:
    """Train on a seeded dialogue-level split, evaluate on the rest as live sessions, save both.

    Returns the model folder. With fewer than five dialogues there is nothing to hold out: the model is
    trained on all of them and evaluated on none.
    """
    if not 0 <= test_share < 1:
        raise ValueError(f"the held-out share is a fraction below 1, not {test_share}")
    train, test = split_dialogues(dialogues, test_share, seed) if len(dialogues) >= 5 else (list(dialogues), [])
    examples = labelled_turns(train)
    if not examples:
        raise ValueError("no labelled turn to learn from in the training dialogues")
    model = IntentClassifier(settings).fit(examples)
    out = folder / (name or f"classifier-{datetime.now():%Y%m%d-%H%M%S}")
    model.save(out)
    meta = {"source": source, "train_dialogues": len(train), "test_dialogues": len(test), "train_examples": len(examples),
            "test_share": test_share, "seed": seed}
    if any(turn.gold for dialogue in test for turn in dialogue.turns):
        stream = stream_dialogues(model, test)
        report = evaluation_report(stream, None)
        write_jsonl(prediction_records(stream, None), out / PREDICTIONS)
    else:
        report = {}
    (out / EVALUATION).write_text(json.dumps({**meta, **report}, indent=2) + "\n", encoding="utf-8")
    return out


def evaluation(model_folder: Path) -> dict[str, Any]:
    path = model_folder / EVALUATION
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def predictions(model_folder: Path) -> pd.DataFrame:
    path = model_folder / PREDICTIONS
    return pd.read_json(path, lines=True) if path.is_file() else pd.DataFrame(columns=["gold", "label"])


def confusion(rows: pd.DataFrame, top: int = 20) -> pd.DataFrame:
    """Gold (rows) against predicted (columns) for the `top` most frequent gold intents, the rest as
    "(other)". A turn's gold is the predicted label when that is one of its active intents, else its
    first one, as in the scores, so the diagonal is exactly what accuracy counts."""
    if rows.empty:
        return pd.DataFrame()
    truth = [label if label in gold else gold[0] for label, gold in zip(rows["label"], rows["gold"])]
    kept = [name for name, _ in Counter(truth).most_common(top)]

    def bucket(name: str) -> str:
        return name if name in kept else OTHER

    names = kept + ([OTHER] if len(set(truth)) > len(kept) or any(bucket(p) == OTHER for p in rows["label"]) else [])
    matrix = confusion_matrix([bucket(t) for t in truth], [bucket(p) for p in rows["label"]], labels=names)
    return pd.DataFrame(matrix, index=names, columns=names)
