"""Dialogues with per-turn intents, from a dialogue file or a reviewed run, and the labelled turns
a classifier learns from: each turn's text, its gold intents and the dialogue context before it.

Context follows the multi-turn classification paper (section 4.1): consecutive turns of one speaker are merged into one unit, so
a customer who writes three short messages in a row is one turn of context, and the context of a turn
is the last few merged units before it. The same fold (`append_turn`) builds context for training and
for a live conversation, so a deployed model sees its inputs exactly as it was trained on them.
"""

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dialin_core.curation.export import curated_utterances
from dialin_core.curation.review import UNASSIGNED, review_state
from dialin_core.data.ingest import FilePath, Role, Turn, read_transcripts
from dialin_core.data.store import Store
from dialin_core.errors import IngestError
from dialin_core.naming.names import NAME_PATTERN, base_name

DEFAULT_CONTEXT_TURNS = 8


@dataclass(frozen=True)
class ContextTurn:
    """One merged unit of dialogue: consecutive turns of one speaker, texts joined by a space."""

    speaker: str  # speaker_key of the turns: "customer", "agent", a speaker's name, or "" if unknown
    text: str


@dataclass(frozen=True)
class DialogueTurn:
    turn_index: int
    speaker: str  # speaker_key
    text: str
    gold: tuple[str, ...]  # the intents active at this turn, primary first; () when not labelled


@dataclass(frozen=True)
class Dialogue:
    dialogue_id: str
    turns: tuple[DialogueTurn, ...]


@dataclass(frozen=True)
class LabelledTurn:
    """A training or evaluation example: a turn with an intent, and the merged turns before it."""

    dialogue_id: str
    turn_index: int
    speaker: str
    text: str
    context: tuple[ContextTurn, ...]  # every merged unit before the turn, oldest first
    gold: tuple[str, ...]


def speaker_key(role: Role, speaker: str) -> str:
    """Who speaks, for merging: the role when known, else the name as written ("" when absent).

    Turns of an unknown speaker are never merged: plain-text transcripts have no speakers, and merging
    them would fold a whole dialogue into one unit.
    """
    return role if role != "other" else speaker.strip()


def append_turn(history: Sequence[ContextTurn], speaker: str, text: str) -> tuple[ContextTurn, ...]:
    """The history with one more turn: merged into the last unit when the same known speaker goes on."""
    if history and speaker and history[-1].speaker == speaker:
        return (*history[:-1], ContextTurn(speaker, f"{history[-1].text} {text}"))
    return (*history, ContextTurn(speaker, text))


def recent_context(history: Sequence[ContextTurn], context_turns: int) -> tuple[ContextTurn, ...]:
    """The last `context_turns` merged units: what the classifier and the LLM read of the past."""
    return tuple(history[-context_turns:]) if context_turns > 0 else ()


def render_context(context: Sequence[ContextTurn]) -> str:
    """The context as an LLM reads it: one "speaker: text" line per merged unit, oldest first."""
    if not context:
        return "(start of the dialogue)"
    return "\n".join(f"{turn.speaker or 'speaker'}: {turn.text}" for turn in context)


def labelled_turns(dialogues: Iterable[Dialogue]) -> list[LabelledTurn]:
    """Every turn with a gold intent, with the whole merged history before it; how much of it a model
    reads is the model's setting (`recent_context`), so one set of examples serves every setting."""
    examples = []
    for dialogue in dialogues:
        history: tuple[ContextTurn, ...] = ()
        for turn in dialogue.turns:
            if turn.gold:
                examples.append(LabelledTurn(dialogue.dialogue_id, turn.turn_index, turn.speaker, turn.text, history, turn.gold))
            history = append_turn(history, turn.speaker, turn.text)
    return examples


def split_dialogues(dialogues: Sequence[Dialogue], test_share: float, seed: int) -> tuple[list[Dialogue], list[Dialogue]]:
    """(train, test) by whole dialogues, so no test turn has its own dialogue's turns in training."""
    order = list(range(len(dialogues)))
    random.Random(seed).shuffle(order)
    n_test = round(len(dialogues) * test_share)
    test = set(order[:n_test])
    return [d for i, d in enumerate(dialogues) if i not in test], [d for i, d in enumerate(dialogues) if i in test]


# -- from a dialogue file ----------------------------------------------------------------------------------


def active_intents(path: FilePath) -> dict[tuple[str, int], tuple[str, ...]]:
    """Every intent active at each turn of a JSON/JSONL dialogue file, keyed like ingest's turns.

    Ingest keeps one gold label per turn, the first active intent. A turn of a multi-domain dialogue
    can have several (SGD: the intent still open in one service and the one just opened in another),
    and a prediction naming any of them is right, so they are read here from the raw file. The file is
    read by `read_transcripts` first, which validates it; this follows ingest's numbering (dialogue id
    or "line-N"/"item-N", turns with text counted from 0) and its rule that "intent" wins over
    "active_intents".
    """
    raw = Path(path).read_bytes().decode("utf-8-sig", errors="replace")
    if raw.lstrip().startswith("["):
        dialogues = [(d, f"item-{n}") for n, d in enumerate(json.loads(raw), 1)]
    else:
        dialogues = [(json.loads(line), f"line-{n}") for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    intents: dict[tuple[str, int], tuple[str, ...]] = {}
    next_index: dict[str, int] = {}
    for dialogue, fallback_id in dialogues:
        raw_id = dialogue.get("dialogue_id")
        dialogue_id = str(raw_id) if raw_id is not None and str(raw_id).strip() else fallback_id
        for turn in dialogue["turns"]:
            if turn.get("utterance", turn.get("text")).strip():
                index = next_index.get(dialogue_id, 0)
                next_index[dialogue_id] = index + 1
                intents[(dialogue_id, index)] = _turn_intents(turn)
    return intents


def _turn_intents(turn: dict) -> tuple[str, ...]:
    intent = turn.get("intent")
    if isinstance(intent, str) and intent.strip():
        return (intent.strip(),)
    active = turn.get("active_intents")
    names = active if isinstance(active, list) else []
    return tuple(dict.fromkeys(name for name in names if isinstance(name, str) and name.strip()))


def dialogues_from_turns(turns: Iterable[Turn], gold: dict[tuple[str, int], tuple[str, ...]]) -> list[Dialogue]:
    """Turns grouped into dialogues in order of first appearance; `gold` gives each turn's intents."""
    grouped: dict[str, list[DialogueTurn]] = {}
    for turn in turns:
        intents = gold.get((turn.dialogue_id, turn.turn_index), ())
        dialogue_turn = DialogueTurn(turn.turn_index, speaker_key(turn.role, turn.speaker), turn.clean_text, intents)
        grouped.setdefault(turn.dialogue_id, []).append(dialogue_turn)
    return [Dialogue(dialogue_id, tuple(sorted(ts, key=lambda t: t.turn_index))) for dialogue_id, ts in grouped.items()]


def dialogues_from_file(path: FilePath, *, mask_pii: bool = False, require_labels: bool = True) -> list[Dialogue]:
    """Dialogues from a transcript file, labelled where the file labels them (JSON dialogue files keep
    every active intent of a turn); unless `require_labels` is off, a file labelling no turn is refused."""
    turns = read_transcripts(path, mask_pii=mask_pii)
    all_intents = active_intents(path) if Path(path).suffix.lower() in (".jsonl", ".json") else {}
    gold = {}
    for turn in turns:
        key = (turn.dialogue_id, turn.turn_index)
        gold[key] = all_intents.get(key) or ((turn.gold_label,) if turn.gold_label else ())
    dialogues = dialogues_from_turns(turns, gold)
    if require_labels and not any(turn.gold for dialogue in dialogues for turn in dialogue.turns):
        raise IngestError(Path(path), 'no turn has an intent: give turns an "intent" or "active_intents" to train or evaluate on')
    return dialogues


def dialogue_records(dialogues: Iterable[Dialogue], extras: dict[tuple[str, int], dict] | None = None) -> list[dict]:
    """Dialogues as JSON records `dialogues_from_file` reads back: a labelled turn carries its intent as
    "intent", and `extras` adds fields per (dialogue id, turn index), e.g. how an LLM labelled it."""
    extras = extras or {}
    return [
        {"dialogue_id": d.dialogue_id, "turns": [
            {"speaker": t.speaker, "utterance": t.text, **({"intent": t.gold[0]} if t.gold else {}),
             **extras.get((d.dialogue_id, t.turn_index), {})}
            for t in d.turns
        ]}
        for d in dialogues
    ]


# -- from a reviewed run -----------------------------------------------------------------------------------


def _usable(curated: pd.DataFrame) -> pd.Series:
    """Which curated utterances carry a label to learn: assigned, and not in a cluster judged bad (a mix of
    intents is no label)."""
    return curated["intent"].notna() & (curated["verdict"] != "bad")


def run_intents(store: Store, run_id: int) -> dict[int, str]:
    """utterance_id -> intent of a finished run as reviewed: the analyst's names, moves and verdicts win.

    Left out: unassigned utterances, and clusters judged bad.
    A name's `_N` tail, which only keeps engine names unique, is dropped so the clusters share a label.
    """
    curated = curated_utterances(store, run_id, mask_pii=False)  # labels only: the texts trained on are the turns'
    usable = curated[_usable(curated)]
    return {int(u): _label(name) for u, name in zip(usable["utterance_id"], usable["intent"])}


@dataclass(frozen=True)
class LabelCoverage:
    """How many of a run's distinct utterances a classifier trained on it learns from, and what it leaves out."""

    labelled: int
    in_bad_clusters: int
    unassigned: int

    def sentence(self) -> str:
        total = self.labelled + self.in_bad_clusters + self.unassigned
        return (f"{self.labelled} of {total} distinct utterances carry an intent to learn; left out: {self.in_bad_clusters} in "
                f"clusters judged bad and {self.unassigned} unassigned.")


def label_coverage(store: Store, run_id: int) -> LabelCoverage:
    """What `run_intents` keeps and leaves out of a run, counted, so the analyst sees it before training: the same
    rule applied to the reviewed clusters and summed over their sizes (a million utterances are not read for it)."""
    if (status := store.run(run_id).status) != "finished":
        raise ValueError(f"run {run_id} is {status}, not finished: train on it once it has finished")
    clusters = review_state(store, run_id).clusters
    clusters = clusters.assign(intent=clusters["name"].where(clusters["cluster_id"] != UNASSIGNED))
    usable, named, size = _usable(clusters), clusters["intent"].notna(), clusters["size"]
    return LabelCoverage(int(size[usable].sum()), int(size[named & ~usable].sum()), int(size[~named].sum()))


def _label(name: str) -> str:
    return base_name(name) if NAME_PATTERN.fullmatch(name) else name


def dialogues_from_run(store: Store, run_id: int, roles: Sequence[Role] = ("customer", "other")) -> list[Dialogue]:
    """The run's data set as dialogues, each turn of `roles` labelled with its utterance's reviewed intent.

    Agent turns are context, not examples by default: their clusters name what agents do, not what a
    customer wants routed.
    """
    intents = run_intents(store, run_id)
    frame = store.turns(store.run(run_id).dataset_id)
    turns, gold = [], {}
    for row in frame.itertuples(index=False):
        turn = Turn(row.dialogue_id, int(row.turn_index), row.speaker, row.role, row.text, row.clean_text, row.gold_label)
        turns.append(turn)
        if not pd.isna(row.utterance_id) and int(row.utterance_id) in intents and row.role in roles:
            gold[(turn.dialogue_id, turn.turn_index)] = (intents[int(row.utterance_id)],)
    dialogues = dialogues_from_turns(turns, gold)
    if not any(turn.gold for dialogue in dialogues for turn in dialogue.turns):
        raise ValueError(f"run {run_id} labels no {' or '.join(roles)} turn: review it (name or judge its clusters) first")
    return dialogues
