"""Simulated multi-turn dialogues for training augmentation (Building Multi-turn Intent Classification with LLM-based Labeling, section 4.2 and appendix C.3).

Real transcripts rarely switch intent mid-way, ask for clarification or vent, so a classifier learns
little about them. A controller plans each dialogue: it opens on a real customer query of one intent
(the paper's "top-query database" is the labelled data's queries) and then draws each next customer
behaviour (follow-up, clarification, chit-chat, frustration, rambling, intent change, asking for a
human, ending) with controlled randomness. An LLM plays the customer for each planned turn and an LLM
plays the agent between them; the two-stage labeller then labels the customer turns, as in the paper.

One deliberate difference: the paper asks an LLM which behaviours could follow the history before
drawing one; here the controller's rules decide (no ending before a minimum of turns, one request for
a human at most, which ends the dialogue). That saves one call per turn, and the plan stays a pure
function of the random seed, testable without a model.
"""

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dialin_core import prompts
from dialin_core.classify.data import ContextTurn, Dialogue, DialogueTurn, append_turn, render_context
from dialin_core.classify.labelling import LLMLabeller, TurnLabel
from dialin_core.llm.base import ChatRequest
from dialin_core.llm.chat import ChatModel

OPENING = "Opening"
INTENT_CHANGE = "IntentChange"
ENDINGS = ("ContactRealAgent", "EndConversation")
# Relative odds of each behaviour after the opening; intent changes are frequent on purpose: they are
# what transcripts lack and what the augmentation is for.
DEFAULT_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("FollowUpQuestion", 3.0), ("Clarification", 1.5), ("ChitChat", 1.0), ("Frustration", 1.0),
    ("Rambling", 0.5), (INTENT_CHANGE, 2.0), ("ContactRealAgent", 0.5), ("EndConversation", 1.5),
)


def one_line_after(tag: str) -> str:
    """GBNF for one message opened by the speaker's tag: the model writes no tag or second speaker of its
    own, and cannot open with a bracket it copied from the prompt, such as "(start of the dialogue)"."""
    return f'root ::= "{tag}: " [A-Za-z0-9"\'] [^\\r\\n]{{1,199}}'


@dataclass(frozen=True)
class SimulatorSettings:
    min_user_turns: int = 2  # no ending before this many customer turns
    max_user_turns: int = 5  # the last one ends the dialogue
    weights: tuple[tuple[str, float], ...] = DEFAULT_WEIGHTS
    temperature: float = 0.7

    def __post_init__(self) -> None:
        if not 1 <= self.min_user_turns <= self.max_user_turns:
            raise ValueError(f"need 1 <= min_user_turns <= max_user_turns, got {self.min_user_turns} and {self.max_user_turns}")
        unknown = {name for name, _ in self.weights} - {name for name, _ in DEFAULT_WEIGHTS}
        if unknown:
            raise ValueError(f"unknown behaviours: {', '.join(sorted(unknown))}")


@dataclass(frozen=True)
class PlannedTurn:
    behaviour: str
    goal: str  # the intent the customer pursues from this turn on
    seed_query: str  # a real query of that intent, which the customer paraphrases


def seed_queries(dialogues: Sequence[Dialogue], speaker: str = "customer") -> dict[str, tuple[str, ...]]:
    """Per intent, the customer turns that open it: a dialogue's first customer turn where the intent
    has some (they read as openings), else the first turn carrying it in a dialogue."""
    openings: dict[str, list[str]] = {}
    entries: dict[str, list[str]] = {}
    for dialogue in dialogues:
        customer_turns = [t for t in dialogue.turns if t.speaker == speaker]
        seen: set[str] = set()
        for position, turn in enumerate(customer_turns):
            for intent in turn.gold[:1]:
                if intent not in seen:
                    (openings if position == 0 else entries).setdefault(intent, []).append(turn.text)
                seen.add(intent)
    queries = {intent: tuple(dict.fromkeys(openings.get(intent) or entries[intent])) for intent in {**entries, **openings}}
    if len(queries) < 2:
        raise ValueError(f"simulation needs labelled {speaker} turns of at least two intents, found {len(queries)}")
    return queries


def plan_dialogue(rng: random.Random, queries: dict[str, tuple[str, ...]], settings: SimulatorSettings) -> list[PlannedTurn]:
    """The customer's turns of one dialogue: behaviours and the goal behind each, before any text."""
    goal = rng.choice(sorted(queries))
    plan = [PlannedTurn(OPENING, goal, rng.choice(queries[goal]))]
    while plan[-1].behaviour not in ENDINGS:
        if len(plan) + 1 == settings.max_user_turns:
            behaviour = "EndConversation"
        else:
            allowed = [(b, w) for b, w in settings.weights if b not in ENDINGS or len(plan) + 1 >= settings.min_user_turns]
            behaviour = rng.choices([b for b, _ in allowed], weights=[w for _, w in allowed])[0]
        query = plan[-1].seed_query
        if behaviour == INTENT_CHANGE:
            goal = rng.choice(sorted(set(queries) - {goal}))
            query = rng.choice(queries[goal])
        plan.append(PlannedTurn(behaviour, goal, query))
    return plan


def _message(text: str, tag: str) -> str:
    """The generated message without its tag and the quotes a model may wrap it in."""
    return text.removeprefix(f"{tag}:").strip().strip('"').strip()


@dataclass(frozen=True)
class SimulatedTurn:
    turn: DialogueTurn
    behaviour: str | None  # None for the agent's turns
    planned_intent: str | None
    label: TurnLabel | None


@dataclass(frozen=True)
class SimulatedDialogue:
    dialogue_id: str
    turns: tuple[SimulatedTurn, ...]

    def dialogue(self) -> Dialogue:
        return Dialogue(self.dialogue_id, tuple(t.turn for t in self.turns))

    def extras(self) -> dict[tuple[str, int], dict[str, Any]]:
        """What the controller and the labeller said about each customer turn, for the written file."""
        rows = {}
        for t in self.turns:
            if t.behaviour is not None:
                row: dict[str, Any] = {"behaviour": t.behaviour, "planned_intent": t.planned_intent}
                if t.label is not None:
                    row |= {"label_decision": t.label.decision, "label_stage1": t.label.stage1, "label_reason": t.label.reason}
                rows[(self.dialogue_id, t.turn.turn_index)] = row
        return rows


class DialogueSimulator:
    """Plays planned dialogues with an LLM customer and an LLM agent; with a labeller, the customer's
    turns carry its labels (as in the paper), without one they carry the plan's goal."""

    def __init__(self, llm: ChatModel, queries: dict[str, tuple[str, ...]], labeller: LLMLabeller | None = None,
                 settings: SimulatorSettings = SimulatorSettings()) -> None:
        self.llm = llm
        self.queries = queries
        self.labeller = labeller
        self.settings = settings

    def _say(self, tag: str, system: str, user: str) -> str:
        request = ChatRequest(messages=(("system", system), ("user", user)), max_tokens=64,
                              temperature=self.settings.temperature, grammar=one_line_after(tag))
        return _message(self.llm.chat(request).text, tag)

    def customer_turn(self, history: Sequence[ContextTurn], planned: PlannedTurn) -> str:
        """The seed query itself opens the dialogue (the paper's rule); later turns are generated."""
        if planned.behaviour == OPENING:
            return planned.seed_query
        user = prompts.template("simulate_user").format(
            goal=planned.goal, seed_query=planned.seed_query, history=render_context(history), behaviour=planned.behaviour
        )
        return self._say("customer", prompts.template("simulate_user_system"), user) or planned.seed_query

    def agent_turn(self, history: Sequence[ContextTurn]) -> str:
        user = prompts.template("simulate_agent").format(history=render_context(history))
        return self._say("agent", prompts.template("simulate_agent_system"), user)

    def simulate(self, dialogue_id: str, rng: random.Random) -> SimulatedDialogue:
        history: tuple[ContextTurn, ...] = ()
        turns: list[SimulatedTurn] = []
        plan = plan_dialogue(rng, self.queries, self.settings)
        for step, planned in enumerate(plan):
            text = self.customer_turn(history, planned)
            label = self.labeller.label(history, "customer", text) if self.labeller else None
            intent = (label.intent if label else planned.goal) or planned.goal
            turns.append(SimulatedTurn(DialogueTurn(len(turns), "customer", text, (intent,)), planned.behaviour, planned.goal, label))
            history = append_turn(history, "customer", text)
            if step + 1 < len(plan) or planned.behaviour == "ContactRealAgent":
                reply = self.agent_turn(history)
                if reply:
                    turns.append(SimulatedTurn(DialogueTurn(len(turns), "agent", reply, ()), None, None, None))
                    history = append_turn(history, "agent", reply)
        return SimulatedDialogue(dialogue_id, tuple(turns))


def simulate_dialogues(simulator: DialogueSimulator, count: int, seed: int = 0, prefix: str = "sim") -> list[SimulatedDialogue]:
    """`count` dialogues; the same seed plans the same dialogues (and a cached LLM answers them again)."""
    if count < 1:
        raise ValueError(f"the number of dialogues to simulate must be at least 1, not {count}")
    rng = random.Random(seed)
    return [simulator.simulate(f"{prefix}-{seed}-{n:04d}", rng) for n in range(count)]


def simulation_report(dialogues: Sequence[SimulatedDialogue]) -> dict[str, Any]:
    """Counts of behaviours and intent switches, and how often the labeller agreed with the plan."""
    customer = [t for d in dialogues for t in d.turns if t.behaviour is not None]
    labelled = [t for t in customer if t.label is not None and t.label.intent is not None]
    audited = [t for t in labelled if t.label.decision in ("kept", "revised")]
    return {
        "dialogues": len(dialogues),
        "customer_turns": len(customer),
        "agent_turns": sum(1 for d in dialogues for t in d.turns if t.behaviour is None),
        "behaviours": dict(Counter(t.behaviour for t in customer)),
        "dialogues_with_switch": sum(any(t.behaviour == INTENT_CHANGE for t in d.turns) for d in dialogues),
        "labelled_by": "two-stage labeller" if labelled else "plan",
        "label_agrees_with_plan": sum(t.label.intent == t.planned_intent for t in labelled) / len(labelled) if labelled else None,
        "revise_rate": sum(t.label.decision == "revised" for t in audited) / len(audited) if audited else None,
    }
