"""The two llama.cpp bindings side by side: the LLM judge's verdict probabilities and seconds per call, on the same
clusters in the same order, with the packaged model and with its shipped LoRA judge.

Usage: .venv/bin/python bench/bindings.py [--clusters 40] [--size 8]

Clusters are drawn from BANKING77 test: half pure (one intent's first `--size` queries), half mixes of two intents
(half of each), so the probabilities spread. Each binding is loaded fresh and asked every cluster in turn, one
thread, as the product runs it; needs llama-cpp-python installed (`bash scripts/llama_cpp_python.sh`).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bakeoff import SHARED  # noqa: E402

from dialin_core.judging.llm_judge import LLMJudge  # noqa: E402
from dialin_core.judging.llm_tuning import shipped_path  # noqa: E402
from dialin_core.llm.local_backend import BINDINGS, LocalBackend, _load  # noqa: E402


def clusters(n: int, size: int) -> list[list[str]]:
    frame = pd.read_csv(SHARED / "banking77" / "test.csv")
    by_intent = [group["text"].tolist() for _, group in frame.groupby("category", sort=True)]
    pure = [texts[:size] for texts in by_intent[: n // 2]]
    half = size // 2
    mixed = [a[-half:] + b[-(size - half):] for a, b in zip(by_intent[: n - n // 2], by_intent[1:])]
    return pure + mixed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=40)
    parser.add_argument("--size", type=int, default=8)
    args = parser.parse_args()
    asked = clusters(args.clusters, args.size)
    print(f"{len(asked)} clusters of {args.size} BANKING77 test queries (half pure, half two intents)\n")
    print("| model | binding | seconds a call | mean p(good) | largest difference from xllamacpp | same verdicts |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for adapter in (None, shipped_path()):
        _load.cache_clear()
        answers = {}
        for binding in reversed(BINDINGS):  # xllamacpp first: the reference
            judge = LLMJudge(LocalBackend(adapter=adapter, binding=binding))
            started = time.perf_counter()
            answers[binding] = np.array([judge.judge(texts).probability_good for texts in asked])
            seconds = (time.perf_counter() - started) / len(asked)
            reference = answers["xllamacpp"]
            print(f"| {'shipped LoRA judge' if adapter else 'packaged 0.5B'} | {binding} | {seconds:.2f} | "
                  f"{answers[binding].mean():.3f} | {np.abs(answers[binding] - reference).max():.1e} | "
                  f"{int(((answers[binding] >= 0.5) == (reference >= 0.5)).sum())}/{len(asked)} |", flush=True)


if __name__ == "__main__":
    main()
