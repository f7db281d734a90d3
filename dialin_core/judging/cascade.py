"""Judging every cluster of a candidate clustering: cohesion, LLM, or the cascade of both.

The discovery loop judges hundreds of clusters per run. The cohesion judge costs milliseconds and is
the better judge on this hardware; the local LLM costs seconds per cluster and sees the words, which
helps where geometry is unsure. So the cascade asks the LLM only about clusters whose cohesion
probability is in an uncertain band, most uncertain first, within the call allowance the loop gives it,
and combines both answers in log-odds (the LLM's odds scaled by how far its raw probability can be
trusted, `LLMCalibration`).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dialin_core.judging.cohesion import CohesionModel
from dialin_core.judging.llm_judge import LLMJudge

THRESHOLD = 0.5


class LLMBudgetExhausted(RuntimeError):
    """An LLM-only judge cannot judge a whole clustering within the calls left."""


@dataclass(frozen=True)
class ClusterCase:
    """What a judge may look at: a representative sample of sentences and the cohesion features."""

    sentences: list[str]
    features: np.ndarray


@dataclass(frozen=True)
class Judgement:
    probability: float  # final P(good)
    judged_by: str  # cohesion | llm | cascade (cohesion, then LLM)
    cohesion: float | None = None
    llm: float | None = None

    @property
    def good(self) -> bool:
        return self.probability >= THRESHOLD

    def as_dict(self) -> dict:
        return {"probability": self.probability, "judged_by": self.judged_by, "cohesion": self.cohesion, "llm": self.llm}


class ClusterJudge(Protocol):
    """Judges all clusters of one clustering, asking the LLM at most `llm_allowance` times."""

    def judge_all(self, cases: Sequence[ClusterCase], llm_allowance: int) -> list[Judgement]: ...


@dataclass(frozen=True)
class LLMCalibration:
    """Maps a model's raw first-token P(good) to log-odds of a good cluster: slope * (logit(p) - centre).

    Small models answer "Good" with p 0.95-0.99 for nearly everything; only the position within that
    range carries signal, so their raw probability is re-centred and scaled (Platt scaling, fitted by
    `bench/judges.py` on BANKING77 *train* clusters). Unknown models are taken at face value.
    """

    slope: float = 1.0
    centre: float = 0.0

    def log_odds(self, probability: float) -> float:
        return self.slope * (_logit(probability) - self.centre)

    def raw_threshold(self) -> float:
        """The raw probability whose calibrated one is 0.5 (where logit(p) is the centre): the LLM's own cut."""
        return _sigmoid(self.centre)


# Fitted by `bench/judges.py` on BANKING77 train clusters (see BENCHMARKS.md): the packaged 0.5B model's
# P(good) averages 0.69 on good and 0.68 on bad clusters (AUC 0.58), so its calibrated vote is faint.
CALIBRATIONS: dict[str, LLMCalibration] = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m": LLMCalibration(slope=0.7738, centre=0.8000),
}


def calibration_for(model: str) -> LLMCalibration:
    """The measured calibration of a known model; any other model's probability is taken at face value."""
    return CALIBRATIONS.get(model, LLMCalibration())


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class CohesionJudge:
    model: CohesionModel

    def judge_all(self, cases: Sequence[ClusterCase], llm_allowance: int = 0) -> list[Judgement]:
        if not cases:
            return []
        probabilities = self.model.probability_good(np.stack([c.features for c in cases]))
        return [Judgement(float(p), "cohesion", cohesion=float(p)) for p in probabilities]


@dataclass(frozen=True)
class LLMOnlyJudge:
    """The Dial-In paper's judge: the LLM sees every cluster. Refuses a clustering it cannot finish in budget."""

    llm_judge: LLMJudge
    calibration: LLMCalibration = LLMCalibration()

    def judge_all(self, cases: Sequence[ClusterCase], llm_allowance: int) -> list[Judgement]:
        if len(cases) > llm_allowance:
            raise LLMBudgetExhausted(f"{len(cases)} clusters to judge but only {llm_allowance} LLM calls left")
        judgements = []
        for case in cases:
            raw = self.llm_judge.judge(case.sentences).probability_good
            judgements.append(Judgement(_sigmoid(self.calibration.log_odds(raw)), "llm", llm=raw))
        return judgements


@dataclass(frozen=True)
class CascadeJudge:
    cohesion: CohesionJudge
    llm_judge: LLMJudge
    calibration: LLMCalibration = LLMCalibration()
    band: float = 0.1  # escalate when |P_cohesion(good) - 0.5| < band: only near coin flips

    def judge_all(self, cases: Sequence[ClusterCase], llm_allowance: int) -> list[Judgement]:
        judgements = self.cohesion.judge_all(cases)
        uncertain = [i for i, j in enumerate(judgements) if abs(j.probability - THRESHOLD) < self.band]
        uncertain.sort(key=lambda i: abs(judgements[i].probability - THRESHOLD))
        for i in uncertain[: max(0, llm_allowance)]:
            raw = self.llm_judge.judge(cases[i].sentences).probability_good
            cohesion = judgements[i].probability
            combined = _sigmoid(_logit(cohesion) + self.calibration.log_odds(raw))
            judgements[i] = Judgement(combined, "cascade", cohesion=cohesion, llm=raw)
        return judgements
