"""LLM labelling with self-critique (Building Multi-turn Intent Classification with LLM-based Labeling, section 4.1, table 1) and the dialogue simulator's cost,
with the local model, on SGD.

Usage: .venv/bin/python bench/labelling.py [--data FILE] [--turns 30] [--simulate 3] [--seed 0]
                                           [--llm local] [--model NAME] [--json FILE]

Labelling: the customer turns of the held-out 20% of SGD dialogues (the same seeded dialogue-level split
as bench/classify.py), in order, up to --turns; each labelled by stage 1 (reason, then an intent of the
sample's taxonomy) and audited by stage 2 (kept or revised). The SGD gold intents score both stages: a
label is right when it is one of the turn's active intents. Simulation: --simulate dialogues planned
from the training split's queries, played by the LLM and labelled by the two-stage labeller; reported
are calls, time, behaviours and how often the labeller agrees with the controller's planned intent.
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dialin_core.classify.data import dialogues_from_file, split_dialogues  # noqa: E402
from dialin_core.classify.labelling import LLMLabeller, label_dialogues, labelling_report, taxonomy_of  # noqa: E402
from dialin_core.classify.simulate import DialogueSimulator, seed_queries, simulate_dialogues, simulation_report  # noqa: E402
from dialin_core.llm.backends import open_backend  # noqa: E402


class CountingLLM:
    """Counts calls and tokens of an uncached back end, so the bench measures real work."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.calls = self.prompt_tokens = self.completion_tokens = 0

    def chat(self, request):
        response = self.backend.chat(request)
        self.calls += 1
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens
        return response


def measured(llm: CountingLLM, work) -> tuple[object, dict]:
    before = (llm.calls, llm.prompt_tokens, llm.completion_tokens)
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    calls = llm.calls - before[0]
    return result, {"calls": calls, "prompt_tokens": llm.prompt_tokens - before[1], "completion_tokens": llm.completion_tokens - before[2],
                    "seconds": round(seconds, 1), "seconds_per_call": round(seconds / calls, 2) if calls else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "sgd" / "train_sample.jsonl")
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--simulate", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--llm", choices=("local", "openai"), default="local")
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    dialogues = dialogues_from_file(args.data)
    train, test = split_dialogues(dialogues, 0.2, args.seed)
    taxonomy = taxonomy_of(dialogues)
    backend = open_backend(args.llm, args.model)
    llm = CountingLLM(backend)
    labeller = LLMLabeller(llm, taxonomy)
    (_, records), labelling_cost = measured(llm, lambda: label_dialogues(test, labeller, max_turns=args.turns))
    report = {"model": f"{args.llm}:{getattr(backend, 'model', args.model)}", "intents": len(taxonomy.labels),
              "labelling": {**labelling_report(records), **labelling_cost}}
    if args.simulate:
        simulator = DialogueSimulator(llm, seed_queries(train), labeller)
        simulated, simulation_cost = measured(llm, lambda: simulate_dialogues(simulator, args.simulate, args.seed))
        report["simulation"] = {**simulation_report(simulated), **simulation_cost}
        report["simulation_sample"] = [
            [f"{t.turn.speaker} [{t.behaviour or ''}{' -> ' + t.turn.gold[0] if t.turn.gold else ''}]: {t.turn.text}" for t in d.turns]
            for d in simulated[:2]
        ]
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
