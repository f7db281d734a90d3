"""Shared fixtures: real files from ../shared/data and the repo's sample data, small and read-only."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The public data sets live beside the checkout (never copied into it); DIALIN_SHARED_DATA overrides.
SHARED_DATA = Path(os.environ.get("DIALIN_SHARED_DATA", REPO.parent / "shared" / "data"))
BANKING77_TEST = SHARED_DATA / "banking77" / "test.csv"
SGD_SAMPLE = SHARED_DATA / "sgd" / "train_sample.jsonl"
SMP2019 = SHARED_DATA / "smp2019" / "train.csv"
SAMPLE_DIALOGUES = REPO / "sample_data" / "dialogues.jsonl"
SAMPLE_TURNS = REPO / "sample_data" / "turns.csv"


@pytest.fixture
def banking77_subset(tmp_path: Path) -> Path:
    """400 BANKING77 test queries from 8 intents: big enough to cluster, small enough to be quick."""
    import pandas as pd

    frame = pd.read_csv(BANKING77_TEST)
    intents = sorted(frame["category"].unique())[:8]
    subset = frame[frame["category"].isin(intents)]
    path = tmp_path / "banking_subset.csv"
    subset.to_csv(path, index=False)
    return path


@pytest.fixture
def sgd_subset(tmp_path: Path) -> Path:
    """The first 150 SGD dialogues, as they are: multi-domain USER/SYSTEM turns with active intents."""
    lines = SGD_SAMPLE.read_text(encoding="utf-8").splitlines()[:150]
    path = tmp_path / "sgd_subset.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def chinese_subset(tmp_path: Path) -> Path:
    """120 Chinese requests of SMP2019, 20 from each of 6 intents, as UTF-8 CSV (text, label)."""
    import pandas as pd

    frame = pd.read_csv(SMP2019)
    counts = frame["label"].value_counts()
    intents = sorted(counts[counts >= 20].index)[:6]
    subset = pd.concat([frame[frame["label"] == intent].head(20) for intent in intents])
    path = tmp_path / "chinese_subset.csv"
    subset.to_csv(path, index=False)
    return path


@pytest.fixture
def banking(tmp_path: Path, banking77_subset: Path):
    """A workspace holding `banking77_subset` with its gold labels: (store, data set id); closed afterwards."""
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.data.store import Store

    store = Store(tmp_path / "w.duckdb")
    dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
    yield store, dataset_id
    store.close()
