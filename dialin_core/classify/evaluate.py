"""A classifier played over held-out dialogues as a live deployment would see them, scored per turn.

Each dialogue runs through a `DialogueSession` turn by turn, so the latency measured is the deployed
one: embed the new customer turn, pool the cached context, one softmax. The agent's turns are embedded
when they arrive (`observe`), before the customer answers; that time is reported on its own. A turn is
right when the label is one of its active intents; turns without a gold intent are not scored.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from dialin_core.classify.data import Dialogue, LabelledTurn, recent_context
from dialin_core.classify.model import IntentClassifier, Prediction
from dialin_core.classify.routing import (
    DEFAULT_TAU,
    DEFAULT_TOP_K,
    HybridRouter,
    RoutedTurn,
    accuracy_coverage_curve,
    is_correct,
    routing_report,
    top_k_recall,
)

CURVE_TAUS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class ClassifiedTurn:
    example: LabelledTurn
    prediction: Prediction  # top K
    seconds: float  # classifier time for this turn


@dataclass(frozen=True)
class Stream:
    turns: list[ClassifiedTurn]
    observe_seconds: list[float]  # embedding each unclassified turn as it arrived


def stream_dialogues(model: IntentClassifier, dialogues: Sequence[Dialogue], k: int = DEFAULT_TOP_K) -> Stream:
    """Every labelled turn classified in a live session of its dialogue, with its wall time."""
    model.embedder.encode(["warm up"])  # the first call pays one-off allocations, not a turn's cost
    turns, observe_seconds = [], []
    for dialogue in dialogues:
        session = model.session()
        for turn in dialogue.turns:
            started = time.perf_counter()
            if turn.gold:
                example = LabelledTurn(dialogue.dialogue_id, turn.turn_index, turn.speaker, turn.text, session.history, turn.gold)
                prediction = session.classify(turn.speaker, turn.text, k)
                turns.append(ClassifiedTurn(example, prediction, time.perf_counter() - started))
            else:
                session.observe(turn.speaker, turn.text)
                observe_seconds.append(time.perf_counter() - started)
    return Stream(turns, observe_seconds)


def label_scores(labels: Sequence[str], gold: Sequence[Sequence[str]]) -> dict[str, float]:
    """Accuracy (label among the active intents) and macro-F1 over intents.

    For F1 each turn has one true label: the predicted one when it is among the turn's active intents,
    else the first active intent; so F1 and accuracy agree on what counts as right.
    """
    truth = [label if is_correct(label, g) else g[0] for label, g in zip(labels, gold)]
    accuracy = float(np.mean([is_correct(label, g) for label, g in zip(labels, gold)]))
    return {"accuracy": accuracy, "macro_f1": float(f1_score(truth, list(labels), average="macro", zero_division=0))}


def latency_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50": None, "p90": None, "p99": None, "mean": None}
    ms = np.asarray(seconds) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)), "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


def route_all(router: HybridRouter, turns: Sequence[ClassifiedTurn], context_turns: int) -> list[RoutedTurn]:
    return [
        router.route(t.prediction, recent_context(t.example.context, context_turns), t.example.speaker, t.example.text)
        for t in turns
    ]


def evaluation_report(
    stream: Stream, routed: Sequence[RoutedTurn] | None, tau: float = DEFAULT_TAU, top_k: int = DEFAULT_TOP_K
) -> dict[str, Any]:
    """The summary `classify-eval` prints: final scores, the classifier's own, coverage per path, latency,
    the accuracy/coverage curve, and for a hybrid run what the LLM did on the turns it was given."""
    if not stream.turns:
        raise ValueError("no labelled turn to evaluate: the dialogues have no turn with a gold intent")
    gold = [t.example.gold for t in stream.turns]
    predictions = [t.prediction for t in stream.turns]
    classifier = label_scores([p.label for p in predictions], gold)
    confidences = np.array([p.confidence for p in predictions])
    correct = np.array([is_correct(p.label, g) for p, g in zip(predictions, gold)])
    deferred = confidences < tau
    report: dict[str, Any] = {
        "n_dialogues": len({t.example.dialogue_id for t in stream.turns}),
        "n_turns": len(stream.turns),
        **(label_scores([r.label for r in routed], gold) if routed is not None else classifier),
        "classifier": classifier,
        "coverage": {"classifier": 1.0},
        "latency_ms": latency_ms([t.seconds for t in stream.turns]),
        "observe_latency_ms": latency_ms(stream.observe_seconds),
        "tau": tau,
        "top_k": top_k,
        "deferred_share": float(deferred.mean()),
        "deferred_top_k_recall": top_k_recall([p for p, d in zip(predictions, deferred) if d], [g for g, d in zip(gold, deferred) if d], top_k),
        "tau_curve": accuracy_coverage_curve(confidences, correct, CURVE_TAUS),
    }
    if routed is not None:
        paths = routing_report(routed, gold)
        asked = [i for i, r in enumerate(routed) if r.path in ("llm", "llm_off_list")]
        report["coverage"] = {path: row["share"] for path, row in paths.items()}
        report["paths"] = paths
        report["llm"] = {
            "calls": len(asked),
            "seconds_per_call": float(np.mean([routed[i].llm_seconds for i in asked])) if asked else None,
            "accuracy_on_asked": float(np.mean([is_correct(routed[i].label, gold[i]) for i in asked])) if asked else None,
            "classifier_accuracy_on_asked": float(correct[asked].mean()) if asked else None,
        }
    return report


def prediction_records(stream: Stream, routed: Sequence[RoutedTurn] | None) -> list[dict[str, Any]]:
    """One JSON-ready row per scored turn, for reading errors and auditing the LLM's answers."""
    rows = []
    for i, turn in enumerate(stream.turns):
        final = routed[i] if routed is not None else None
        rows.append({
            "dialogue_id": turn.example.dialogue_id,
            "turn_index": turn.example.turn_index,
            "text": turn.example.text,
            "gold": list(turn.example.gold),
            "top_k": [[label, round(p, 4)] for label, p in zip(turn.prediction.labels, turn.prediction.probabilities)],
            "label": final.label if final else turn.prediction.label,
            "path": final.path if final else "classifier",
        })
    return rows
