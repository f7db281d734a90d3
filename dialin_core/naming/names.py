"""Intent names in the Dial-In paper's "action-objective" form, e.g. `inquire-balance`, `report-lost_card`.

The namer's output is constrained by a grammar built from the allowed verbs, so every name parses;
`validate_intent_name` guards names that come from elsewhere (an analyst's rename, an OpenAI server
that ignores grammars), and `unique_name` keeps names unique within a run.
"""

import re
from dataclasses import dataclass

from dialin_core import prompts
from dialin_core.llm.base import ChatRequest
from dialin_core.llm.chat import ChatModel, few_shot_turns

CUSTOMER_VERBS = (
    "inquire", "check", "report", "request", "cancel", "change", "update", "activate", "dispute", "transfer",
    "apply", "close", "open", "replace", "complain", "pay", "order", "track", "book", "reset", "block", "add",
    "remove", "renew", "file", "compare", "upgrade", "downgrade", "return", "verify", "schedule", "confirm",
)
AGENT_VERBS = ("greet", "ask", "provide", "explain", "offer", "apologize", "inform", "thank", "escalate")
OTHER_VERBS = ("chitchat",)
ACTION_VERBS = CUSTOMER_VERBS + AGENT_VERBS + OTHER_VERBS
# The optional numeric tail is what `unique_name` appends to a name already taken in the run.
NAME_PATTERN = re.compile(rf"(?P<verb>{'|'.join(ACTION_VERBS)})-(?P<objective>[a-z]{{2,20}}(?:_[a-z]{{2,20}}){{0,3}})(?:_[0-9]+)?")


def name_grammar(verbs: tuple[str, ...] = ACTION_VERBS) -> str:
    """GBNF for `verb-word(_word){0,3}` with the verb from the list."""
    alternatives = " | ".join(f'"{verb}"' for verb in verbs)
    return f'root ::= verb "-" word ("_" word){{0,3}}\nverb ::= {alternatives}\nword ::= [a-z]{{2,20}}'


def validate_intent_name(name: str) -> str:
    """The name if it is `verb-objective` with an allowed verb in lowercase; otherwise a clear error."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"'{name}' is not an action-objective name: use a verb from the list ({', '.join(ACTION_VERBS[:6])}, …), "
            "a hyphen and lowercase words joined by underscores, e.g. inquire-balance"
        )
    return name


def name_role(name: str) -> str:
    """customer, agent or other, from the verb: the Dial-In paper's role heuristic (section 3.4)."""
    verb = name.split("-", 1)[0]
    return "agent" if verb in AGENT_VERBS else "customer" if verb in CUSTOMER_VERBS else "other"


def base_name(name: str) -> str:
    """The name without the `_N` tail `unique_name` adds: clusters sharing a base name share a label."""
    return re.sub(r"_[0-9]+$", "", name)


def name_as_text(name: str) -> str:
    """`report-lost_card` reads as "report lost card" to a sentence embedder."""
    return name.replace("-", " ").replace("_", " ")


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3`, … when it is taken within the run."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def _namer_prompt(sentences: list[str]) -> str:
    return prompts.template("namer_user").format(sentences=prompts.numbered(sentences))


def namer_messages(sentences: list[str], few_shot: bool = True) -> tuple[tuple[str, str], ...]:
    """The (role, content) turns the namer answers: what `LLMNamer` sends, and what a fine-tuning set of
    the namer must show, so a trained namer sees its prompts exactly as it will at run time."""
    system = prompts.template("namer_system").format(verbs=", ".join(ACTION_VERBS))
    shots = few_shot_turns("namer", _namer_prompt) if few_shot else ()
    return (("system", system), *shots, ("user", _namer_prompt(sentences)))


@dataclass(frozen=True)
class LLMNamer:
    llm: ChatModel
    few_shot: bool = True

    def request(self, sentences: list[str]) -> ChatRequest:
        return ChatRequest(messages=namer_messages(sentences, self.few_shot), max_tokens=24, grammar=name_grammar())

    def name(self, sentences: list[str], taken: set[str] | None = None) -> str:
        raw = self.llm.chat(self.request(sentences)).text.strip()
        return unique_name(validate_intent_name(raw), taken or set())
