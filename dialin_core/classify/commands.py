"""The classifier's CLI commands: train, evaluate, label dialogues with an LLM, simulate dialogues.

They live beside the classifier rather than in `dialin_core.cli`, which adds them to its parser; each
returns the JSON-ready summary the CLI prints.
"""

import argparse
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from dialin_core.classify.data import DEFAULT_CONTEXT_TURNS, dialogue_records, dialogues_from_file, dialogues_from_run, labelled_turns
from dialin_core.classify.evaluate import evaluation_report, prediction_records, route_all, stream_dialogues
from dialin_core.classify.labelling import LLMLabeller, Taxonomy, label_dialogues, labelling_report, read_taxonomy, taxonomy_of
from dialin_core.classify.model import ClassifierSettings, IntentClassifier
from dialin_core.classify.routing import DEFAULT_TAU, DEFAULT_TOP_K, HybridRouter, LLMChooser
from dialin_core.classify.simulate import DialogueSimulator, SimulatorSettings, seed_queries, simulate_dialogues, simulation_report
from dialin_core.curation.export import write_jsonl
from dialin_core.embedding.models import DEFAULT_EMBEDDER
from dialin_core.llm.backends import open_backend
from dialin_core.llm.cache import CachedLLM
from dialin_core.workspace import open_workspace


def _add_llm_options(parser: argparse.ArgumentParser, cache_help: str) -> None:
    parser.add_argument("--llm", choices=("local", "openai"), default="local")
    parser.add_argument("--model", dest="llm_model", help="local: packaged model name or GGUF path; openai: served model name")
    parser.add_argument("--workspace", type=Path, default=None, help=cache_help)


def add_classify_commands(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("classify-train", help="train the multi-turn intent classifier (Building Multi-turn Intent Classification with LLM-based Labeling)")
    train.add_argument("data", type=Path, nargs="?", help="JSONL/JSON dialogues whose turns carry intents (SGD shape)")
    train.add_argument("--out", type=Path, required=True, help="folder for the model (classifier.json, weights.npz)")
    train.add_argument("--augment", type=Path, action="append", default=[], help="more labelled dialogues, e.g. simulated (repeatable)")
    train.add_argument("--no-context", action="store_true", help="classify each turn from its text alone")
    train.add_argument("--context-turns", type=int, default=DEFAULT_CONTEXT_TURNS, help="merged turns of context read")
    train.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="a mean-pooled sentence-transformers model")
    train.add_argument("--float-encoder", action="store_true", help="the float embedder instead of int8 (~2-4x slower a turn)")
    train.add_argument("--workspace", type=Path, default=None, help="with --run: the workspace holding the run")
    train.add_argument("--run", type=int, help="train on this finished, reviewed run instead of a file")

    evaluate = commands.add_parser("classify-eval", help="score a classifier per turn on held-out dialogues")
    evaluate.add_argument("model", type=Path, help="folder written by classify-train")
    evaluate.add_argument("dialogues", type=Path, help="JSONL/JSON dialogues whose turns carry intents")
    evaluate.add_argument("--hybrid", action="store_true", help="send turns below --tau to an LLM choosing among the top K")
    _add_llm_options(evaluate, "cache LLM answers in this workspace (default: no cache)")
    evaluate.add_argument("--tau", type=float, default=DEFAULT_TAU, help="confidence the classifier needs to answer alone")
    evaluate.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help="candidates the LLM chooses among")
    evaluate.add_argument("--max-llm-calls", type=int, help="LLM budget; unsure turns past it keep the classifier's answer")
    evaluate.add_argument("--predictions", type=Path, help="also write one JSON line per scored turn to this file")

    label = commands.add_parser("classify-label", help="label the customer turns of dialogues with an LLM against a taxonomy")
    label.add_argument("dialogues", type=Path, help="JSONL/JSON dialogues; turns that already carry intents are scored against them")
    label.add_argument("--out", type=Path, required=True, help="the labelled dialogues (JSONL), ready for classify-train")
    label.add_argument("--taxonomy", type=Path, help="a file (one intent per line, 'name: definition'; or a JSON list) "
                       "or a classifier folder; default: the intents the dialogues carry")
    label.add_argument("--single-stage", action="store_true", help="one call a turn, without the self-critique stage")
    label.add_argument("--max-turns", type=int, help="label at most this many turns (the LLM's cost)")
    label.add_argument("--context-turns", type=int, default=DEFAULT_CONTEXT_TURNS, help="merged turns of context the LLM reads")
    _add_llm_options(label, "cache LLM answers in this workspace, so a re-run costs no calls")

    simulate = commands.add_parser("classify-simulate", help="simulate labelled dialogues with intent switches (Building Multi-turn Intent Classification with LLM-based Labeling)")
    simulate.add_argument("seed_dialogues", type=Path, help="labelled dialogues: their intents and customer queries seed the simulation")
    simulate.add_argument("--out", type=Path, required=True, help="the simulated dialogues (JSONL), for classify-train --augment")
    simulate.add_argument("--dialogues", type=int, default=10, help="how many to simulate")
    simulate.add_argument("--max-user-turns", type=int, default=SimulatorSettings.max_user_turns)
    simulate.add_argument("--labels", choices=("two-stage", "plan"), default="two-stage",
                          help="label customer turns with the two-stage LLM labeller (seed) or with the controller's planned intent")
    simulate.add_argument("--seed", type=int, default=0)
    _add_llm_options(simulate, "cache LLM answers in this workspace, so a re-run costs no calls")


def _cached(args: argparse.Namespace):
    """The LLM the command asked for, answering from the workspace's cache when one was given."""
    backend = open_backend(args.llm, args.llm_model)
    store = open_workspace(args.workspace) if args.workspace else None
    return (CachedLLM(backend, store) if store else backend), (store or nullcontext())


def command_classify_train(args: argparse.Namespace) -> dict[str, Any]:
    """Labelled dialogues (a file, or a reviewed run) -> a saved classifier; counts for a script to check."""
    if (args.data is None) == (args.run is None):
        raise ValueError("give either a dialogue file or --run RUN_ID (with --workspace), not both or neither")
    if args.context_turns < 0:
        raise ValueError(f"--context-turns is a count of turns, not {args.context_turns}")
    started = time.perf_counter()
    if args.run is not None:
        with open_workspace(args.workspace) as store:
            dialogues = dialogues_from_run(store, args.run)
    else:
        dialogues = dialogues_from_file(args.data)
    augmented = [d for path in args.augment for d in dialogues_from_file(path)]
    examples = labelled_turns(dialogues + augmented)
    settings = ClassifierSettings(
        embedder=args.embedder, quantized=not args.float_encoder, use_context=not args.no_context, context_turns=args.context_turns
    )
    model = IntentClassifier(settings).fit(examples)
    model.save(args.out)
    return {
        "out": str(args.out), "dialogues": len(dialogues), "augmented_dialogues": len(augmented), "examples": len(examples),
        "intents": len(model.labels_), "use_context": settings.use_context, "context_turns": settings.context_turns,
        "seconds": round(time.perf_counter() - started, 3),
    }


def command_classify_eval(args: argparse.Namespace) -> dict[str, Any]:
    """Per-turn scores of a saved classifier, alone or routed through an LLM below --tau."""
    if not 0 <= args.tau <= 1:
        raise ValueError(f"--tau is a probability between 0 and 1, not {args.tau}")
    if args.top_k < (2 if args.hybrid else 1):
        raise ValueError(f"--top-k must be at least {2 if args.hybrid else 1}, not {args.top_k}")
    if args.max_llm_calls is not None and args.max_llm_calls < 0:
        raise ValueError(f"--max-llm-calls is a count of calls, not {args.max_llm_calls}")
    model = IntentClassifier.load(args.model)
    stream = stream_dialogues(model, dialogues_from_file(args.dialogues), args.top_k)
    routed, counts = None, None
    if args.hybrid:
        llm, store = _cached(args)
        with store:
            router = HybridRouter(LLMChooser(llm), args.tau, args.top_k, args.max_llm_calls)
            routed = route_all(router, stream.turns, model.settings.context_turns)
            counts = llm.counts.as_dict() if args.workspace else None
    report = evaluation_report(stream, routed, args.tau, args.top_k)
    if counts:
        report["llm"]["cache"] = counts
    if args.predictions:
        write_jsonl(prediction_records(stream, routed), args.predictions)
    return {"model": str(args.model), "use_context": model.settings.use_context, **report}


def _taxonomy(path: Path | None, dialogues) -> Taxonomy:
    if path is None:
        return taxonomy_of(dialogues)
    if path.is_dir():
        return Taxonomy(IntentClassifier.load(path).labels_)
    return read_taxonomy(path)


def command_classify_label(args: argparse.Namespace) -> dict[str, Any]:
    """Dialogues -> the same dialogues with LLM intents on their customer turns, and the revise rate."""
    if args.max_turns is not None and args.max_turns < 1:
        raise ValueError(f"--max-turns is a count of turns, not {args.max_turns}")
    started = time.perf_counter()
    dialogues = dialogues_from_file(args.dialogues, require_labels=False)
    taxonomy = _taxonomy(args.taxonomy, dialogues)
    llm, store = _cached(args)
    with store:
        labeller = LLMLabeller(llm, taxonomy, two_stage=not args.single_stage)
        labelled, records = label_dialogues(dialogues, labeller, context_turns=args.context_turns, max_turns=args.max_turns)
        calls = llm.counts.as_dict() if args.workspace else None
    extras = {(r.dialogue_id, r.turn_index): {"label_decision": r.label.decision, "label_stage1": r.label.stage1,
                                              "label_reason": r.label.reason, "label_evidence": r.label.evidence} for r in records}
    labelled_ids = {r.dialogue_id for r in records}
    write_jsonl(dialogue_records([d for d in labelled if d.dialogue_id in labelled_ids], extras), args.out)
    return {"out": str(args.out), "intents": len(taxonomy.labels), "two_stage": not args.single_stage,
            **labelling_report(records), **({"llm": calls} if calls else {}), "seconds": round(time.perf_counter() - started, 1)}


def command_classify_simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Labelled dialogues -> simulated ones with intent switches, clarifications, frustration..."""
    settings = SimulatorSettings(min_user_turns=min(2, args.max_user_turns), max_user_turns=args.max_user_turns)
    started = time.perf_counter()
    seed_dialogues = dialogues_from_file(args.seed_dialogues)
    queries = seed_queries(seed_dialogues)
    llm, store = _cached(args)
    with store:
        labeller = LLMLabeller(llm, taxonomy_of(seed_dialogues)) if args.labels == "two-stage" else None
        simulated = simulate_dialogues(DialogueSimulator(llm, queries, labeller, settings), args.dialogues, args.seed)
        calls = llm.counts.as_dict() if args.workspace else None
    extras = {key: row for d in simulated for key, row in d.extras().items()}
    write_jsonl(dialogue_records([d.dialogue() for d in simulated], extras), args.out)
    return {"out": str(args.out), **simulation_report(simulated), **({"llm": calls} if calls else {}),
            "seconds": round(time.perf_counter() - started, 1)}


CLASSIFY_COMMANDS = {
    "classify-train": command_classify_train,
    "classify-eval": command_classify_eval,
    "classify-label": command_classify_label,
    "classify-simulate": command_classify_simulate,
}
