"""The headless interface: the same engine the studio drives, for scripts, benchmarks and CI.

Errors a user can cause (bad file, bad option) print one line to stderr and exit with status 2;
anything else is a bug and keeps its traceback.
"""

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from dialin_core.classify.commands import CLASSIFY_COMMANDS, add_classify_commands
from dialin_core.clustering.vocabulary import LOOP_CLUSTERINGS, LOOP_SPACES
from dialin_core.config import DEFAULT_LLM_CALLS, JUDGES, K_CHOICES, LLMS, RunConfig
from dialin_core.curation.export import FORMATS, csv_cell_text, csv_text, write_export
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping, deduplicate, read_transcripts
from dialin_core.data.language import detect_language, taught_language
from dialin_core.data.store import Store
from dialin_core.embedding.adapted import adapt_embedder, embedder_for, language_warning_for
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import DEFAULT_EMBEDDER, EMBEDDER_CHOICES, MULTILINGUAL_EMBEDDER, default_embedder, load_embedder
from dialin_core.errors import IngestError, WorkspaceBusy
from dialin_core.evaluation.goodness import run_goodness
from dialin_core.evaluation.metrics import score_clustering
from dialin_core.judging.cohesion import CohesionModel, default_model_path, fit_cohesion_model, save_examples
from dialin_core.judging.feedback import agreement, analyst_labels, refit_judge
from dialin_core.judging.llm_tuning import (
    PREFIX, SHIPPED, Source, analyst_examples, analyst_language, labelled_examples, next_judge_path, tune_judge, tuned_judge,
)
from dialin_core.judging.training_sets import training_set
from dialin_core.llm.backends import open_backend
from dialin_core.llm.lora import LoraSettings
from dialin_core.naming.llm_tuning import PREFIX as NAMER_PREFIX
from dialin_core.naming.llm_tuning import SHIPPED as NAMER_SHIPPED
from dialin_core.naming.llm_tuning import (
    analyst_name_examples, intent_names, labelled_name_examples, next_namer_path, tune_namer, tuned_namer,
)
from dialin_core.naming.names import scheme_for
from dialin_core.llm.base import LLMError
from dialin_core.methods.baselines import RunResult
from dialin_core.methods.dialin import create_refined_run, create_role_split_run, resume_dialin
from dialin_core.methods.labelgen import approved_names, complete_labelgen_run, create_leftover_run
from dialin_core.methods.registry import RunHooks, discovery_method, method_names
from dialin_core.workspace import open_workspace


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="CSV/TSV, JSONL dialogues or plain text (one utterance per line)")
    parser.add_argument("--text-column", default="text", help="CSV column holding the utterance (default: text)")
    parser.add_argument("--label-column", help="CSV column holding a gold intent, to score the result")
    parser.add_argument("--dialogue-column", help="CSV column holding the dialogue id")
    parser.add_argument("--turn-column", help="CSV column holding the turn index")
    parser.add_argument("--speaker-column", help="CSV column holding the speaker or role")
    parser.add_argument("--mask-pii", action="store_true",
                        help="mask personal data (emails, card, IBAN, account, phone, SSN and IP numbers, dates of birth, "
                             "addresses, names) before anything is stored, embedded or shown")
    parser.add_argument(
        "--workspace", type=Path, default=None, help="DuckDB workspace file (default: $DIALIN_WORKSPACE or the user data folder)"
    )


def _add_tuning_options(parser: argparse.ArgumentParser, shipped: str, kept_as: str) -> None:
    """The options fine-tune-judge and fine-tune-namer share: the labelled file's columns, the adapter training
    continues, LoRA's settings, and where the adapter is kept (`kept_as`: the workspace's next judges/llm-judge-N)."""
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--start-from", default=shipped, help=f"the adapter training continues: {shipped} (default), none, "
                                                              f"a workspace's {kept_as.split('/')[1]}, or a .gguf adapter")
    parser.add_argument("--epochs", type=int, default=LoraSettings.epochs)
    parser.add_argument("--learning-rate", type=float, default=LoraSettings.learning_rate)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="the adapter's .gguf (its record goes beside it as .json); "
                                                 f"default: the workspace's next {kept_as}.gguf")
    parser.add_argument("--workspace", type=Path, default=None)


def _labelled_utterances(args: argparse.Namespace) -> list:
    """The unique utterances of --labelled that carry a label; a clear error when none does."""
    utterances = [u for u in deduplicate(read_transcripts(args.labelled, ColumnMapping(text=args.text_column, label=args.label_column)))
                  if u.gold_label]
    if not utterances:
        raise IngestError(args.labelled, f"no utterance has a label in column '{args.label_column}'")
    return utterances


def _print_training_progress(done: int, total: int) -> None:
    print(f"\rtrained on {done} of {total} examples", end="", file=sys.stderr, flush=True)


def _mapping(args: argparse.Namespace) -> ColumnMapping:
    return ColumnMapping(
        text=args.text_column,
        dialogue_id=args.dialogue_column,
        turn_index=args.turn_column,
        speaker=args.speaker_column,
        label=args.label_column,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dialin_core", description="Dial-In Studio, headless.")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="store a transcript file in a workspace")
    _add_input_options(ingest)

    discover = commands.add_parser("discover", help="cluster a transcript file into intents")
    _add_input_options(discover)
    discover.add_argument("--out", type=Path, required=True, help="folder for assignments.csv, clusters.csv, summary.json")
    discover.add_argument("--method", choices=method_names(), default=RunConfig.method,
                          help="; ".join(f"{name}: {discovery_method(name).description}" for name in method_names()))
    discover.add_argument("--k", type=int, help="number of clusters (kmeans, agglomerative); default: chosen by silhouette")
    discover.add_argument("--k-min", type=int, default=RunConfig.k_min)
    discover.add_argument("--k-max", type=int, default=RunConfig.k_max)
    discover.add_argument("--k-step", type=int)
    discover.add_argument("--min-cluster-size", type=int, default=RunConfig.min_cluster_size, help="HDBSCAN")
    discover.add_argument("--seed", type=int, default=RunConfig.seed)
    discover.add_argument(
        "--embedder",
        help=f"one of {', '.join(EMBEDDER_CHOICES)}, a workspace's adapted-N (see teach-embedder), openai:MODEL (an OpenAI-compatible "
             "embedding server at DIALIN_OPENAI_EMBEDDINGS_BASE_URL or OPENAI_BASE_URL) or a sentence-transformers model "
             f"directory (default: {DEFAULT_EMBEDDER} for English, {MULTILINGUAL_EMBEDDER} for any other language)"
    )
    discover.add_argument(
        "--role", action="append", choices=("customer", "agent", "other"), help="only utterances of this role (repeatable)"
    )
    discover.add_argument("--no-map", action="store_true", help="skip the 2-D map coordinates")
    dialin = discover.add_argument_group("dialin method")
    dialin.add_argument("--llm", choices=LLMS, default=RunConfig.llm, help="LLM back end (none: cohesion judge and keyword names)")
    dialin.add_argument("--model", help="local: packaged model name or GGUF path; openai: served model name")
    dialin.add_argument("--judge", choices=JUDGES, default=RunConfig.judge)
    dialin.add_argument("--loop-clustering", choices=LOOP_CLUSTERINGS, default=RunConfig.loop_clustering,
                        help="clustering tried at each candidate k: one Ward tree cut at each k (default), or k-means")
    dialin.add_argument("--loop-space", choices=LOOP_SPACES, default=RunConfig.loop_space,
                        help="where the loop clusters: a 5-d UMAP reduction of the embeddings (default), or the embeddings")
    dialin.add_argument("--k-choice", choices=K_CHOICES, default=RunConfig.loop_k_choice,
                        help="the first iteration's k: the centre of the silhouette's plateau (default), or the Dial-In paper's good/bad ratio over --candidates k")
    dialin.add_argument("--no-remainder", action="store_true",
                        help="leave what the loop did not keep to the leftover step, instead of clustering it once more for review")
    dialin.add_argument("--loop-sample", type=int, default=RunConfig.loop_sample,
                        help="the most utterances of a role group the loop clusters; past it a sample of this many, spread across "
                             "the dialogues, and the rest join the nearest intent or stay unassigned (default: %(default)s)")
    dialin.add_argument("--cohesion-model", help="a judge trained with train-judge (default: the one shipped for the embedder)")
    dialin.add_argument("--llm-judge", default=RunConfig.llm_judge,
                        help="the tuned adapter the local LLM judges with: shipped (tuned on BANKING77 train), none (untuned), "
                             f"a workspace's llm-judge-N (see fine-tune-judge) or an adapter .gguf; default: {RunConfig.llm_judge}")
    dialin.add_argument("--llm-namer", default=RunConfig.llm_namer,
                        help="the tuned adapter the local LLM names with: shipped (tuned on BANKING77 train, English names), none "
                             f"(untuned), a workspace's llm-namer-N (see fine-tune-namer) or an adapter .gguf; default: {RunConfig.llm_namer}")
    dialin.add_argument("--max-llm-calls", type=int, help=f"judging and naming together (default: {DEFAULT_LLM_CALLS['local']} local, {DEFAULT_LLM_CALLS['openai']} openai)")
    dialin.add_argument("--max-iterations", type=int, default=RunConfig.max_iterations)
    dialin.add_argument("--candidates", type=int, default=RunConfig.n_candidates, help="candidate k per iteration")
    dialin.add_argument("--leftover-min-cosine", type=float, default=RunConfig.leftover_min_cosine)
    dialin.add_argument("--no-role-split", action="store_true", help="cluster customer and agent utterances together")
    dialin.add_argument("--auto-merge", action="store_true", help="apply merge proposals without review")
    labelgen = discover.add_argument_group("labelgen method (also uses --llm, --model)")
    _add_labelgen_options(labelgen)
    labelgen.add_argument("--example-label", action="append", help="an intent name the LLM may reuse (repeatable)")
    labelgen.add_argument("--examples-from", type=int, metavar="RUN_ID", help="the approved cluster names of a reviewed run as example labels")

    leftovers = commands.add_parser("leftovers", help="labelgen on the leftovers of a finished dialin run: new intents, as a new run")
    leftovers.add_argument("run_id", type=int, help="the finished dialin run")
    leftovers.add_argument("--out", type=Path, required=True, help="folder for assignments.csv, clusters.csv, summary.json")
    leftovers.add_argument("--workspace", type=Path, default=None)
    leftovers.add_argument("--llm", choices=("local", "openai"), default=RunConfig.llm)
    leftovers.add_argument("--model", help="local: packaged model name or GGUF path; openai: served model name")
    _add_labelgen_options(leftovers)

    resume = commands.add_parser("resume", help="continue a dialin run that was killed or failed")
    resume.add_argument("run_id", type=int)
    resume.add_argument("--out", type=Path, required=True, help="folder for assignments.csv, clusters.csv, summary.json")
    resume.add_argument("--workspace", type=Path, default=None)

    refine = commands.add_parser("refine", help="re-cluster what the analyst marked bad in a reviewed run, keeping the rest")
    refine.add_argument("run_id", type=int, help="the reviewed run")
    refine.add_argument("--out", type=Path, required=True, help="folder for assignments.csv, clusters.csv, summary.json")
    refine.add_argument("--embedder", help="embed with this one instead of the reviewed run's, e.g. the adapted-N taught by its review")
    refine.add_argument("--workspace", type=Path, default=None)

    teach = commands.add_parser("teach-embedder", help="fine-tune a reviewed run's embedder on its review; prints the adapted model's record")
    teach.add_argument("run_id", type=int, help="the finished, reviewed run")
    teach.add_argument("--workspace", type=Path, default=None)

    role_split = commands.add_parser("role-split", help="split a run's sentences by the role their cluster names imply, re-cluster each side")
    role_split.add_argument("run_id", type=int, help="the finished run whose names give the roles (data without speaker roles)")
    role_split.add_argument("--out", type=Path, required=True, help="folder for assignments.csv, clusters.csv, summary.json")
    role_split.add_argument("--workspace", type=Path, default=None)

    refit = commands.add_parser("refit-judge", help="re-fit the cohesion judge on the analyst's verdicts in a workspace")
    refit.add_argument("--out", type=Path, required=True, help="JSON file for the re-fitted judge")
    refit.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    refit.add_argument("--workspace", type=Path, default=None)

    train_judge = commands.add_parser("train-judge", help="train the cohesion judge on labelled utterances")
    train_judge.add_argument("input", type=Path, help="labelled utterances (CSV with a label column, or labelled dialogues)")
    train_judge.add_argument("--text-column", default="text")
    train_judge.add_argument("--label-column", default="label")
    train_judge.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    train_judge.add_argument("--out", type=Path, required=True, help="JSON file for the trained judge")
    train_judge.add_argument("--seed", type=int, default=0)

    tune = commands.add_parser(
        "fine-tune-judge", help="teach the local LLM to judge clusters (LoRA, on CPU): from labelled utterances, from the "
                                "analyst's verdicts in a workspace, or both; prints the tuned judge's record")
    tune.add_argument("--labelled", type=Path, help="labelled utterances (CSV with a label column, or labelled dialogues): "
                                                    "clusters built from them are the examples")
    tune.add_argument("--examples", type=int, default=1200, help="clusters built from --labelled, half good (default: 1200)")
    tune.add_argument("--analyst", action="store_true", help="the analyst's verdicts in --workspace on --embedder's runs are examples too")
    tune.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="embeds --labelled to build its clusters; whose runs --analyst reads")
    _add_tuning_options(tune, SHIPPED, "judges/llm-judge-N")

    namer = commands.add_parser(
        "fine-tune-namer", help="teach the local LLM to name intents (LoRA, on CPU): from labelled utterances, from the names "
                                "the analyst gave in a workspace, or both; prints the tuned namer's record")
    namer.add_argument("--labelled", type=Path, help="labelled utterances (CSV with a label column, or labelled dialogues): clusters "
                                                     "built from them are the examples, named for their intent")
    namer.add_argument("--examples", type=int, default=480, help="clusters built from --labelled, spread over the intents (default: 480)")
    namer.add_argument("--analyst", action="store_true", help="the names the analyst gave in --workspace are examples too")
    namer.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="embeds --labelled to build its clusters")
    _add_tuning_options(namer, NAMER_SHIPPED, "namers/llm-namer-N")

    export = commands.add_parser("export", help="write a finished run's curated data set, fine-tuning sets and data card")
    export.add_argument("run_id", type=int)
    export.add_argument(
        "--out", type=Path, required=True, help="folder for utterances.*, judge_sft.jsonl, namer_sft.jsonl, data_card.json/.md"
    )
    export.add_argument("--format", action="append", choices=FORMATS, help="utterances file format (repeatable; default: all)")
    export.add_argument("--keep-pii", action="store_true",
                        help="write the text as stored, without masking personal data (the data card records it)")
    export.add_argument("--workspace", type=Path, default=None)

    goodness = commands.add_parser("goodness", help="share of a finished run's clusters judged good by a judge the run did not use")
    goodness.add_argument("run_id", type=int, nargs="+")
    goodness.add_argument("--workspace", type=Path, default=None)

    evaluate = commands.add_parser("evaluate", help="score an assignments.csv against gold labels")
    evaluate.add_argument("assignments", type=Path, help="assignments.csv written by discover")
    evaluate.add_argument("gold", type=Path, help="file with texts and gold intents (any format ingest reads)")
    evaluate.add_argument("--text-column", default="text")
    evaluate.add_argument("--label-column", default="label", help="gold column of a CSV gold file (default: label)")

    add_classify_commands(commands)
    return parser


def _open_store(args: argparse.Namespace) -> Store:
    return open_workspace(args.workspace)


def command_ingest(args: argparse.Namespace) -> dict:
    with _open_store(args) as store:
        dataset_id = ingest_file(store, args.input, _mapping(args), mask_pii=args.mask_pii)
        info = store.dataset(dataset_id)
    return {"dataset_id": dataset_id, "dialogues": info.n_dialogues, "turns": info.n_turns, "utterances": info.n_utterances,
            "language": info.language}


def command_discover(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    config = RunConfig(
        method=args.method,
        k=args.k,
        k_min=args.k_min,
        k_max=args.k_max,
        k_step=args.k_step,
        min_cluster_size=args.min_cluster_size,
        seed=args.seed,
        embedder=args.embedder or DEFAULT_EMBEDDER,
        roles=tuple(args.role or ()),
        with_map=not args.no_map,
        llm=args.llm,
        llm_model=args.model,
        judge="cohesion" if args.llm == "none" and args.judge == RunConfig.judge else args.judge,
        cohesion_model=args.cohesion_model,
        llm_judge=args.llm_judge,
        llm_namer=args.llm_namer,
        loop_clustering=args.loop_clustering,
        loop_space=args.loop_space,
        loop_k_choice=args.k_choice,
        keep_remainder=not args.no_remainder,
        loop_sample=args.loop_sample,
        max_llm_calls=args.max_llm_calls,
        max_iterations=args.max_iterations,
        n_candidates=args.candidates,
        leftover_min_cosine=args.leftover_min_cosine,
        separate_roles=not args.no_role_split,
        auto_merge=args.auto_merge,
        example_labels=tuple(args.example_label or ()),
        **_labelgen_fields(args),
    )
    with _open_store(args) as store:
        dataset_id = ingest_file(store, args.input, _mapping(args), mask_pii=args.mask_pii)
        language = store.dataset_language(dataset_id)
        if args.embedder is None:  # the embedder follows the data set's language
            config = replace(config, embedder=default_embedder(language))
        warning = language_warning_for(store, config.embedder, language)
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        if args.examples_from is not None:
            config = replace(config, example_labels=config.example_labels + tuple(approved_names(store, args.examples_from)))
        print(f"{config.method} run: {config.cost_estimate()}", file=sys.stderr, flush=True)
        method = discovery_method(config.method)
        result = method.complete(store, method.create(store, dataset_id, config), RunHooks(on_event=_log_event))
    return _write_outputs(result, args.out, started)


def command_resume(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    with _open_store(args) as store:
        result = resume_dialin(store, args.run_id, on_event=_log_event)
    return _write_outputs(result, args.out, started)


def _add_labelgen_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--batch-size", type=int, default=RunConfig.labelgen_batch, help="utterances per label-generation call")
    parser.add_argument("--classify-batch", type=int, default=RunConfig.classify_batch, help="utterances per classification call")
    parser.add_argument("--candidate-labels", type=int, default=RunConfig.candidate_labels,
                        help="nearest labels offered per utterance (0: every label)")
    parser.add_argument("--sure-margin", type=float, default=RunConfig.sure_margin,
                        help="the nearest label stands without the LLM when it leads the next by this cosine (0: never ask, 1: always ask)")
    parser.add_argument("--min-share", type=float, default=RunConfig.min_share,
                        help="a label holding less than this share of the utterances is dropped (at least 2 utterances)")


def _labelgen_fields(args: argparse.Namespace) -> dict:
    return {"labelgen_batch": args.batch_size, "classify_batch": args.classify_batch,
            "candidate_labels": args.candidate_labels, "sure_margin": args.sure_margin, "min_share": args.min_share}


def command_leftovers(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    overrides = {"llm": args.llm, "llm_model": args.model, **_labelgen_fields(args)}
    with _open_store(args) as store:
        result = complete_labelgen_run(store, create_leftover_run(store, args.run_id, overrides))
    return _write_outputs(result, args.out, started)


def command_refine(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    with _open_store(args) as store:
        result = resume_dialin(store, create_refined_run(store, args.run_id, args.embedder), on_event=_log_event)
    return _write_outputs(result, args.out, started)


def command_teach_embedder(args: argparse.Namespace) -> dict:
    """The adapted model's record; a line on stderr at each tenth of the training."""
    def progress(done: int, steps: int) -> None:
        if steps and (done == steps or done % max(1, steps // 10) == 0):
            print(f"teaching: step {done} of {steps}", file=sys.stderr, flush=True)

    with _open_store(args) as store:
        adapted = adapt_embedder(store, args.run_id, on_progress=progress)
    return {**{k: v for k, v in vars(adapted).items() if k != "path"}, "path": str(adapted.path)}


def command_role_split(args: argparse.Namespace) -> dict:
    """Seed 3.4's second step headless: the roles a finished run's names give, each side clustered again."""
    started = time.perf_counter()
    with _open_store(args) as store:
        result = resume_dialin(store, create_role_split_run(store, args.run_id), on_event=_log_event)
    return _write_outputs(result, args.out, started)


def _log_event(event: dict) -> None:
    """One line per loop step on stderr, so a headless run can be followed and its log kept."""
    print(json.dumps(event, sort_keys=True), file=sys.stderr, flush=True)


def _write_outputs(result: RunResult, out: Path, started: float) -> dict:
    summary = {**result.summary, "run_id": result.run_id, "seconds": round(time.perf_counter() - started, 3)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "assignments.csv").write_text(csv_text(result.assignments[["text", "cluster_id", "intent_name"]]), encoding="utf-8")
    (out / "clusters.csv").write_text(csv_text(result.clusters[["cluster_id", "name", "size"]]), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def command_train_judge(args: argparse.Namespace) -> dict:
    """Labelled utterances -> k-means, pure and mixed clusters -> a cohesion judge saved as JSON."""
    utterances = [u for u in deduplicate(read_transcripts(args.input, ColumnMapping(text=args.text_column, label=args.label_column))) if u.gold_label]
    if not utterances:
        raise IngestError(args.input, f"no utterance has a label in column '{args.label_column}'")
    vectors = embed_texts([u.text for u in utterances], load_embedder(args.embedder))
    gold = np.array([u.gold_label for u in utterances])
    features, good, training = training_set(vectors, gold, args.input.name, args.seed)
    model = fit_cohesion_model(features, good, args.embedder, training)
    model.save(args.out)
    save_examples(args.out, features, good)  # the prior of a later refit-judge
    return {"out": str(args.out), **model.training}


def command_fine_tune_judge(args: argparse.Namespace) -> dict:
    """Examples from the sources asked for -> LoRA adapters trained on CPU -> the adapter and its record."""
    if args.labelled is None and not args.analyst:
        raise ValueError("nothing to learn from: give --labelled FILE, --analyst (the verdicts in --workspace), or both")
    settings = LoraSettings(epochs=args.epochs, learning_rate=args.learning_rate, seed=args.seed)
    embedder = load_embedder(args.embedder) if args.labelled is not None else None
    sources, languages = [], []
    if args.labelled is not None:
        utterances = _labelled_utterances(args)
        texts = [u.text for u in utterances]
        examples, kinds = labelled_examples(texts, embed_texts(texts, embedder), [u.gold_label for u in utterances], args.examples, args.seed)
        sources.append(Source("labelled", args.labelled.name, examples, {"kinds": dict(kinds), "embedder": args.embedder,
                                                                        "intents": len({u.gold_label for u in utterances})}))
        languages.append(taught_language(detect_language(texts)))
    workspace = None
    if args.analyst or args.out is None or args.start_from.startswith(PREFIX):
        with _open_store(args) as store:
            workspace = store.path
            if args.analyst:
                labels = analyst_labels(store, embedder_for(store, args.embedder))
                sources.append(Source("analyst", f"the analyst's verdicts in {Path(store.path).name}", analyst_examples(labels),
                                      {"runs": sorted({label.run_id for label in labels}), "embedder": args.embedder}))
                languages.append(analyst_language(store, labels))
    if len(set(languages)) > 1:
        raise ValueError(f"the labelled clusters are in {languages[0]} and the analyst's in {languages[1]}: teach one language at a time")
    start = Path(args.start_from) if args.start_from.endswith(".gguf") else getattr(tuned_judge(workspace, args.start_from), "path", None)
    out = args.out or next_judge_path(workspace)
    judge = tune_judge(sources, out, languages[0], settings, start_from=start,
                       on_progress=_print_training_progress)
    print(file=sys.stderr)
    return {"out": str(judge.path), **judge.record}


def command_fine_tune_namer(args: argparse.Namespace) -> dict:
    """Examples from the sources asked for -> LoRA adapters trained on CPU -> the adapter and its record."""
    if args.labelled is None and not args.analyst:
        raise ValueError("nothing to learn from: give --labelled FILE, --analyst (the names in --workspace), or both")
    settings = LoraSettings(epochs=args.epochs, learning_rate=args.learning_rate, seed=args.seed)
    sources, languages = [], []
    if args.labelled is not None:
        utterances = _labelled_utterances(args)
        texts, gold = [u.text for u in utterances], [u.gold_label for u in utterances]
        scheme = scheme_for(detect_language(texts))
        names = intent_names(open_backend("local", None), texts, gold, scheme, args.seed)
        examples, kinds = labelled_name_examples(texts, embed_texts(texts, load_embedder(args.embedder)), gold, names, args.examples,
                                                 args.seed, scheme)
        sources.append(Source("labelled", args.labelled.name, examples, {"kinds": kinds, "embedder": args.embedder,
                                                                        "intents": len(names), "names": names}))
        languages.append(scheme.language)
    workspace = None
    if args.analyst or args.out is None or args.start_from.startswith(NAMER_PREFIX):
        with _open_store(args) as store:
            workspace = store.path
            if args.analyst:
                examples, detail = analyst_name_examples(store)
                sources.append(Source("analyst", f"the analyst's names in {Path(store.path).name}", examples, {"runs": detail["runs"]}))
                languages.append(detail["language"])
    if len(set(languages)) > 1:
        raise ValueError(f"the labelled names are in {languages[0]} and the analyst's in {languages[1]}: teach one language at a time")
    start = Path(args.start_from) if args.start_from.endswith(".gguf") else getattr(tuned_namer(workspace, args.start_from), "path", None)
    out = args.out or next_namer_path(workspace)
    adapter = tune_namer(sources, out, languages[0], settings, start_from=start,
                         on_progress=_print_training_progress)
    print(file=sys.stderr)
    return {"out": str(adapter.path), **adapter.record}


def command_refit_judge(args: argparse.Namespace) -> dict:
    """Agreement with the analyst before (the shipped judge) and after (on the same verdicts) the refit."""
    with _open_store(args) as store:
        labels = analyst_labels(store, load_embedder(args.embedder))
    model = refit_judge(args.embedder, labels)
    model.save(args.out)
    shipped = CohesionModel.load(default_model_path(args.embedder))
    return {"out": str(args.out), "shipped": agreement(shipped, labels), "refitted_in_sample": agreement(model, labels)}


def command_export(args: argparse.Namespace) -> dict:
    """The files written, and the data card's counts so a script can check the export without opening it."""
    with _open_store(args) as store:
        files = write_export(store, args.run_id, args.out, tuple(args.format or FORMATS), mask_pii=not args.keep_pii)
    card = json.loads((args.out / "data_card.json").read_text(encoding="utf-8"))
    return {"run_id": args.run_id, "files": [str(f) for f in files], "counts": card["counts"]}


def command_goodness(args: argparse.Namespace) -> dict:
    """Per run, goodness as the analyst sees the run now; the same evaluator scores every run of one embedder."""
    with _open_store(args) as store:
        scored = {run_id: run_goodness(store, run_id) for run_id in args.run_id}
    return {"runs": {str(r): g.as_details() if g else {"goodness": None} for r, g in scored.items()}}


def command_evaluate(args: argparse.Namespace) -> dict:
    """Score by utterance text: both files are normalised and de-duplicated the way ingest does it."""
    gold_turns = read_transcripts(args.gold, ColumnMapping(text=args.text_column, label=args.label_column))
    gold = {u.norm_text: u.gold_label for u in deduplicate(gold_turns) if u.gold_label}
    predicted_turns = [replace(t, clean_text=csv_cell_text(t.clean_text))  # as discover wrote them: formulas neutralised
                       for t in read_transcripts(args.assignments, ColumnMapping(text="text", label="cluster_id"))]
    pairs = [(gold[u.norm_text], u.gold_label) for u in deduplicate(predicted_turns) if u.norm_text in gold]
    if not pairs:
        raise IngestError(args.assignments, f"no text in it matches a labelled text of {args.gold.name}")
    scores = score_clustering([g for g, _ in pairs], [p for _, p in pairs])
    return {**scores.as_dict(), "n_scored": len(pairs)}


COMMANDS = {
    "ingest": command_ingest,
    "discover": command_discover,
    "resume": command_resume,
    "refine": command_refine,
    "role-split": command_role_split,
    "teach-embedder": command_teach_embedder,
    "leftovers": command_leftovers,
    "train-judge": command_train_judge,
    "refit-judge": command_refit_judge,
    "fine-tune-judge": command_fine_tune_judge,
    "fine-tune-namer": command_fine_tune_namer,
    "export": command_export,
    "goodness": command_goodness,
    "evaluate": command_evaluate,
    **CLASSIFY_COMMANDS,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = COMMANDS[args.command](args)
    except (IngestError, ValueError, LLMError, WorkspaceBusy) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(output, indent=2))
    return 0
