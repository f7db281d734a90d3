"""Checks that the committed sample transcripts are reproducible and rich enough to demo intent discovery."""

from __future__ import annotations

import csv
import importlib.util
import json
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
DOMAINS = {"banking", "telecom", "insurance"}


def load_generator() -> ModuleType:
    """Import sample_data/generate.py by path (sample_data is a data folder, not a package)."""
    spec = importlib.util.spec_from_file_location("sample_data_generate", SAMPLE_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dialogues() -> list[dict]:
    """The committed JSONL, parsed once for all checks."""
    with open(SAMPLE_DIR / "dialogues.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_committed_files_match_generator(tmp_path: Path) -> None:
    load_generator().main(["--out", str(tmp_path)])
    for name in ("dialogues.jsonl", "turns.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE_DIR / name).read_bytes(), f"{name} is stale; rerun generate.py"


def test_dialogue_count_and_schema(dialogues: list[dict]) -> None:
    assert 250 <= len(dialogues) <= 350
    assert len({d["dialogue_id"] for d in dialogues}) == len(dialogues)
    for d in dialogues:
        assert d["domain"] in DOMAINS
        assert d["turns"][0]["speaker"] == "agent"
        for turn in d["turns"]:
            assert turn["speaker"] in {"customer", "agent"}
            assert turn["utterance"].strip()
            assert turn["speaker"] == "customer" or turn["intent"] is None


def test_intents_span_all_domains(dialogues: list[dict]) -> None:
    intents_per_domain: dict[str, set[str]] = defaultdict(set)
    for d in dialogues:
        for turn in d["turns"]:
            if turn["intent"]:
                intents_per_domain[d["domain"]].add(turn["intent"])
    all_intents = set().union(*intents_per_domain.values())
    assert 20 <= len(all_intents) <= 30
    assert set(intents_per_domain) == DOMAINS


def test_each_intent_has_varied_utterances(dialogues: list[dict]) -> None:
    utterances: dict[str, set[str]] = defaultdict(set)
    for d in dialogues:
        for turn in d["turns"]:
            if turn["intent"]:
                utterances[turn["intent"]].add(turn["utterance"])
    thin = {intent: len(texts) for intent, texts in utterances.items() if len(texts) < 10}
    assert not thin


def test_some_dialogues_switch_intent(dialogues: list[dict]) -> None:
    switched = [d for d in dialogues if len({t["intent"] for t in d["turns"] if t["intent"]}) >= 2]
    assert len(switched) >= 5


def test_csv_matches_jsonl(dialogues: list[dict]) -> None:
    with open(SAMPLE_DIR / "turns.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["dialogue_id", "turn_index", "speaker", "text", "intent"]
        rows = [(r["dialogue_id"], int(r["turn_index"]), r["speaker"], r["text"], r["intent"]) for r in reader]
    expected = [(d["dialogue_id"], i, t["speaker"], t["utterance"], t["intent"] or "")
                for d in dialogues for i, t in enumerate(d["turns"])]
    assert rows == expected
    assert 2500 <= len(rows) <= 3500
