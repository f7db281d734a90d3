"""Clustering as classification with LLM-generated labels (Text Clustering as Classification with LLMs): generate, merge, classify.

1. Label generation: the utterances in shuffled mini-batches (the paper's B = 15); the LLM labels every
   utterance of a batch with an action-objective name, one numbered line each, constrained by a grammar
   so every line parses. The labels a batch produced are the proposals; the analyst's example labels
   (e.g. approved names of a reviewed run) are shown as labels to reuse when they fit.
2. Label merge: near-duplicate labels ("inquire-top_up", "check-top_up") are merged with the same
   label-embedding test the Dial-In method proposes merges with (geodesic distance + vMF posterior,
   `merge.propose_merges`), each group keeping its most proposed label. The paper asks the LLM to merge;
   a 0.5B model rewriting a list of a hundred labels drops and invents labels, the embedding test does not.
3. Classification: every utterance gets one label. A label stands for the utterances it was proposed
   for: its prototype is their mean embedding, refined by k-means steps from there, and labels that
   hold less than `min_share` of the utterances are dropped, smallest first. The prototypes pre-select each utterance's
   few nearest labels (the multi-turn classification paper's hybrid), so a prompt holds several utterances with a short candidate
   list each, and the grammar lets line i name only utterance i's candidates; where the nearest
   prototype leads by `sure_margin`, it answers alone. An answer off the list (a server that ignores
   grammars) falls back to the nearest label.

Why prototypes and a minimum share, measured on BANKING77 *train* samples (never test): the embedding of
a two-word name is a poor stand-in for an intent (ACC 0.23-0.29 classifying 231-462 queries by it),
the mean of the utterances the LLM gave that name is a good one (0.52-0.54). The 0.5B model proposes
ever more labels as the data grows (610 distinct ones for 3,000 queries of 77 intents, 578 after the
merge), so labels that hold too little of the data are dropped: ACC 0.29 with 434 clusters when only
single-utterance labels go, 0.60 with 92 when labels under 0.6% go (k-means with the true k: 0.58).

No k: the number of clusters is the number of labels the data asked for. Cost: one call per `batch_size`
utterances to generate, one per `classify_batch` unsure utterances to classify.
"""

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dialin_core import prompts
from dialin_core.config import RunConfig
from dialin_core.judging.cohesion import unit_rows
from dialin_core.llm.base import ChatRequest
from dialin_core.llm.chat import ChatModel, choice_grammar, few_shot_turns
from dialin_core.naming.merge import propose_merges
from dialin_core.naming.names import CHINESE, ENGLISH, NAME_PATTERN, NameScheme

NAME_TOKENS = 12  # generous tokens for one action-objective name and its line number
LINE = re.compile(r"^\s*(\d+)\s*[.):]\s*(.+?)\s*$")


@dataclass(frozen=True)
class LabelgenSettings:
    """The run configuration's labelgen fields (validated there; the defaults are RunConfig's)."""

    batch_size: int = RunConfig.labelgen_batch  # utterances per label-generation call (the paper's B)
    classify_batch: int = RunConfig.classify_batch  # utterances per classification call
    candidate_labels: int = RunConfig.candidate_labels  # nearest labels offered per utterance; 0: the whole label list
    sure_margin: float = RunConfig.sure_margin  # cosine lead of the nearest label over the next that needs no LLM; 1.0: always ask
    min_share: float = RunConfig.min_share  # a label holding less of the utterances is dropped (fixed labels never are)
    max_examples: int = 20  # example labels shown while generating (the paper shows ~20% of the labels)
    seed: int = RunConfig.seed

    @classmethod
    def of(cls, config: RunConfig) -> "LabelgenSettings":
        """The labelgen settings of a run."""
        return cls(batch_size=config.labelgen_batch, classify_batch=config.classify_batch, candidate_labels=config.candidate_labels,
                   sure_margin=config.sure_margin, min_share=config.min_share, seed=config.seed)


def numbered_lines(text: str) -> dict[int, str]:
    """`1. inquire-balance` lines as {1: 'inquire-balance'}; other lines are ignored."""
    found: dict[int, str] = {}
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            found.setdefault(int(match.group(1)), match.group(2).strip("\"'`"))
    return found


def _lines_grammar(alternatives: Sequence[str]) -> str:
    """GBNF for `1. <line1>\\n2. <line2>...`, where line i's rule is `alternatives[i]`'s sentence."""
    rules = [f"line{i} ::= {alternative}" for i, alternative in enumerate(alternatives, 1)]
    body = ' "\\n" '.join(f'"{i}. " line{i}' for i in range(1, len(alternatives) + 1))
    return "\n".join([f"root ::= {body}", *rules])


# -- 1. generation ----------------------------------------------------------------------------------------


def generation_messages(sentences: list[str], examples: Sequence[str], scheme: NameScheme = ENGLISH) -> tuple[tuple[str, str], ...]:
    def user(shown: list[str]) -> str:
        return prompts.template(f"labelgen{scheme.prompts}_user").format(sentences=prompts.numbered(shown))

    known = prompts.template(f"labelgen{scheme.prompts}_known").format(labels=", ".join(examples)) if examples else ""
    system = prompts.template(f"labelgen{scheme.prompts}_system").format(verbs=", ".join(scheme.verbs), known=known).rstrip()
    return (("system", system), *few_shot_turns(f"labelgen{scheme.prompts}", user), ("user", user(sentences)))


def generation_request(sentences: list[str], examples: Sequence[str], scheme: NameScheme = ENGLISH) -> ChatRequest:
    grammar = _lines_grammar(["name"] * len(sentences)) + "\n" + scheme.grammar().replace("root ::=", "name ::=", 1)
    tokens = NAME_TOKENS * len(sentences) * (2 if scheme is CHINESE else 1)  # a Han character is a token or two
    return ChatRequest(messages=generation_messages(sentences, examples, scheme), max_tokens=tokens, grammar=grammar)


def generate_labels(
    llm: ChatModel, texts: Sequence[str], settings: LabelgenSettings, examples: Sequence[str] = (), scheme: NameScheme = ENGLISH
) -> dict[int, str]:
    """The label proposed for each utterance (by position), over shuffled mini-batches of the texts.

    Lines that are not action-objective names (a back end that ignores grammars) are dropped, so an
    utterance may have no proposal.
    """
    order = np.random.default_rng(settings.seed).permutation(len(texts))
    shown = list(examples)[: settings.max_examples]
    proposed: dict[int, str] = {}
    for start in range(0, len(order), settings.batch_size):
        rows = order[start : start + settings.batch_size]
        lines = numbered_lines(llm.chat(generation_request([texts[i] for i in rows], shown, scheme)).text)
        proposed.update({int(row): lines[n] for n, row in enumerate(rows, 1) if NAME_PATTERN.fullmatch(lines.get(n, ""))})
    return proposed


# -- 2. merge ---------------------------------------------------------------------------------------------


def merge_labels(proposed: Counter[str], name_vectors: Callable[[list[str]], np.ndarray], fixed: Sequence[str] = ()) -> dict[str, str]:
    """Each label -> the label it is merged into: the most proposed one of its near-duplicate group.

    `fixed` labels (an earlier run's intents) are kept as they are and win their group, so a new label
    that only rewords one of them folds into it.
    """
    weight = {**proposed, **{label: float("inf") for label in fixed}}
    labels = sorted(weight)
    if len(labels) < 2:
        return {label: label for label in labels}
    groups = propose_merges(list(range(len(labels))), name_vectors(labels))
    merged = {label: label for label in labels}
    for group in groups:
        members = [labels[i] for i in group.cluster_ids]
        keeper = min(members, key=lambda label: (-weight[label], len(label), label))
        merged.update({label: keeper for label in members if label not in fixed})
    return merged


# -- 3. classification ------------------------------------------------------------------------------------


MAX_ROUNDS = 300  # assignment rounds: label drops, then k-means steps until no utterance changes label
DROP_FRACTION = 0.05  # at most this share of the labels is dropped per round, smallest first


def min_members(n_utterances: int, min_share: float) -> int:
    """The fewest utterances a label must hold to stay an intent: `min_share` of the data, at least two."""
    return max(2, math.ceil(min_share * n_utterances))


def label_prototypes(vectors: np.ndarray, owners: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Per label, the unit mean of the utterances it labels (`owners[i]` is utterance i's label index, or
    -1); a label that labels none keeps its row of `fallback`."""
    prototypes = np.array(fallback, dtype=float)
    for label in np.unique(owners[owners >= 0]):
        prototypes[label] = vectors[owners == label].mean(axis=0)
    return unit_rows(prototypes)


def refine_prototypes(
    vectors: np.ndarray, prototypes: np.ndarray, fixed: np.ndarray, min_members: int
) -> tuple[np.ndarray, np.ndarray]:
    """Prototypes moved to where their utterances lie, and the indices of the labels kept.

    Each utterance takes its nearest prototype. While labels hold fewer than `min_members`, the smallest
    of them are dropped (a few at a time, never a `fixed` one) and their utterances go to their next
    nearest; dropping every small label at once would leave a handful of generic labels to take
    everything. Then spherical k-means steps from there: each prototype moves to the mean of its
    utterances. Written out rather than using scikit-learn's KMeans, which re-seeds an empty cluster at
    a far point: that cluster would keep a label's name while holding other utterances.
    """
    kept, current, assignment = np.arange(len(prototypes)), prototypes, None
    for _ in range(MAX_ROUNDS):
        nearest = (vectors @ current.T).argmax(axis=1)
        sizes = np.bincount(nearest, minlength=len(current)).astype(float)
        sizes[fixed[kept]] = np.inf
        small = np.flatnonzero(sizes < min_members)
        if len(small) and len(small) < len(current):
            drop = small[np.argsort(sizes[small], kind="stable")[: math.ceil(DROP_FRACTION * len(current))]]
            kept, current = np.delete(kept, drop), np.delete(current, drop, axis=0)
            continue
        if assignment is not None and np.array_equal(nearest, assignment):
            break
        assignment, current = nearest, label_prototypes(vectors, nearest, current)
    return current, kept


def shortlists(text_vectors: np.ndarray, label_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per utterance, its `k` nearest labels by cosine, nearest first (all when k is 0), and how far the
    nearest is ahead of the second (1.0 when there is only one label)."""
    similarity = unit_rows(text_vectors) @ unit_rows(label_vectors).T
    order = np.argsort(-similarity, axis=1, kind="stable")
    k = label_vectors.shape[0] if k == 0 else min(k, label_vectors.shape[0])
    ranked = np.take_along_axis(similarity, order[:, :2], axis=1)
    margin = ranked[:, 0] - ranked[:, 1] if ranked.shape[1] > 1 else np.ones(len(similarity))
    return order[:, :k], margin


def classification_request(texts: Sequence[str], candidates: Sequence[Sequence[str]]) -> ChatRequest:
    blocks = [f"{i}. {text}\n   candidates: {', '.join(c)}" for i, (text, c) in enumerate(zip(texts, candidates), 1)]
    user = prompts.template("labelgen_choice_user").format(utterances="\n".join(blocks))
    grammar = _lines_grammar([choice_grammar(c).removeprefix("root ::= ") for c in candidates])
    longest = max(len(label) for c in candidates for label in c)
    return ChatRequest(
        messages=(("system", prompts.template("labelgen_choice_system")), ("user", user)),
        max_tokens=(longest + 6) * len(texts), grammar=grammar,
    )


@dataclass(frozen=True)
class Classification:
    label_index: np.ndarray  # per utterance, an index into the label list
    asked_llm: np.ndarray  # per utterance: whether the LLM chose its label (else the nearest label stands)
    off_list: int  # LLM answers outside the candidates, replaced by the nearest label


def classify(
    llm: ChatModel, texts: Sequence[str], text_vectors: np.ndarray, labels: Sequence[str], label_vectors: np.ndarray,
    settings: LabelgenSettings,
) -> Classification:
    """One label per utterance. The nearest label stands where it leads the next by `sure_margin`; the
    others go to the LLM, `classify_batch` per call, each choosing among its candidates."""
    shortlist, margin = shortlists(text_vectors, label_vectors, settings.candidate_labels)
    chosen = shortlist[:, 0].copy()
    unsure = np.flatnonzero(margin < settings.sure_margin) if len(labels) > 1 else np.array([], dtype=int)
    off_list = 0
    for start in range(0, len(unsure), settings.classify_batch):
        rows = unsure[start : start + settings.classify_batch]
        candidates = [[labels[j] for j in shortlist[i]] for i in rows]
        answers = numbered_lines(llm.chat(classification_request([texts[i] for i in rows], candidates)).text)
        for line, (row, offered) in enumerate(zip(rows, candidates), 1):
            answer = answers.get(line)
            if answer in offered:
                chosen[row] = shortlist[row][offered.index(answer)]
            else:
                off_list += 1
    return Classification(chosen, np.isin(np.arange(len(texts)), unsure), off_list)
