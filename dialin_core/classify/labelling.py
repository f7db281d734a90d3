"""LLM labelling of customer turns against a taxonomy (Building Multi-turn Intent Classification with LLM-based Labeling, section 4.1 and appendix C.1-C.2).

Single stage: the LLM reads the turn and its dialogue context and answers a short reason, then one
intent. Two stages: a second call audits the first (the paper's self-critique) and must say whether it
*kept* or *revised* the label, quoting the evidence. The paper finds the two agree on ~87% of turns and
the critic right on most of the rest, so the revise rate is the figure to watch.

Both answers are constrained by a JSON schema (llama.cpp turns it into a grammar; OpenAI-compatible
servers take it as `response_format`): the intent is an enum of the taxonomy, and the critic's schema
ties "kept" to the Stage-1 intent and "revised" to any other, so "which did it do" cannot be
misreported. The reason comes before the intent so the label is decided after the explanation; in
the critic's answer the evidence and the intent come before the decision, which the chosen intent
then fixes. Asked for the decision first, the packaged 0.5B model answered "revised" to every one of
30 SGD turns and turned 92% right labels into 8% (BENCHMARKS.md).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from dialin_core import prompts
from dialin_core.classify.data import ContextTurn, Dialogue, append_turn, recent_context, render_context
from dialin_core.llm.base import ChatRequest
from dialin_core.llm.chat import ChatModel

REASON_CHARS = 160  # a sentence or a short quote: enough to decide, short enough to stay cheap
Decision = Literal["single", "kept", "revised", "unparsed"]


@dataclass(frozen=True)
class Taxonomy:
    """The intents a labeller may choose, with an optional one-line definition each."""

    labels: tuple[str, ...]
    definitions: tuple[str, ...] = ()  # same order as labels; "" where none

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ValueError(f"a taxonomy needs at least two intents to choose from, got {len(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("the taxonomy names an intent twice")
        if self.definitions and len(self.definitions) != len(self.labels):
            raise ValueError("give a definition for every intent or for none")

    def render(self) -> str:
        """Numbered lines, "label - definition" where a definition exists, as in the paper's prompts."""
        definitions = self.definitions or ("",) * len(self.labels)
        return "\n".join(f"{i}. {label}{' - ' + d if d else ''}" for i, (label, d) in enumerate(zip(self.labels, definitions), 1))


def read_taxonomy(path: Path) -> Taxonomy:
    """A taxonomy file: a JSON list of names, or one intent per line as "name" or "name: definition"."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ValueError(f"cannot read the taxonomy {path}: {error.strerror}") from error
    if text.lstrip().startswith("["):
        names = json.loads(text)
        if not all(isinstance(n, str) and n.strip() for n in names):
            raise ValueError(f"{path}: a JSON taxonomy is a list of non-empty intent names")
        return Taxonomy(tuple(n.strip() for n in names))
    rows = [line.split(":", 1) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    labels = tuple(row[0].strip() for row in rows)
    definitions = tuple(row[1].strip() if len(row) > 1 else "" for row in rows)
    return Taxonomy(labels, definitions if any(definitions) else ())


def taxonomy_of(dialogues: Sequence[Dialogue]) -> Taxonomy:
    """Every intent some turn of the dialogues carries, in order of first appearance."""
    return Taxonomy(tuple(dict.fromkeys(label for d in dialogues for t in d.turns for label in t.gold)))


@dataclass(frozen=True)
class TurnLabel:
    intent: str | None  # None when an answer could not be read (a server that ignored the schema)
    reason: str
    stage1: str | None
    decision: Decision  # single: one stage only; kept/revised: what the critic did
    evidence: str = ""


def _reason_schema(intents: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"reason": {"type": "string", "maxLength": REASON_CHARS}, "intent": {"enum": list(intents)}},
        "required": ["reason", "intent"],
    }


def _audit_schema(stage1: str, labels: Sequence[str]) -> dict[str, Any]:
    def branch(decision: str, intent: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"evidence": {"type": "string", "maxLength": REASON_CHARS}, "intent": intent, "decision": {"const": decision}},
            "required": ["evidence", "intent", "decision"],
        }

    others = [label for label in labels if label != stage1]
    return {"anyOf": [branch("kept", {"const": stage1}), branch("revised", {"enum": others})]}


def _answer(text: str, labels: Sequence[str]) -> dict[str, Any] | None:
    """The parsed answer when it names an intent of the taxonomy, else None."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        return None
    return answer if isinstance(answer, dict) and answer.get("intent") in labels else None


@dataclass(frozen=True)
class LLMLabeller:
    llm: ChatModel
    taxonomy: Taxonomy
    two_stage: bool = True

    def _fields(self, context: Sequence[ContextTurn], speaker: str, text: str) -> dict[str, str]:
        return {"context": render_context(context), "speaker": speaker or "customer", "turn": text, "taxonomy": self.taxonomy.render()}

    def _max_tokens(self) -> int:
        # JSON keys and layout, the reason at ~4 characters a token, the longest intent; with room to spare
        return 48 + REASON_CHARS // 2 + max(len(label) for label in self.taxonomy.labels)

    def stage1_request(self, context: Sequence[ContextTurn], speaker: str, text: str) -> ChatRequest:
        user = prompts.template("label_stage1_user").format(**self._fields(context, speaker, text))
        return ChatRequest(
            messages=(("system", prompts.template("label_stage1_system")), ("user", user)),
            max_tokens=self._max_tokens(), json_schema=_reason_schema(self.taxonomy.labels),
        )

    def stage2_request(self, context: Sequence[ContextTurn], speaker: str, text: str, stage1: str, reason: str) -> ChatRequest:
        user = prompts.template("label_stage2_user").format(**self._fields(context, speaker, text), intent=stage1, reason=reason)
        return ChatRequest(
            messages=(("system", prompts.template("label_stage2_system")), ("user", user)),
            max_tokens=self._max_tokens(), json_schema=_audit_schema(stage1, self.taxonomy.labels),
        )

    def label(self, context: Sequence[ContextTurn], speaker: str, text: str) -> TurnLabel:
        first = _answer(self.llm.chat(self.stage1_request(context, speaker, text)).text, self.taxonomy.labels)
        if first is None:
            return TurnLabel(None, "", None, "unparsed")
        stage1, reason = first["intent"], str(first.get("reason", ""))
        if not self.two_stage:
            return TurnLabel(stage1, reason, stage1, "single")
        audit = _answer(self.llm.chat(self.stage2_request(context, speaker, text, stage1, reason)).text, self.taxonomy.labels)
        if audit is None or audit.get("decision") not in ("kept", "revised"):
            return TurnLabel(stage1, reason, stage1, "unparsed")
        decision = "kept" if audit["intent"] == stage1 else "revised"
        return TurnLabel(audit["intent"], reason, stage1, decision, str(audit.get("evidence", "")))


@dataclass(frozen=True)
class LabelRecord:
    """One labelled turn: where it is, what it was labelled, and the gold it had (if any) for scoring."""

    dialogue_id: str
    turn_index: int
    text: str
    label: TurnLabel
    prior_gold: tuple[str, ...]


def label_dialogues(
    dialogues: Sequence[Dialogue], labeller: LLMLabeller, *, speakers: Sequence[str] = ("customer",),
    context_turns: int = 8, max_turns: int | None = None,
) -> tuple[list[Dialogue], list[LabelRecord]]:
    """The dialogues with each turn of `speakers` labelled by the LLM (up to `max_turns` turns in all),
    and one record per labelled turn. A turn whose answer could not be read keeps no label."""
    labelled, records = [], []
    for dialogue in dialogues:
        history: tuple[ContextTurn, ...] = ()
        turns = []
        for turn in dialogue.turns:
            if turn.speaker in speakers and (max_turns is None or len(records) < max_turns):
                result = labeller.label(recent_context(history, context_turns), turn.speaker, turn.text)
                records.append(LabelRecord(dialogue.dialogue_id, turn.turn_index, turn.text, result, turn.gold))
                turn = replace(turn, gold=(result.intent,) if result.intent else ())
            else:
                turn = replace(turn, gold=())
            turns.append(turn)
            history = append_turn(history, turn.speaker, turn.text)
        labelled.append(replace(dialogue, turns=tuple(turns)))
    return labelled, records


def labelling_report(records: Sequence[LabelRecord]) -> dict[str, Any]:
    """How many turns were labelled, how often the critic revised, and, where the turns already had
    gold intents, how often each stage was right (the paper's table 1)."""
    decisions = [r.label.decision for r in records]
    audited = [d for d in decisions if d in ("kept", "revised")]
    report: dict[str, Any] = {
        "turns": len(records),
        "labelled": sum(r.label.intent is not None for r in records),
        "unparsed": decisions.count("unparsed"),
        "revised": decisions.count("revised"),
        "revise_rate": decisions.count("revised") / len(audited) if audited else None,
    }
    scored = [r for r in records if r.prior_gold and r.label.intent is not None]
    if scored:
        report["gold_turns"] = len(scored)
        report["stage1_accuracy"] = sum(r.label.stage1 in r.prior_gold for r in scored) / len(scored)
        report["final_accuracy"] = sum(r.label.intent in r.prior_gold for r in scored) / len(scored)
        revised = [r for r in scored if r.label.decision == "revised"]
        report["revisions_right"] = sum(r.label.intent in r.prior_gold for r in revised)
        report["revisions_wrong"] = sum(r.label.stage1 in r.prior_gold for r in revised)
    return report
