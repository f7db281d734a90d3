"""The local LLM taught to name intents: LoRA adapters trained on named clusters, kept with their record.

The Dial-In LLM paper fine-tunes its namer as it fine-tunes its judge (section 4.1, Table 3): a small model
names clusters as people do once it has seen clusters people named. The packaged 0.5B model untuned gives broad
names (`inquire-account`, `request-help`) that score below keyword names against gold intent names
(BENCHMARKS.md). Examples come from two places:
- labelled utterances: clusters of one intent (pure subsets at several sizes) and the loop's Ward cuts where
  one intent holds most of the cluster, each shown as the loop's 20-sentence convex sample, answered with that
  intent's name written in the action-objective form (`gold_objective` reads the label's words; the verb is the
  label's own where it has one of the allowed verbs, or what the untuned model picks for that objective under a
  grammar that fixes the objective);
- the names the analyst gave in this workspace (renamed, made, kept by an accepted merge), as the namer
  fine-tuning export writes them, continuing from the shipped adapter.

A tuned namer answers the zero-shot prompt (`namer_messages(few_shot=False)`): the examples it was taught replace
the prompt's two examples. Each adapter records the language of the prompts it learnt (a namer taught on English
names is not used on Chinese data). Held-out examples score it by the loss on the answer's tokens, with and
without the adapter.
"""

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from dialin_core.clustering.sampling import MAX_SAMPLE, convex_sample
from dialin_core.data.store import Store
from dialin_core.judging.training_sets import loop_clusters
from dialin_core.llm.adapters import (
    Adapter, Source, adapters_in, next_adapter_path, read_adapter, resolve_adapter, train_adapter,
)
from dialin_core.llm.base import ChatRequest
from dialin_core.llm.chat import ChatModel
from dialin_core.llm.lora import ChatExample, LoraSettings, TrainedLora
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL
from dialin_core.naming.names import ENGLISH, NAME_PATTERN, NameScheme, namer_messages, scheme_for

PREFIX = "llm-namer-"
SHIPPED = "shipped"  # the adapter that comes with the product, for the packaged model
MIN_EXAMPLES = 20
NAMED_PURITY = 0.6  # a loop cluster is named for its majority intent when that intent holds this share of it
TUNING_SECONDS_PER_EXAMPLE = 2.2  # as the judge's prompts: the same 20-sentence sample (BENCHMARKS.md)
ProgressListener = Callable[[int, int], None]
# Words of a gold label that say nothing in a name, and verbs an intent label often starts with that are not
# among the allowed ones, read as the allowed verb that means the same.
FILLER_WORDS = frozenset({"a", "an", "the", "or", "and", "of", "to", "my", "for", "after", "in", "on", "is", "be", "by", "with",
                          "from", "at", "me", "your", "it", "i"})
VERB_SYNONYMS = {"find": "inquire", "search": "inquire", "get": "request", "buy": "order", "reserve": "book", "make": "request",
                 "lookup": "inquire", "query": "inquire", "ask": "inquire", "set": "change", "edit": "change", "delete": "remove"}


def gold_objective(label: str, scheme: NameScheme = ENGLISH) -> tuple[str | None, str]:
    """(verb, objective) read off a gold intent label: `card_arrival` -> (None, "card_arrival"),
    `cancel_transfer` -> ("cancel", "transfer"), `FindRestaurants` -> ("inquire", "restaurants"). The verb is
    None where the label does not start with one; filler words go, at most the scheme's number of words stay."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", label)
    words = [w for w in re.split(r"[^a-z]+", spaced.lower()) if len(w) >= scheme.word_length[0]]
    verb = None
    if words and (words[0] in scheme.verbs or words[0] in VERB_SYNONYMS) and len(words) > 1:
        verb = VERB_SYNONYMS.get(words[0], words[0])
        words = words[1:]
    kept = [w[: scheme.word_length[1]] for w in words if w not in FILLER_WORDS] or words
    if not kept:
        raise ValueError(f"the intent label '{label}' has no word a name can be made of")
    return verb, "_".join(kept[: scheme.max_words])


def choose_verb(llm: ChatModel, sentences: list[str], objective: str, scheme: NameScheme = ENGLISH) -> str:
    """The verb the model names these sentences with when the objective is given: a grammar fixes it."""
    verbs = " | ".join(f'"{v}"' for v in scheme.verbs)
    grammar = f'root ::= verb "-{objective}"\nverb ::= {verbs}'
    answer = llm.chat(ChatRequest(messages=namer_messages(sentences, few_shot=False, scheme=scheme), max_tokens=16, grammar=grammar)).text
    return answer.strip().split("-", 1)[0]


def intent_names(llm: ChatModel | None, texts: Sequence[str], gold: Sequence[str], scheme: NameScheme = ENGLISH,
                 seed: int = 0) -> dict[str, str]:
    """Each gold intent's name in the action-objective form: the label's verb, else the model's (one call per
    such intent; "inquire" without a model). Unique: a name two labels would share gets the `_N` tail."""
    rng = np.random.default_rng(seed)
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(gold):
        rows_of[label].append(i)
    names: dict[str, str] = {}
    for label in sorted(rows_of):
        verb, objective = gold_objective(label, scheme)
        if verb is None:
            shown = [texts[i] for i in rng.choice(rows_of[label], min(MAX_SAMPLE, len(rows_of[label])), replace=False)]
            verb = choose_verb(llm, shown, objective, scheme) if llm is not None else scheme.verbs[0]
        name, n = f"{verb}-{objective}", 2
        while name in names.values():
            name, n = f"{verb}-{objective}_{n}", n + 1
        names[label] = name
    return names


def labelled_name_examples(texts: Sequence[str], vectors: np.ndarray, gold: Sequence[str], names: dict[str, str], n: int,
                           seed: int = 0, scheme: NameScheme = ENGLISH) -> tuple[list[ChatExample], dict[str, int]]:
    """`n` namer examples from labelled utterances, spread evenly over the intents: pure subsets of an intent
    (8 to 30 members) and Ward cuts a majority intent holds, each shown as its convex sample; with the kinds."""
    gold = np.asarray(gold)
    intents = sorted(set(gold.tolist()))
    if len(intents) < 5:
        raise ValueError(f"teaching the LLM namer from labels needs at least 5 distinct intents, found {len(intents)}")
    rng = np.random.default_rng(seed)
    pool: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for label in intents:
        rows = np.flatnonzero(gold == label)
        for size in (8, 15, 20, 30):
            if len(rows) >= size:
                pool[label].append(("pure", rng.choice(rows, size, replace=False)))
    subset = min(3000, len(gold))
    ks = [k for k in (30, 60, 100, 150) if k < subset // 4] or [max(2, subset // 8)]
    for cluster in loop_clusters(vectors, gold, algorithm="ward", subset_size=subset, ks=ks, repeats=2, seed=seed + 10):
        labels, counts = np.unique(gold[cluster.members], return_counts=True)
        if len(cluster.members) >= 5 and counts.max() / counts.sum() >= NAMED_PURITY:
            pool[str(labels[counts.argmax()])].append(("ward cut", cluster.members))
    for label in pool:
        pool[label] = [pool[label][i] for i in rng.permutation(len(pool[label]))]
    chosen: list[tuple[str, str, np.ndarray]] = []
    while len(chosen) < n and any(pool.values()):  # round-robin over the intents
        for label in intents:
            if pool[label] and len(chosen) < n:
                kind, members = pool[label].pop()
                chosen.append((label, kind, members))
    examples = [ChatExample(namer_messages([texts[i] for i in members[convex_sample(vectors[members], MAX_SAMPLE, seed)]],
                                           few_shot=False, scheme=scheme), names[label], ends_turn=True)
                for label, _, members in chosen]
    kinds: dict[str, int] = defaultdict(int)
    for _, kind, _ in chosen:
        kinds[kind] += 1
    return examples, dict(kinds)


def analyst_name_examples(store: Store) -> tuple[list[ChatExample], dict[str, Any]]:
    """The names the analyst gave on the workspace's finished runs, each with its cluster's sample, as the namer
    fine-tuning export writes them; with the runs they came from and the language most of them are in."""
    from dialin_core.curation.export import load_snapshot, namer_records

    examples: list[ChatExample] = []
    runs_used, languages = [], []
    runs = store.runs()
    # a name the analyst gave is a decision: a run without any has none to read (a million-utterance run's snapshot
    # is not read for nothing)
    for run_id in runs.loc[(runs["status"] == "finished") & (runs["n_decisions"] > 0), "run_id"].astype(int):
        # taught and served on this machine: the text as the namer sees it; only the samples' texts are read
        snapshot = load_snapshot(store, int(run_id), mask_pii=False, samples_only=True)
        records = [r for r in namer_records(snapshot) if r["metadata"]["source"] == "analyst"]
        if records:
            runs_used.append(int(run_id))
            languages += [scheme_for(snapshot.dataset.language).language] * len(records)
        examples += [ChatExample(tuple((m["role"], m["content"]) for m in r["messages"][:-1]), r["messages"][-1]["content"], ends_turn=True)
                     for r in records]
    language = max(set(languages), key=languages.count) if languages else ENGLISH.language
    return examples, {"runs": runs_used, "language": language}


def tune_namer(sources: Sequence[Source], out: Path, language: str, settings: LoraSettings = LoraSettings(),
               model: str = DEFAULT_LOCAL_MODEL, start_from: Path | None = None, on_progress: ProgressListener | None = None) -> Adapter:
    """Train a namer adapter on the sources' examples (less a held-out share scored by answer loss), write it to
    `out` (.gguf) with its record (.json) and return it."""
    examples = [e for s in sources for e in s.examples]
    if len(examples) < MIN_EXAMPLES:
        raise ValueError(f"{len(examples)} named clusters are too few to teach the LLM namer: at least {MIN_EXAMPLES} are needed")
    bad = [e.answer for e in examples if not NAME_PATTERN.fullmatch(e.answer)]
    if bad:
        raise ValueError(f"{len(bad)} answers are not action-objective names, e.g. '{bad[0]}'")
    return train_adapter(sources, out, _score_namer, settings, model, start_from, on_progress, task="namer", language=language)


def _score_namer(trained: TrainedLora, held: list[ChatExample], step: Callable[[], None]) -> dict[str, Any]:
    if not held:
        return {"held_out": None}
    tuned, untuned = [], []
    for example in held:
        tuned.append(trained.answer_loss(example))
        untuned.append(trained.answer_loss(example, adapted=False))
        step()
    return {"held_out": {"n": len(held), "answer_loss": round(float(np.mean(tuned)), 4),
                         "answer_loss_untuned": round(float(np.mean(untuned)), 4)}}


def describe(adapter: Adapter) -> str:
    """What a namer learnt from and how it scored, in a line for the studio."""
    sources = "; ".join(f"{s['kind']}: {s['examples']} named clusters from {s['source']}" for s in adapter.record["sources"])
    held = adapter.record.get("held_out") or {}
    scored = (f", held-out answer loss {held['answer_loss']:.2f} (untuned {held['answer_loss_untuned']:.2f})"
              if "answer_loss" in held else "")
    start = f" after {adapter.record['start_from']}" if adapter.record.get("start_from") else ""
    return f"{adapter.name} ({adapter.language} names): {sources}{start}{scored}"


def shipped_path(model: str = DEFAULT_LOCAL_MODEL) -> Path:
    return Path(str(resources.files("dialin_core") / "models" / f"{PREFIX}{model}.gguf"))


def workspace_namers(workspace: Path | str) -> Path:
    """Namers taught for a workspace live beside its file, as its judges do."""
    return Path(workspace).parent / "namers"


def offered_namers(workspace: Path | str | None) -> dict[str, Adapter]:
    """The tuned namers a run may use, by the name `tuned_namer` reads: the shipped one (when installed) first,
    then the workspace's, newest first."""
    shipped = {SHIPPED: read_adapter(shipped_path())} if shipped_path().is_file() else {}
    return {**shipped, **({a.name: a for a in adapters_in(workspace_namers(workspace), PREFIX)} if workspace else {})}


def tuned_namer(workspace: Path | str | None, name: str, model: str = DEFAULT_LOCAL_MODEL) -> Adapter | None:
    """The adapter a run's `llm_namer` names: None for "none", the shipped one, or one of the workspace's."""
    return resolve_adapter(name, what="LLM namer", prefix=PREFIX, shipped=shipped_path(model),
                           folder=workspace_namers(workspace) if workspace is not None else None)


def next_namer_path(workspace: Path | str) -> Path:
    return next_adapter_path(workspace_namers(workspace), PREFIX)


def tune_workspace_namer(store: Store, on_progress: ProgressListener | None = None, start_from: str = SHIPPED,
                         settings: LoraSettings = LoraSettings()) -> dict[str, Any]:
    """Teach the LLM namer the names the workspace's analyst gave, continuing from the `start_from` adapter;
    kept as the workspace's next llm-namer-N. The job the Namer page has the run worker do."""
    if store.path == ":memory:":
        raise ValueError("a tuned LLM namer is kept beside a workspace file; this store has none")
    examples, detail = analyst_name_examples(store)
    if len(examples) < MIN_EXAMPLES:
        raise ValueError(f"{len(examples)} clusters carry a name you gave; the LLM namer needs at least {MIN_EXAMPLES}: rename, "
                         "make or merge clusters on the Review page first")
    source = Source("analyst", f"the analyst's names in {Path(store.path).name}", examples, {"runs": detail["runs"]})
    prior = tuned_namer(store.path, start_from)
    if prior is not None and prior.language != detail["language"]:
        prior = None  # a namer taught in another language is no prior for this one
    return tune_namer([source], next_namer_path(store.path), detail["language"], settings,
                      start_from=prior.path if prior else None, on_progress=on_progress).record
