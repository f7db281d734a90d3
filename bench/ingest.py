"""Ingest at scale: seconds and peak memory to store a file of N utterances, CSV and JSON Lines, in a fresh workspace.

Usage: .venv/bin/python bench/ingest.py [--n 1000000] [--formats csv jsonl] [--repo PATH ...] [--folder DIR]

The file is made from the real labelled utterances as `copies.py` copies them (BANKING77 and the SGD customer
turns; copy c of utterance u reads "u's text (c)"); dialogues are runs of 8 shuffled
utterances, spoken by the customer, each answered by one of 20 agent replies (so half the turns repeat, as agent
turns do). The CSV has one row a turn (dialogue, turn, speaker, text, intent); the JSON Lines file one dialogue
a line, the Schema-Guided Dialogue shape.

Each ingest runs in a child process of its own, so its peak resident memory (VmHWM, which starts afresh at exec,
unlike ru_maxrss, which a child inherits from the process that made the files) is the ingest's alone.
`--repo` names checkouts to time against each other on the same files (default: this one), e.g. a worktree of an
earlier commit: compare the rows of one run, not seconds across machines.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from copies import copies, real_utterances  # noqa: E402

DIALOGUE_LENGTH = 8
AGENT_REPLIES = [f"Thank you, I can help with that (reply {i})." for i in range(20)]
MAPPING = {"text": "text", "dialogue_id": "dialogue", "turn_index": "turn", "speaker": "speaker", "label": "intent"}

# Runs in the child: ingest one file into a fresh workspace and print the seconds, the peak memory and the counts.
CHILD = """
import json, sys, time
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.store import Store
workspace, path, mapping = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with Store(workspace) as store:
    started = time.perf_counter()
    dataset_id = ingest_file(store, path, ColumnMapping(**mapping) if mapping else None)
    seconds = time.perf_counter() - started
    info = store.dataset(dataset_id)
peak_kib = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024,
                  "turns": info.n_turns, "utterances": info.n_utterances, "dialogues": info.n_dialogues}))
"""


def write_files(folder: Path, n: int, formats: list[str], seed: int) -> dict[str, Path]:
    """The N customer utterances, each followed by an agent reply, as the asked formats."""
    rng = np.random.default_rng(seed)
    made = copies(real_utterances(), n, rng)
    customer, intents = made.texts, made.intents
    dialogue = np.arange(n) // DIALOGUE_LENGTH
    replies = np.array(AGENT_REPLIES)[rng.integers(0, len(AGENT_REPLIES), n)]
    turns = pd.DataFrame({
        "dialogue": np.repeat(dialogue, 2), "turn": np.tile([0, 1], n) + 2 * np.repeat(np.arange(n) % DIALOGUE_LENGTH, 2),
        "speaker": np.tile(["customer", "agent"], n), "text": np.ravel(np.column_stack([customer, replies])),
        "intent": np.ravel(np.column_stack([intents, np.full(n, "")])),
    })
    paths = {}
    if "csv" in formats:
        paths["csv"] = folder / "calls.csv"
        turns.to_csv(paths["csv"], index=False)
    if "jsonl" in formats:
        paths["jsonl"] = folder / "calls.jsonl"
        with paths["jsonl"].open("w", encoding="utf-8") as handle:
            for dialogue_id, group in turns.groupby("dialogue", sort=True):
                handle.write(json.dumps({"dialogue_id": f"d{dialogue_id}", "turns": [
                    {"speaker": s, "utterance": t, **({"intent": i} if i else {})}
                    for s, t, i in zip(group["speaker"], group["text"], group["intent"])]}) + "\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="customer utterances (the file has twice as many turns)")
    parser.add_argument("--formats", nargs="+", default=["csv", "jsonl"], choices=["csv", "jsonl"])
    parser.add_argument("--repo", nargs="+", type=Path, default=[REPO], help="checkouts whose ingest to time")
    parser.add_argument("--folder", help="where the files and workspaces go (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.folder or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        paths = write_files(folder, args.n, args.formats, args.seed)
        print(f"{args.n:,} customer utterances, {2 * args.n:,} turns, written in {time.perf_counter() - started:.0f} s: "
              + ", ".join(f"{fmt} {path.stat().st_size / 2**20:.0f} MiB" for fmt, path in paths.items()) + "\n", flush=True)
        print("| checkout | file | seconds | peak memory (MiB) | turns | utterances | dialogues |\n| --- | --- | --- | --- | --- | --- | --- |")
        for fmt, path in paths.items():
            for repo in args.repo:
                workspace = folder / f"{fmt}-{repo.name}.duckdb"
                workspace.unlink(missing_ok=True)
                mapping = MAPPING if fmt == "csv" else None
                done = subprocess.run([sys.executable, "-c", CHILD, str(workspace), str(path), json.dumps(mapping)],
                                      cwd=repo, env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
                                      capture_output=True, text=True)
                if done.returncode:
                    print(f"| {repo} | {fmt} | failed: {done.stderr.strip().splitlines()[-1]} | | | | |", flush=True)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"| {repo} | {fmt} | {row['seconds']:.1f} | {row['peak_mib']:,.0f} | {row['turns']:,} | {row['utterances']:,} "
                      f"| {row['dialogues']:,} |", flush=True)
                workspace.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
