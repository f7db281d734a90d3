"""The multi-turn intent classifier on SGD (Building Multi-turn Intent Classification with LLM-based Labeling): with context against without, latency, tau curve,
the hybrid path with the local LLM, and the int8 encoder against the float one.

Usage: .venv/bin/python bench/classify.py [--data FILE] [--seed 0] [--llm-calls 0] [--float-row]
                                          [--tau 0.7] [--top-k 3] [--json FILE]

Protocol: dialogue-level split 80/20 (seeded), so no test turn has its own dialogue in training. The
models are trained on the same examples (int8 vectors computed once and shared, for training only),
saved and loaded back; each is then played over the test dialogues in live sessions with its own
encoder, so the latency is a deployment's: per classified turn, embed the new turn, pool the cached
context, one softmax (the agent's turns are embedded as they arrive, reported apart). A turn is right
when the label is one of its active intents; turns without one are not scored. With --llm-calls N the
first N test turns below tau (test order is the shuffled dialogue order) go to the local LLM, choosing
among the top K. With --float-row the default model is also trained and served on the project's float
embedder (slow: it embeds the corpus again).
"""

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dialin_core.classify.data import dialogues_from_file, labelled_turns, split_dialogues  # noqa: E402
from dialin_core.classify.encoder import load_encoder  # noqa: E402
from dialin_core.classify.evaluate import evaluation_report, route_all, stream_dialogues  # noqa: E402
from dialin_core.classify.model import ClassifierSettings, IntentClassifier  # noqa: E402
from dialin_core.classify.routing import HybridRouter, LLMChooser  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER  # noqa: E402
from dialin_core.llm.backends import open_backend  # noqa: E402


class SharedVectors:
    """An embedder that remembers every text, so the two trainings embed the corpus once (training only)."""

    def __init__(self, embedder) -> None:
        self.name = embedder.name
        self._embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self._embedder.encode(missing)))
        return np.stack([self._vectors[t] for t in texts])


DEFAULT = "with context, last 8 turns (default)"


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "sgd" / "train_sample.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--llm-calls", type=int, default=0, help="unsure test turns sent to the local LLM (0: none)")
    parser.add_argument("--tau", type=float, default=0.7)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--float-row", action="store_true", help="also the default model on the float encoder (slow to embed)")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args()

    dialogues = dialogues_from_file(args.data)
    train, test = split_dialogues(dialogues, 0.2, args.seed)
    examples = labelled_turns(train)
    n_test_turns = len(labelled_turns(test))
    print(f"{len(train)} train dialogues ({len(examples)} turns), {len(test)} test dialogues ({n_test_turns} turns)\n")

    variants = {
        "without context": ClassifierSettings(use_context=False, seed=args.seed),
        "with context, last 3 turns": ClassifierSettings(context_turns=3, seed=args.seed),
        DEFAULT: ClassifierSettings(seed=args.seed),
    }
    shared = SharedVectors(load_encoder(DEFAULT_EMBEDDER, quantized=True))
    results: dict[str, dict] = {}
    streams = {}
    print("| model | accuracy | macro-F1 | P50 ms | P90 ms | P99 ms | agent turn embed P50 ms | fit s (embedding shared) |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for name, settings in variants.items():
            streams[name], results[name] = train_and_stream(name, settings, shared, examples, test, Path(folder), args)
    print_curve(results[DEFAULT], args)
    if args.llm_calls:
        results["hybrid"] = hybrid_run(streams[DEFAULT], args)
    if args.float_row:
        # The float embedder on one thread, as the int8 one: on two busy cores two threads for one text
        # spin against each other, and that would be measured instead of the encoder.
        torch.set_num_threads(1)
        name = f"{DEFAULT}, float encoder"
        settings = ClassifierSettings(quantized=False, seed=args.seed)
        with tempfile.TemporaryDirectory() as folder:
            _, results[name] = train_and_stream(name, settings, SharedVectors(load_encoder(DEFAULT_EMBEDDER, quantized=False)),
                                                examples, test, Path(folder), args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def train_and_stream(name: str, settings: ClassifierSettings, shared: SharedVectors, examples, test, folder: Path, args):
    """Fit on shared vectors, save, load back with its own encoder (as deployed), stream the test set; print its row."""
    started = time.perf_counter()
    IntentClassifier(settings, shared).fit(examples).save(folder / name)
    fit_seconds = time.perf_counter() - started
    stream = stream_dialogues(IntentClassifier.load(folder / name), test, args.top_k)
    result = {**evaluation_report(stream, None, args.tau, args.top_k), "fit_seconds": fit_seconds}
    lat, obs = result["latency_ms"], result["observe_latency_ms"]
    print(f"| {name} | {fmt(result['accuracy'])} | {fmt(result['macro_f1'])} | {fmt(lat['p50'], 1)} | {fmt(lat['p90'], 1)} | "
          f"{fmt(lat['p99'], 1)} | {fmt(obs['p50'], 1)} | {fit_seconds:.0f} |", flush=True)
    return stream, result


def print_curve(result: dict, args) -> None:
    print(f"\nAccuracy/coverage over tau ({DEFAULT}; kept = top-1 confidence >= tau):\n")
    print("| tau | coverage | accuracy kept | accuracy deferred |")
    print("|---|---|---|---|")
    for row in result["tau_curve"]:
        print(f"| {row['tau']:.2f} | {fmt(row['coverage'])} | {fmt(row['accuracy_kept'])} | {fmt(row['accuracy_deferred'])} |")
    print(f"\nBelow tau {args.tau}: {fmt(result['deferred_share'])} of turns; a gold intent in the top {args.top_k} "
          f"for {fmt(result['deferred_top_k_recall'])} of them.\n", flush=True)


def hybrid_run(stream, args) -> dict:
    """The first --llm-calls unsure turns to the local LLM; the rest of the unsure ones keep the classifier's answer."""
    router = HybridRouter(LLMChooser(open_backend("local")), args.tau, args.top_k, args.llm_calls)
    routed = route_all(router, stream.turns, context_turns=ClassifierSettings().context_turns)
    hybrid = evaluation_report(stream, routed, args.tau, args.top_k)
    llm = hybrid["llm"]
    print(f"Hybrid, local LLM on the first {llm['calls']} turns below tau {args.tau} (top {args.top_k}):\n")
    print("| calls | LLM accuracy on them | classifier accuracy on them | s per call | overall accuracy (capped) |")
    print("|---|---|---|---|---|")
    print(f"| {llm['calls']} | {fmt(llm['accuracy_on_asked'])} | {fmt(llm['classifier_accuracy_on_asked'])} | "
          f"{fmt(llm['seconds_per_call'], 1)} | {fmt(hybrid['accuracy'])} |\n", flush=True)
    return hybrid

if __name__ == "__main__":
    main()
