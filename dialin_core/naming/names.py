"""Intent names in the Dial-In paper's "action-objective" form, e.g. `inquire-balance`, `report-lost_card`, `查询-余额`.

The namer's output is constrained by a grammar built from the allowed verbs, so every name parses;
`validate_intent_name` guards names that come from elsewhere (an analyst's rename, an OpenAI server
that ignores grammars), and `unique_name` keeps names unique within a run.

Names are written in the data's language (`NameScheme`). English keeps lowercase ASCII words joined by
underscores. Chinese, the Dial-In paper's own setting, whose labels are Chinese action-objective pairs,
gets Chinese verbs, one for each English verb, so the role a verb implies (section 3.4) and the merge of
names read the same in both, and an objective of Han characters (Chinese writes no spaces between words).
Any other language keeps the English verbs, whose roles the product knows, and takes an objective in
lowercase words of its own script: no verb list is kept here for languages nobody has checked.
"""

import re
from dataclasses import dataclass

from dialin_core import prompts
from dialin_core.data.language import reads_as_english
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
# One Chinese verb for each English one, in the same order.
CHINESE_VERBS: dict[str, str] = dict(zip((
    "查询", "查看", "反映", "申请", "取消", "修改", "更新", "激活", "申诉", "转账",
    "办理", "注销", "开通", "更换", "投诉", "支付", "订购", "跟踪", "预订", "重置", "冻结", "添加",
    "删除", "续费", "提交", "比较", "升级", "降级", "退货", "验证", "预约", "确认",
    "问候", "询问", "提供", "解释", "推荐", "道歉", "告知", "感谢", "转接",
    "闲聊",
), ACTION_VERBS, strict=True))
# Lowercase letters of the scripts a name may be written in, as one character class both the grammar (GBNF)
# and the validating regex read: Latin with diacritics, Greek, Cyrillic, Hebrew, Arabic, the Indic scripts,
# Thai and Lao, Hangul, kana and Han.
HAN = "\u3400-\u4dbf\u4e00-\u9fff"
LETTERS = ("a-z\u00df-\u00f6\u00f8-\u00ff\u0101-\u024f\u03ac-\u03ce\u0430-\u045f\u05d0-\u05ea\u0620-\u064a"
           "\u0900-\u0dff\u0e01-\u0eff\u1100-\u11ff\uac00-\ud7af\u3040-\u30ff" + HAN)


@dataclass(frozen=True)
class NameScheme:
    """How names are written for data in one language: the verbs, the objective's words, the namer's prompts."""

    language: str
    verbs: tuple[str, ...]
    word: str  # a character class (GBNF and regex alike) for one word of the objective
    word_length: tuple[int, int]
    max_words: int  # words joined by "_"
    prompts: str  # the suffix of its prompt files: namer<suffix>_system.txt, labelgen<suffix>_examples.json, ...

    def grammar(self) -> str:
        """GBNF for `verb-word(_word){0,max_words-1}` with the verb from the list."""
        alternatives = " | ".join(f'"{verb}"' for verb in self.verbs)
        low, high = self.word_length
        more = f' ("_" word){{0,{self.max_words - 1}}}' if self.max_words > 1 else ""
        return f'root ::= verb "-" word{more}\nverb ::= {alternatives}\nword ::= [{self.word}]{{{low},{high}}}'

    def pattern(self) -> re.Pattern[str]:
        """A name of this scheme, with the optional `_N` tail `unique_name` appends to a name already taken."""
        low, high = self.word_length
        word = f"[{self.word}]{{{low},{high}}}"
        verbs = "|".join(map(re.escape, self.verbs))
        return re.compile(rf"(?P<verb>{verbs})-(?P<objective>{word}(?:_{word}){{0,{self.max_words - 1}}})(?:_[0-9]+)?")


ENGLISH = NameScheme("en", ACTION_VERBS, "a-z", (2, 20), 4, "")
CHINESE = NameScheme("zh", tuple(CHINESE_VERBS), HAN, (1, 12), 1, "_zh")
ANY_LANGUAGE = NameScheme("*", ACTION_VERBS, LETTERS, (2, 20), 4, "_any")
SCHEMES = {"en": ENGLISH, "zh": CHINESE}


def scheme_for(language: str | None) -> NameScheme:
    """English names for English (and undetermined) text, Chinese for Chinese, English verbs with the
    objective in the data's own script for any other language."""
    return ENGLISH if reads_as_english(language) else SCHEMES.get(language, ANY_LANGUAGE)


# A name of any scheme: what validation, exports and the classifier's labels accept.
NAME_PATTERN = re.compile("|".join(f"(?:{s.pattern().pattern})" for s in (ENGLISH, CHINESE, ANY_LANGUAGE)).replace(
    "(?P<verb>", "(?:").replace("(?P<objective>", "(?:"))
VERB_MEANING: dict[str, str] = {**{v: v for v in ACTION_VERBS}, **CHINESE_VERBS}  # a verb as written -> its English verb


def name_grammar(verbs: tuple[str, ...] = ACTION_VERBS) -> str:
    """GBNF for English `verb-word(_word){0,3}` with the verb from the list."""
    return NameScheme("en", verbs, "a-z", (2, 20), 4, "").grammar()


def validate_intent_name(name: str) -> str:
    """The name if it is `verb-objective` with an allowed verb (of any scheme) in lowercase; otherwise a clear error."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"'{name}' is not an action-objective name: use a verb from the list ({', '.join(ACTION_VERBS[:6])}, …), "
            "a hyphen and lowercase words joined by underscores, e.g. inquire-balance (or a Chinese verb and objective, e.g. 查询-余额)"
        )
    return name


def name_role(name: str) -> str:
    """customer, agent or other, from the verb: the Dial-In paper's role heuristic (section 3.4)."""
    verb = VERB_MEANING.get(name.split("-", 1)[0], "")
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


def namer_messages(sentences: list[str], few_shot: bool = True, scheme: NameScheme = ENGLISH) -> tuple[tuple[str, str], ...]:
    """The (role, content) turns the namer answers: what `LLMNamer` sends, and what a fine-tuning set of
    the namer must show, so a trained namer sees its prompts exactly as it will at run time."""
    def user(shown: list[str]) -> str:
        return prompts.template(f"namer{scheme.prompts}_user").format(sentences=prompts.numbered(shown))

    system = prompts.template(f"namer{scheme.prompts}_system").format(verbs=", ".join(scheme.verbs))
    shots = few_shot_turns(f"namer{scheme.prompts}", user) if few_shot else ()
    return (("system", system), *shots, ("user", user(sentences)))


@dataclass(frozen=True)
class LLMNamer:
    llm: ChatModel
    few_shot: bool = True
    scheme: NameScheme = ENGLISH

    def request(self, sentences: list[str]) -> ChatRequest:
        # a Han character is a token or two: 24 tokens hold a verb and a 12-character objective
        return ChatRequest(messages=namer_messages(sentences, self.few_shot, self.scheme), max_tokens=32 if self.scheme is CHINESE else 24,
                           grammar=self.scheme.grammar())

    def name(self, sentences: list[str], taken: set[str] | None = None) -> str:
        raw = self.llm.chat(self.request(sentences)).text.strip()
        return unique_name(validate_intent_name(raw), taken or set())
