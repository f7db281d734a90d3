"""The CLI contract that benchmarks and later work rely on, run end to end with the real model."""

import csv
import json
import subprocess
import sys

import pandas as pd
import pytest

from dialin_core.cli import main
from tests.conftest import REPO, SAMPLE_DIALOGUES


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dialin_core", *args], cwd=REPO, capture_output=True, text=True)


def read_summary(out) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_discover_kmeans_with_k_writes_the_contract_files(tmp_path, banking77_subset):
    out = tmp_path / "out"
    result = run_cli(
        "discover", str(banking77_subset), "--out", str(out), "--label-column", "category", "--method", "kmeans",
        "--k", "8", "--workspace", str(tmp_path / "w.duckdb"),
    )
    assert result.returncode == 0, result.stderr
    with (out / "assignments.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["text", "cluster_id", "intent_name"]
    summary = read_summary(out)
    assert summary["n_clusters"] == 8
    assert summary["n_utterances"] == len(rows)
    assert summary["llm_calls"] == 0
    assert summary["seconds"] > 0
    assert set(summary["metrics"]) == {"acc", "nmi", "ari", "precision", "recall", "f1"}
    assert summary["metrics"]["nmi"] > 0.6  # eight BANKING77 intents separate well with MiniLM
    with (out / "clusters.csv").open() as handle:
        clusters = list(csv.DictReader(handle))
    assert sum(int(c["size"]) for c in clusters) == len(rows)

    evaluated = run_cli("evaluate", str(out / "assignments.csv"), str(banking77_subset), "--label-column", "category")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["nmi"] == pytest.approx(summary["metrics"]["nmi"], abs=1e-6)

    from dialin_core.data.store import Store

    with Store(tmp_path / "w.duckdb") as store:
        stored = store.assignments(summary["run_id"])
    assert len(stored) == len(rows) and stored[["x", "y"]].notna().all().all()  # map coordinates for the studio


def test_discover_on_the_sample_dialogues_chooses_k_by_silhouette(tmp_path):
    out = tmp_path / "out"
    code = main(["discover", str(SAMPLE_DIALOGUES), "--out", str(out), "--role", "customer", "--method", "kmeans",
                 "--workspace", str(tmp_path / "w.duckdb"), "--k-min", "10", "--k-max", "40", "--k-step", "5", "--no-map"])
    assert code == 0
    summary = read_summary(out)
    assert summary["k"] in range(10, 41, 5)
    assert set(summary["silhouette"]) == {str(k) for k in range(10, 41, 5)}
    assert summary["n_clusters"] == summary["k"]
    assert "metrics" in summary  # the sample data carries gold intents on customer turns


def test_discover_hdbscan_on_sgd_customer_turns(tmp_path, sgd_subset):
    out = tmp_path / "out"
    code = main(["discover", str(sgd_subset), "--out", str(out), "--method", "hdbscan", "--role", "customer",
                 "--workspace", str(tmp_path / "w.duckdb"), "--no-map", "--min-cluster-size", "8"])
    assert code == 0
    summary = read_summary(out)
    assert summary["n_clusters"] >= 5
    assert summary["n_utterances"] > 1000
    assert 0 < summary["metrics"]["nmi"] < 1


def test_a_second_run_reuses_the_data_set_and_its_cached_embeddings(tmp_path, banking77_subset):
    workspace = str(tmp_path / "w.duckdb")
    for seed in ("0", "1"):
        assert main(["discover", str(banking77_subset), "--out", str(tmp_path / seed), "--k", "8", "--method", "kmeans",
                     "--seed", seed, "--workspace", workspace, "--no-map"]) == 0
    from dialin_core.data.store import Store

    with Store(workspace) as store:
        assert len(store.datasets()) == 1
        assert store.runs()["status"].tolist() == ["finished", "finished"]
        n_vectors = store.connection.execute("SELECT count(*) FROM embeddings").fetchall()[0][0]
        assert n_vectors == store.datasets()[0].n_utterances


def test_bad_input_is_one_clear_line_and_exit_status_2(tmp_path, banking77_subset):
    result = run_cli("discover", str(banking77_subset), "--out", str(tmp_path / "o"), "--text-column", "utterance",
                     "--workspace", str(tmp_path / "w.duckdb"))
    assert result.returncode == 2
    assert "banking_subset.csv" in result.stderr and "utterance" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_k_larger_than_the_data_is_refused_and_the_run_marked_failed(tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("my card is lost\nwhat is my balance\nopen an account\nclose my account\n")
    workspace = tmp_path / "w.duckdb"
    code = main(["discover", str(tiny), "--out", str(tmp_path / "o"), "--k", "10", "--method", "kmeans", "--workspace", str(workspace),
                 "--no-map"])
    assert code == 2
    from dialin_core.data.store import Store

    with Store(workspace) as store:
        assert store.runs()["status"].tolist() == ["failed"]


def test_agglomerative_method_with_k(tmp_path, banking77_subset):
    out = tmp_path / "out"
    code = main(["discover", str(banking77_subset), "--out", str(out), "--method", "agglomerative", "--k", "8",
                 "--label-column", "category", "--workspace", str(tmp_path / "w.duckdb"), "--no-map"])
    assert code == 0
    summary = read_summary(out)
    assert summary["method"] == "agglomerative" and summary["n_clusters"] == 8
    assert summary["metrics"]["nmi"] > 0.5


def test_discover_defaults_to_the_dialin_loop_and_logs_each_step(tmp_path, banking77_subset):
    out = tmp_path / "out"
    result = run_cli("discover", str(banking77_subset), "--out", str(out), "--label-column", "category", "--llm", "none",
                     "--max-iterations", "2", "--no-map", "--workspace", str(tmp_path / "w.duckdb"))
    assert result.returncode == 0, result.stderr
    summary = read_summary(out)
    assert summary["method"] == "dialin" and summary["judge"] == "cohesion" and summary["llm_calls"] == 0
    assert [i["iteration"] for i in summary["iterations"]] == list(range(1, len(summary["iterations"]) + 1))
    assert summary["metrics"]["nmi"] > 0.6 and summary["n_clusters"] >= 4
    logged = [json.loads(line)["kind"] for line in result.stderr.splitlines() if line.startswith("{")]
    assert logged[:2] == ["space_reduced", "candidate_judged"] and logged[-1] == "merges_proposed"


def test_k_is_refused_for_the_dialin_method(tmp_path, banking77_subset):
    result = run_cli("discover", str(banking77_subset), "--out", str(tmp_path / "o"), "--k", "8", "--llm", "none",
                     "--workspace", str(tmp_path / "w.duckdb"))
    assert result.returncode == 2 and "chooses k itself" in result.stderr


def test_resume_continues_a_failed_run_and_refuses_an_unknown_one(tmp_path, banking77_subset):
    from dialin_core.config import RunConfig
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.data.store import Store
    from dialin_core.methods.dialin import run_dialin

    workspace = tmp_path / "w.duckdb"

    def stop(event):
        if event["kind"] == "iteration_done":
            raise KeyboardInterrupt

    with Store(workspace) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        with pytest.raises(KeyboardInterrupt):
            run_dialin(store, dataset_id, RunConfig(llm="none", judge="cohesion", with_map=False, max_iterations=2), on_event=stop)
    assert main(["resume", "1", "--out", str(tmp_path / "out"), "--workspace", str(workspace)]) == 0
    assert read_summary(tmp_path / "out")["run_id"] == 1
    unknown = run_cli("resume", "99", "--out", str(tmp_path / "o"), "--workspace", str(workspace))
    assert unknown.returncode == 2 and "no run 99" in unknown.stderr


def test_refine_reclusters_a_reviewed_run_and_a_busy_workspace_is_a_clear_error(tmp_path, banking77_subset):
    from dialin_core.config import RunConfig
    from dialin_core.curation import review
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.data.store import Store
    from dialin_core.methods.dialin import run_dialin

    workspace = tmp_path / "w.duckdb"
    with Store(workspace) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        run_id = run_dialin(store, dataset_id, RunConfig(llm="none", judge="cohesion", with_map=False, max_iterations=2)).run_id
        review.rename(store, run_id, "ana", 0, "inquire-card_arrival")
        busy = run_cli("refine", str(run_id), "--out", str(tmp_path / "o"), "--workspace", str(workspace))
    assert busy.returncode == 2 and "open in another process" in busy.stderr
    assert main(["refine", str(run_id), "--out", str(tmp_path / "out"), "--workspace", str(workspace)]) == 0
    summary = read_summary(tmp_path / "out")
    assert summary["run_id"] == run_id + 1
    clusters = pd.read_csv(tmp_path / "out" / "clusters.csv")
    assert "inquire-card_arrival" in set(clusters["name"])


def test_train_judge_writes_a_judge_that_discover_can_use(tmp_path, banking77_subset):
    judge = tmp_path / "judge.json"
    assert main(["train-judge", str(banking77_subset), "--label-column", "category", "--out", str(judge)]) == 0
    trained = json.loads(judge.read_text())
    assert trained["embedder"] == "all-minilm-l6-v2" and trained["training"]["n_intents"] == 8
    out = tmp_path / "out"
    assert main(["discover", str(banking77_subset), "--out", str(out), "--llm", "none", "--cohesion-model", str(judge),
                 "--max-iterations", "1", "--no-map", "--workspace", str(tmp_path / "w.duckdb")]) == 0
    assert read_summary(out)["n_clusters"] >= 1


def test_role_split_reclusters_a_run_on_data_without_speakers_by_the_roles_its_names_give(tmp_path):
    from dialin_core.curation import review
    from dialin_core.data.store import Store

    sentences = tmp_path / "sentences.txt"
    turns = [t["utterance"] for line in SAMPLE_DIALOGUES.read_text(encoding="utf-8").splitlines()[:60] for t in json.loads(line)["turns"]]
    sentences.write_text("\n".join(turns) + "\n", encoding="utf-8")
    workspace = tmp_path / "w.duckdb"
    assert main(["discover", str(sentences), "--out", str(tmp_path / "first"), "--llm", "none", "--max-iterations", "1",
                 "--candidates", "2", "--k-max", "30", "--no-map", "--workspace", str(workspace)]) == 0
    run_id = read_summary(tmp_path / "first")["run_id"]
    with Store(workspace) as store:
        live = review.review_state(store, run_id).live_clusters()
        for cluster_id in live["cluster_id"]:
            review.rename(store, run_id, "ana", int(cluster_id), f"request-thing_{chr(97 + int(cluster_id) % 26)}{int(cluster_id)}")
        largest = live.nlargest(2, "size")["cluster_id"].astype(int).tolist()
        for cluster_id, name in zip(largest, ["provide-help", "ask-details"]):
            review.rename(store, run_id, "ana", cluster_id, name)  # the analyst's names decide the roles
        members = review.review_state(store, run_id).members
        agents = set(members.loc[members["cluster_id"].isin(largest), "utterance_id"])
    assert main(["role-split", str(run_id), "--out", str(tmp_path / "split"), "--workspace", str(workspace)]) == 0
    split = read_summary(tmp_path / "split")["run_id"]
    assert (tmp_path / "split" / "clusters.csv").exists()
    with Store(workspace) as store:
        assert store.run(split).config.roles_from == run_id
        clusters = store.clusters(split)
        members = store.assignments(split).merge(clusters[["cluster_id", "role"]], on="cluster_id")
    assert set(members.loc[members["utterance_id"].isin(agents), "role"].dropna()) == {"agent"}
    assert set(members.loc[~members["utterance_id"].isin(agents), "role"].dropna()) == {"customer"}
    again = run_cli("role-split", str(split + 99), "--out", str(tmp_path / "x"), "--workspace", str(workspace))
    assert again.returncode == 2 and f"no run {split + 99}" in again.stderr
