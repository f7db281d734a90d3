"""Hybrid routing (Building Multi-turn Intent Classification with LLM-based Labeling, section 4.3 and appendix C.5-C.6): the classifier answers when it is sure,
an LLM disambiguates among the classifier's top K when it is not.

Why constrained to the top K: when the classifier is unsure, the right intent is usually among its
few best guesses (the paper finds it in the top 3 ~90% of the time), and an LLM choosing among three
names is both more accurate and far cheaper than one choosing among the whole taxonomy. A GBNF
grammar listing exactly those names makes every answer one of them.

The accuracy/coverage arithmetic is pure: confidences and correctness in, a table out, so a threshold
can be chosen from a held-out set before any LLM is called.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dialin_core import prompts
from dialin_core.classify.data import ContextTurn, render_context
from dialin_core.classify.model import Prediction
from dialin_core.llm.base import ChatRequest
from dialin_core.llm.chat import ChatModel, choice_grammar

DEFAULT_TAU = 0.7
DEFAULT_TOP_K = 3
RoutePath = Literal["classifier", "llm", "llm_off_list", "over_budget"]
# classifier: confident, its top-1 stands; llm: the LLM chose among the top K; llm_off_list: the
# LLM answered outside the candidates (a server that ignores grammars), the top-1 stands;
# over_budget: unsure, but the LLM call budget is spent, the top-1 stands.
PATHS: tuple[RoutePath, ...] = ("classifier", "llm", "llm_off_list", "over_budget")


def choice_messages(context: Sequence[ContextTurn], speaker: str, text: str, candidates: Sequence[str]) -> tuple[tuple[str, str], ...]:
    user = prompts.template("intent_choice_user").format(
        context=render_context(context), speaker=speaker or "speaker", turn=text, candidates=prompts.numbered(list(candidates))
    )
    return (("system", prompts.template("intent_choice_system")), ("user", user))


@dataclass(frozen=True)
class LLMChooser:
    """Asks an LLM which of the candidate intents a turn expresses; the grammar allows only those."""

    llm: ChatModel

    def request(self, context: Sequence[ContextTurn], speaker: str, text: str, candidates: Sequence[str]) -> ChatRequest:
        longest = max(len(label) for label in candidates)
        return ChatRequest(
            messages=choice_messages(context, speaker, text, candidates), max_tokens=longest + 8, grammar=choice_grammar(candidates)
        )

    def choose(self, context: Sequence[ContextTurn], speaker: str, text: str, candidates: Sequence[str]) -> str | None:
        """The chosen candidate, or None when the answer names none of them."""
        answer = self.llm.chat(self.request(context, speaker, text, candidates)).text.strip().strip("\"'.").strip()
        by_folded = {label.casefold(): label for label in candidates}
        return by_folded.get(answer.casefold())


@dataclass(frozen=True)
class RoutedTurn:
    label: str
    path: RoutePath
    prediction: Prediction  # the classifier's top K, whatever the path
    llm_seconds: float = 0.0


class HybridRouter:
    """Routes one turn at a time; counts the LLM calls it made (`llm_calls_`) against `max_llm_calls`."""

    def __init__(self, chooser: LLMChooser, tau: float = DEFAULT_TAU, top_k: int = DEFAULT_TOP_K, max_llm_calls: int | None = None) -> None:
        if not 0 <= tau <= 1:
            raise ValueError(f"tau is a probability threshold between 0 and 1, not {tau}")
        if top_k < 2:
            raise ValueError(f"top-K must be at least 2 for the LLM to have a choice, not {top_k}")
        self.chooser = chooser
        self.tau = tau
        self.top_k = top_k
        self.max_llm_calls = max_llm_calls
        self.llm_calls_ = 0

    def route(self, prediction: Prediction, context: Sequence[ContextTurn], speaker: str, text: str) -> RoutedTurn:
        """`prediction` holds at least `top_k` labels when the model has that many; context is what the
        LLM reads (the caller decides how many merged units)."""
        if prediction.confidence >= self.tau or len(prediction.labels) < 2:
            return RoutedTurn(prediction.label, "classifier", prediction)
        if self.max_llm_calls is not None and self.llm_calls_ >= self.max_llm_calls:
            return RoutedTurn(prediction.label, "over_budget", prediction)
        self.llm_calls_ += 1
        started = time.perf_counter()
        choice = self.chooser.choose(context, speaker, text, prediction.labels[: self.top_k])
        seconds = time.perf_counter() - started
        if choice is None:
            return RoutedTurn(prediction.label, "llm_off_list", prediction, seconds)
        return RoutedTurn(choice, "llm", prediction, seconds)


# -- the arithmetic ----------------------------------------------------------------------------------------


def is_correct(label: str, gold: Sequence[str]) -> bool:
    """Right when the label is one of the turn's active intents."""
    return label in gold


def accuracy_coverage_curve(confidences: np.ndarray, correct: np.ndarray, taus: Sequence[float]) -> list[dict[str, float | None]]:
    """Per threshold: the share of turns the classifier keeps (confidence >= tau), its accuracy on them,
    and its accuracy on the rest (what an LLM would have to beat); None where a share is empty."""
    confidences, correct = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=bool)
    rows = []
    for tau in taus:
        kept = confidences >= tau
        rows.append({
            "tau": float(tau),
            "coverage": float(kept.mean()) if len(kept) else None,
            "accuracy_kept": float(correct[kept].mean()) if kept.any() else None,
            "accuracy_deferred": float(correct[~kept].mean()) if (~kept).any() else None,
        })
    return rows


def top_k_recall(predictions: Sequence[Prediction], gold: Sequence[Sequence[str]], k: int) -> float | None:
    """Share of turns with a gold intent among the top k: the ceiling of an LLM choosing among them."""
    if not predictions:
        return None
    return float(np.mean([any(label in g for label in p.labels[:k]) for p, g in zip(predictions, gold)]))


def routing_report(routed: Sequence[RoutedTurn], gold: Sequence[Sequence[str]]) -> dict[str, dict[str, float | int | None]]:
    """Per path: how many turns took it, their share, and the accuracy of the final label on them."""
    report = {}
    for path in PATHS:
        hits = [is_correct(r.label, g) for r, g in zip(routed, gold) if r.path == path]
        report[path] = {
            "n": len(hits),
            "share": len(hits) / len(routed) if routed else 0.0,
            "accuracy": float(np.mean(hits)) if hits else None,
        }
    return report
