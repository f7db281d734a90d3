"""The coherence judge: is a cluster Good (one intent) or Bad? With a probability, not just a word.

The answer is constrained to "Good" | "Bad" by a grammar, so it always parses; the probability of
Good comes from the first generated token's log-probabilities, renormalised over the two answers,
which lets the discovery loop rank clusters and lets a cascade escalate only the uncertain ones.
"""

from dataclasses import dataclass
from typing import Literal

from dialin_core import prompts
from dialin_core.llm.base import ChatRequest
from dialin_core.llm.chat import ChatModel, few_shot_turns

Verdict = Literal["good", "bad"]
VERDICT_GRAMMAR = 'root ::= "Good" | "Bad"'


@dataclass(frozen=True)
class CoherenceVerdict:
    verdict: Verdict
    probability_good: float


def _judge_prompt(sentences: list[str]) -> str:
    return prompts.template("judge_user").format(sentences=prompts.numbered(sentences))


def judge_messages(sentences: list[str], few_shot: bool = False) -> tuple[tuple[str, str], ...]:
    """The (role, content) turns the judge answers: what `LLMJudge` sends, and what a fine-tuning set of
    the judge must show, so a trained judge sees its prompts exactly as it will at run time."""
    shots = few_shot_turns("judge", _judge_prompt) if few_shot else ()
    return (("system", prompts.template("judge_system")), *shots, ("user", _judge_prompt(sentences)))


@dataclass(frozen=True)
class LLMJudge:
    llm: ChatModel
    few_shot: bool = False  # measured: two-shot lowers accuracy of small models
    threshold: float = 0.5

    def request(self, sentences: list[str]) -> ChatRequest:
        return ChatRequest(messages=judge_messages(sentences, self.few_shot), max_tokens=1, grammar=VERDICT_GRAMMAR, top_logprobs=20)

    def judge(self, sentences: list[str]) -> CoherenceVerdict:
        if not sentences:
            raise ValueError("cannot judge an empty cluster")
        response = self.llm.chat(self.request(sentences))
        probability = response.probability_of("Good", "Bad")["Good"]
        return CoherenceVerdict("good" if probability >= self.threshold else "bad", probability)
