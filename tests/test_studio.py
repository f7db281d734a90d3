"""The studio's pages driven through Streamlit's AppTest against a real workspace, asserting on the database."""

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dialin_core.curation import review
from dialin_core.curation.review import review_state
from dialin_core.data.store import RunRow, Store
from dialin_core.judging.llm_judge import VERDICT_GRAMMAR
from dialin_core.llm.base import ChatResponse
from dialin_core.methods import jobs
from tests.conftest import REPO, SAMPLE_TURNS
from tests.fakes import ScriptedLLM, verdict_response

TIMEOUT = 180


def labelled(elements, label: str):
    """The one widget with this label: tests read like what an analyst sees."""
    matches = [e for e in elements if e.label == label]
    assert len(matches) == 1, f"{len(matches)} widgets labelled {label!r}"
    return matches[0]


def tick(app: AppTest, key_prefix: str, values: list[int], column: str = "cluster_id") -> None:
    """Tick the rows holding `values` in the one table whose key starts with `key_prefix`, as a click on their
    checkboxes does (Streamlit's row selection), and rerun."""
    (table,) = [d for d in app.dataframe if d.key and d.key.startswith(key_prefix)]
    rows = table.value.reset_index(drop=True)
    positions = [int(rows.index[rows[column] == v][0]) for v in values]
    app.session_state[table.key] = {"selection": {"rows": positions, "columns": [], "cells": []}}
    app.run()
    assert not app.exception, app.exception


def open_app(workspace: Path, analyst: str = "ana") -> AppTest:
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    app.session_state["workspace"] = str(workspace)
    app.session_state["analyst"] = analyst  # what the sidebar's name box stores (AppTest loses sidebar widgets under st.navigation)
    app.run()
    assert not app.exception, app.exception
    return app


def load_sample(app: AppTest) -> None:
    labelled(app.button, "Load the sample dialogues").click().run()
    assert not app.exception


def start_run(app: AppTest, workspace: Path, **choices) -> int:
    """Fill the Discover form (labels as shown) and start; waits for the background run to end."""
    app.switch_page("pages/discover.py").run()
    for label, value in choices.items():
        widget = next(e for kind in (app.selectbox, app.number_input, app.checkbox, app.text_input, app.slider)
                      for e in kind if e.label == label)
        widget.set_value(value)
    labelled(app.button, "Start the run").click().run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    run_id = app.session_state["run_id"]
    assert jobs.wait(workspace, run_id, timeout=600)
    app.run()
    return run_id


def run_started_by(app: AppTest, workspace: Path, button: str) -> tuple[int, RunRow]:
    """Click a button that starts a run in the background; wait for it and return its id and stored row."""
    labelled(app.button, button).click().run()
    assert not app.exception, app.exception
    run_id = app.session_state["run_id"]
    assert jobs.wait(workspace, run_id, timeout=600)
    with Store(workspace) as store:
        return run_id, store.run(run_id)


def scripted_llm() -> ScriptedLLM:
    """Judges everything good; names clusters 0 and 1 alike, so one merge is proposed, the rest apart."""
    names = iter(["inquire-card_delivery", "inquire-card_delivery"] + [f"request-item_{i}" for i in range(500)])

    def answer(request):
        if request.grammar == VERDICT_GRAMMAR:
            return verdict_response(0.95)
        return ChatResponse(text=next(names))

    return ScriptedLLM(answer)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "w.duckdb"


def test_an_uploaded_csv_is_mapped_previewed_and_stored(workspace):
    app = open_app(workspace)
    app.file_uploader[0].set_value(("turns.csv", SAMPLE_TURNS.read_bytes(), "text/csv")).run()
    assert not app.exception, app.exception
    assert labelled(app.selectbox, "Text").value == "text"
    assert labelled(app.selectbox, "Gold label (optional)").value == "intent"  # suggested by its name
    assert app.chat_message, "the preview shows dialogues"
    labelled(app.button, "Store this data set").click().run()
    assert "turns.csv is data set 1" in app.success[0].value
    with Store(workspace) as store:
        (dataset,) = store.datasets()
    assert dataset.name == "turns.csv" and dataset.n_turns > 0


def test_an_upload_that_cannot_be_read_is_a_message_and_stores_nothing(workspace):
    app = open_app(workspace)
    app.file_uploader[0].set_value(("broken.csv", b"text,speaker\n\"unclosed,agent\n", "text/csv")).run()
    labelled(app.selectbox, "Text").set_value("(none)").run()
    assert "Choose the column" in app.warning[0].value
    app.file_uploader[0].set_value(("empty.jsonl", b"{not json}\n", "application/json")).run()
    assert not app.exception and "empty.jsonl" in app.error[0].value
    with Store(workspace) as store:
        assert store.datasets() == []


def test_a_run_without_llm_is_watched_reviewed_and_exported(workspace, tmp_path):
    app = open_app(workspace)
    load_sample(app)
    run_id = start_run(app, workspace, **{"LLM back end": "none", "Judge": "cohesion", "Max iterations": 2,
                                          "Loop clustering (dialin)": "kmeans"})
    with Store(workspace) as store:
        assert store.run_status(run_id) == "finished"
        assert store.run(run_id).config.loop_clustering == "kmeans"
    assert any(s.value.startswith("Clusters kept: ") for s in app.subheader)  # finished: not "so far"
    assert app.progress[0].value == 100

    app.switch_page("pages/review.py").run()
    assert not app.exception, app.exception
    with Store(workspace) as store:
        state = review_state(store, run_id)
    largest, second = state.live_clusters().sort_values("size", ascending=False)["cluster_id"].head(2).tolist()
    tick(app, "cluster_table:", [largest])
    labelled(app.button, "Mark bad").click().run()
    tick(app, "cluster_table:", [second])
    labelled(app.button, "Approve them").click().run()
    app.selectbox(key="detail_cluster").set_value(second).run()
    labelled(app.text_input, "Name").set_value("inquire-order_status")
    labelled(app.button, "Rename").click().run()
    with Store(workspace) as store:
        members = review_state(store, run_id).members
    inside = members.loc[members["cluster_id"] == largest, "utterance_id"].astype(int).tolist()
    app.selectbox(key="detail_cluster").set_value(largest).run()
    tick(app, "sentences:", inside[:2], column="utterance_id")
    app.selectbox(key="cluster_sentences_target").set_value(second)
    app.button(key="cluster_sentences_move").click().run()
    tick(app, "sentences:", inside[2:5], column="utterance_id")
    app.text_input(key="cluster_sentences_new_name").set_value("report-split_off")
    app.button(key="cluster_sentences_new").click().run()
    assert not app.exception, app.exception
    with Store(workspace) as store:
        state = review_state(store, run_id)
        decisions = store.decisions(run_id)
    assert decisions["action"].tolist() == ["set_verdict", "set_status", "rename", "move", "new_cluster"]
    current = state.members.set_index("utterance_id")["cluster_id"]
    assert (current[inside[:2]] == second).all()
    split = state.clusters[state.clusters["name"] == "report-split_off"]
    assert split["size"].tolist() == [3] and (current[inside[2:5]] == int(split["cluster_id"].iloc[0])).all()
    assert set(decisions["analyst"]) == {"ana"}
    assert state.cluster(largest)["verdict"] == "bad" and state.cluster(second)["status"] == "approved"
    assert state.cluster(second)["name"] == "inquire-order_status"

    labelled(app.button, "Undo the last").click().run()
    with Store(workspace) as store:
        assert "report-split_off" not in set(review_state(store, run_id).live_clusters()["name"])

    refined, row = run_started_by(app, workspace, "Start a refined run")
    assert refined == run_id + 1 and row.status == "finished" and row.config.refine_of == run_id
    with Store(workspace) as store:
        refined_names = set(store.clusters(refined)["name"])
    assert "inquire-order_status" in refined_names  # the approved, renamed cluster stands
    app.switch_page("pages/review.py").run()
    app.selectbox(key="review_run").set_value(run_id).run()

    app.switch_page("pages/map.py").run()
    assert not app.exception, app.exception
    assert "Selection: 0 sentences" in app.subheader[0].value

    app.switch_page("pages/export.py").run()
    for _ in range(240):  # on a loaded machine the export may still be in preparation after the page's short wait
        if not app.get("progress"):
            break
        time.sleep(0.5)
        app.run()
    assert not app.exception, app.exception
    folder = tmp_path / "export"
    labelled(app.text_input, "Folder").set_value(str(folder))
    labelled(app.button, "Export").click().run()
    assert not app.exception and "Wrote" in app.success[0].value
    curated = pd.read_parquet(folder / "utterances.parquet")
    assert (curated.loc[curated["cluster_id"] == largest, "verdict"] == "bad").all()
    assert (folder / "judge_sft.jsonl").exists() and (folder / "namer_sft.jsonl").exists()

    app.switch_page("pages/judge.py").run()
    assert not app.exception, app.exception
    (judges,) = app.dataframe
    assert judges.value["trained on"].str.startswith("train.csv: 2370 synthetic clusters").all()
    labelled(app.button, "Re-fit the judge on these verdicts").click().run()
    assert not app.exception, app.exception
    (refit,) = (workspace.parent / "judges").glob("cohesion-all-minilm-l6-v2-*.json")
    assert json.loads(refit.read_text())["training"]["n_analyst_labels"] == 2  # one marked bad, one approved
    labelled(app.button, "Ask the local LLM about these 2 clusters").click().run()  # the real 0.5B model, in the worker
    assert not app.exception, app.exception
    asked = jobs.llm_judging(workspace)
    asked.thread.join(300)
    assert asked.error is None and asked.result["n"] == 2, asked.error
    app.run()
    assert not app.exception, app.exception
    (judges,) = app.dataframe
    llm_row = judges.value[judges.value["judge"].str.startswith("LLM, untuned (qwen2.5-coder-0.5b")]
    assert len(llm_row) == 1 and llm_row["n"].iloc[0] == 2 and 0 <= llm_row["agreement"].iloc[0] <= 1
    app.switch_page("pages/discover.py").run()
    assert refit in labelled(app.selectbox, "Cohesion judge").options or refit.stem in labelled(app.selectbox, "Cohesion judge").options


def test_a_run_with_a_scripted_llm_proposes_a_merge_the_analyst_approves(workspace, monkeypatch):
    llm = scripted_llm()
    monkeypatch.setattr("dialin_core.methods.dialin.open_backend", lambda kind, model=None: llm)
    monkeypatch.setattr(jobs, "RUNS_IN_WORKER", False)  # the scripted LLM lives in this process
    app = open_app(workspace)
    load_sample(app)
    # the untuned namer: a tuned one names through its own adapter on the local model, not the scripted LLM
    run_id = start_run(app, workspace, **{"LLM back end": "local", "Judge": "cascade", "Max iterations": 2, "LLM namer (local)": "none",
                                          "LLM call budget (0: the back end's default)": 60})
    assert llm.requests
    app.switch_page("pages/merges.py").run()
    assert not app.exception, app.exception
    with Store(workspace) as store:
        proposals = store.merge_proposals(run_id)
    assert len(proposals) >= 1
    first = int(proposals["proposal_id"].iloc[0])
    labelled(app.text_input, "Merged name").set_value("inquire-card_delivery_status") if len(proposals) == 1 else \
        app.text_input(key=f"merged_name_{first}").set_value("inquire-card_delivery_status")
    [b for b in app.button if b.label == "Approve the merge"][0].click().run()
    assert not app.exception, app.exception
    with Store(workspace) as store:
        state = review_state(store, run_id)
        decisions = store.decisions(run_id)
    assert decisions["action"].tolist() == ["accept_merge"]
    assert json.loads(decisions["after"][0])["name"] == "inquire-card_delivery_status"
    assert state.proposals.set_index("proposal_id").loc[first, "status"] == "accepted"
    assert "inquire-card_delivery_status" in set(state.clusters["name"])


def test_a_run_with_the_real_local_model_is_started_from_the_studio(workspace):
    app = open_app(workspace)
    load_sample(app)
    run_id = start_run(app, workspace, **{"LLM back end": "local", "Judge": "cascade", "Max iterations": 1,
                                          "LLM call budget (0: the back end's default)": 4})
    with Store(workspace) as store:
        run = store.run(run_id)
        calls = store.connection.execute("SELECT count(*) FROM llm_calls").fetchall()[0][0]
    assert run.status == "finished", run.summary
    assert 0 < run.summary["llm_calls"] <= 4 and calls > 0
    assert run.summary["llm_model"] == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert any(c.value.startswith("LLM calls") for c in app.caption)


def test_sentences_with_html_and_markdown_are_shown_literally(workspace, tmp_path):
    from dialin_core.config import RunConfig
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.methods.baselines import run_discovery

    hostile = "<script>alert('x')</script> my **card** [link](http://evil) is blocked"
    rows = [hostile] + [f"my card number {i} is blocked" for i in range(12)] + [f"what is my balance on account {i}" for i in range(12)]
    path = tmp_path / "hostile.csv"
    pd.DataFrame({"dialogue_id": range(len(rows)), "text": rows}).to_csv(path, index=False)
    with Store(workspace) as store:
        dataset_id = ingest_file(store, path, ColumnMapping(text="text", dialogue_id="dialogue_id"))
        run_id = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=2, with_map=False)).run_id
        members = store.cluster_members(run_id)
        texts = store.utterance_texts(run_id)
    hostile_id = next(u for u, t in texts.items() if t.startswith("<script>"))
    cluster = int(members.set_index("utterance_id").loc[hostile_id, "cluster_id"])
    app = open_app(workspace)
    app.switch_page("pages/review.py").run()
    app.selectbox(key="detail_cluster").set_value(cluster).run()
    tick(app, "sentences:", [hostile_id], column="utterance_id")  # the first ticked sentence is shown in its dialogue
    assert not app.exception, app.exception
    assert any(t.value == f"▶ customer: {hostile}" or t.value.endswith(hostile) for t in app.text)
    assert not any("<script>" in m.value for m in app.markdown)
    assert not any("unsafe_allow_html" in p.read_text() for p in (REPO / "pages").glob("*.py"))


def test_review_splits_a_run_without_speakers_by_role_and_hides_the_action_when_ingest_knew_them(workspace, tmp_path):
    from dialin_core.config import RunConfig
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.methods.baselines import run_discovery
    from dialin_core.methods.dialin import ROLES_DERIVED

    rows = [f"I can provide the tracking number {i} for you now" for i in range(30)] + [f"where is my parcel number {i}" for i in range(30)]
    path = tmp_path / "sentences.csv"
    pd.DataFrame({"text": rows, "speaker": ["agent"] * 30 + ["customer"] * 30}).to_csv(path, index=False)
    no_llm = RunConfig(method="kmeans", k=2, llm="none", judge="cohesion", with_map=False)
    with Store(workspace) as store:
        run_id = run_discovery(store, ingest_file(store, path, ColumnMapping(text="text")), no_llm).run_id
        texts = store.utterance_texts(run_id)
        members = store.cluster_members(run_id).set_index("utterance_id")["cluster_id"]
        agent_cluster = int(members[next(u for u, t in texts.items() if t.startswith("I can provide"))])
        review.rename(store, run_id, "ana", agent_cluster, "provide-tracking_number")
        review.rename(store, run_id, "ana", 1 - agent_cluster, "inquire-parcel")
    app = open_app(workspace)
    app.switch_page("pages/review.py").run()
    assert not app.exception, app.exception
    assert any("give 30 sentences to the agent" in c.value and "30 to the customer" in c.value for c in app.caption)
    split, row = run_started_by(app, workspace, "Split by role and re-cluster")
    assert split == run_id + 1 and row.status == "finished" and row.config.roles_from == run_id
    with Store(workspace) as store:
        derived = next(e for e in store.events(split) if e["kind"] == ROLES_DERIVED)
    assert derived["counts"] == {"customer": 30, "agent": 30, "other": 0}

    with_speakers = tmp_path / "speakers.duckdb"
    with Store(with_speakers) as store:
        run_discovery(store, ingest_file(store, path, ColumnMapping(text="text", speaker="speaker")), no_llm)
    app = open_app(with_speakers)
    app.switch_page("pages/review.py").run()
    assert not app.exception, app.exception
    assert not any(b.label == "Split by role and re-cluster" for b in app.button)
    assert any(b.label == "Start a refined run" for b in app.button)


def test_the_analyst_name_lives_in_the_address_and_comes_back_after_a_reload(workspace):
    named = open_app(workspace, analyst="ana")
    assert named.query_params["analyst"] == "ana"
    reloaded = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)  # a new browser session, same address
    reloaded.session_state["workspace"] = str(workspace)
    reloaded.query_params["analyst"] = "ana"
    reloaded.run()
    assert not reloaded.exception and reloaded.session_state["analyst"] == "ana"


def test_pause_and_resume_a_run_from_the_discover_page_while_it_names_its_stored_clusters(workspace, monkeypatch):
    import threading
    import time

    gate = threading.Event()

    def answer(request):
        if request.grammar == VERDICT_GRAMMAR:
            return verdict_response(0.95)
        gate.wait(60)  # naming: the loop's clusters are stored, the run holds here until the test lets it go
        return ChatResponse(text=f"inquire-topic_{len(llm.requests)}")

    llm = ScriptedLLM(answer)
    monkeypatch.setattr("dialin_core.methods.dialin.open_backend", lambda kind, model=None: llm)
    monkeypatch.setattr(jobs, "RUNS_IN_WORKER", False)  # the scripted LLM lives in this process
    app = open_app(workspace)
    load_sample(app)
    app.switch_page("pages/discover.py").run()
    labelled(app.selectbox, "LLM back end").set_value("local")
    labelled(app.selectbox, "LLM namer (local)").set_value("none")  # names through the scripted LLM, not a tuned adapter
    labelled(app.number_input, "Max iterations").set_value(1)
    labelled(app.button, "Start the run").click().run()
    run_id = app.session_state["run_id"]
    deadline = time.monotonic() + 300
    while not any(r.grammar != VERDICT_GRAMMAR for r in llm.requests):
        assert time.monotonic() < deadline, "the run never started naming"
        time.sleep(0.2)
    app.run()
    labelled(app.button, "Pause").click().run()
    assert not app.exception, app.exception
    gate.set()
    assert jobs.wait(workspace, run_id, timeout=120)
    with Store(workspace) as store:
        assert store.run_status(run_id) == "paused" and len(store.clusters(run_id)) > 0
    app.run()
    labelled(app.button, "Resume").click().run()
    assert not app.exception, app.exception
    assert jobs.wait(workspace, run_id, timeout=300)
    with Store(workspace) as store:
        assert store.run_status(run_id) == "finished"


def test_a_killed_run_worker_fails_the_run_and_the_studio_answers_at_once(workspace):
    import os
    import signal
    import time

    from dialin_core.methods import worker

    app = open_app(workspace)
    load_sample(app)
    app.switch_page("pages/discover.py").run()
    labelled(app.button, "Start the run").click().run()
    assert not app.exception, app.exception
    run_id = app.session_state["run_id"]
    deadline = time.monotonic() + 60
    while worker.worker_pid() is None:
        assert time.monotonic() < deadline, "no worker came up"
        time.sleep(0.05)
    os.kill(worker.worker_pid(), signal.SIGKILL)  # a native crash in the run's process
    killed = time.monotonic()
    assert jobs.wait(workspace, run_id, timeout=10)
    app.run()
    assert time.monotonic() - killed < 2, "the studio took over 2 s to show the run's end"
    assert not app.exception, app.exception
    assert any(e.value.startswith("The run failed: the run's worker process was killed by SIGKILL") for e in app.error), \
        [e.value for e in app.error]
    labelled(app.button, "Resume")  # a failed run is offered a resume, on a new worker


@pytest.fixture
def kmeans_workspace(workspace, banking77_subset) -> tuple[Path, int]:
    """A finished k-means run (k=8) on eight BANKING77 intents: a review to work through."""
    from dialin_core.config import RunConfig
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.methods.baselines import run_discovery

    with Store(workspace) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        run_id = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=8, with_map=False)).run_id
    return workspace, run_id


def test_review_reads_without_a_name_and_acts_on_the_open_cluster_search_hits_and_any_decision(kmeans_workspace):
    workspace, run_id = kmeans_workspace
    reader = open_app(workspace, analyst="")
    reader.switch_page("pages/review.py").run()
    assert not reader.exception, reader.exception
    assert any(i.value.startswith("Read-only") for i in reader.info)  # shown, not locked out
    assert reader.button(key="here_Good").disabled and reader.button(key="bulk_Mark bad").disabled
    assert len(reader.dataframe) >= 2  # the clusters and the open cluster's sentences are there to read

    app = open_app(workspace)
    app.switch_page("pages/review.py").run()
    order = app.dataframe[0].value["cluster_id"].astype(int).tolist()  # largest first
    assert app.selectbox(key="detail_cluster").value == order[0]
    app.button(key="here_Good").click().run()  # verdict on the cluster being read, then the next one opens
    assert app.selectbox(key="detail_cluster").value == order[1]
    app.button(key="here_Approve").click().run()
    assert app.selectbox(key="detail_cluster").value == order[2]
    labelled(app.button, "Previous").click().run()
    assert app.selectbox(key="detail_cluster").value == order[1]
    labelled(app.button, "Next").click().run()
    labelled(app.button, "Next").click().run()
    assert app.selectbox(key="detail_cluster").value == order[3]

    labelled(app.text_input, "Sentences containing").set_value("card").run()
    (hits,) = [d for d in app.dataframe if d.key and d.key.startswith("search:")]
    assert len(hits.value) > 0 and hits.value["text"].str.contains("card", case=False).all()
    moved = hits.value["utterance_id"].astype(int).tolist()[:3]
    tick(app, "search:", moved, column="utterance_id")
    app.selectbox(key="search_hits_target").set_value(order[4])
    app.button(key="search_hits_move").click().run()
    assert not app.exception, app.exception
    with Store(workspace) as store:
        current = review_state(store, run_id).members.set_index("utterance_id")["cluster_id"]
        first_decision = int(store.decisions(run_id)["decision_id"].iloc[0])
    assert (current[moved] == order[4]).all()

    (trail,) = [d for d in app.dataframe if "decision" in d.value.columns]
    assert trail.value["decision"].iloc[0] == f"moved 3 sentences to '{app.dataframe[0].value.set_index('cluster_id').loc[order[4], 'name']}'"
    assert trail.value["decision"].str.startswith("marked ").sum() == 1 and trail.value["analyst"].eq("ana").all()
    app.selectbox(key="undo_choice").set_value(first_decision)
    labelled(app.button, "Undo it").click().run()  # the first decision, not the last
    with Store(workspace) as store:
        state = review_state(store, run_id)
    assert pd.isna(state.cluster(order[0])["verdict"])  # k-means gives no verdict: the engine's word again
    assert state.cluster(order[1])["status"] == "approved"  # the later decisions stand
    assert (state.members.set_index("utterance_id")["cluster_id"][moved] == order[4]).all()


def test_a_merge_is_taken_back_from_the_merges_page(kmeans_workspace):
    workspace, run_id = kmeans_workspace
    from tests.test_review import propose_two_merges

    with Store(workspace) as store:
        propose_two_merges(store, run_id)
    app = open_app(workspace)
    app.switch_page("pages/merges.py").run()
    app.text_input(key="merged_name_0").set_value("inquire-cards")
    [b for b in app.button if b.label == "Approve the merge"][0].click().run()
    app.segmented_control(key="merge_filter").set_value("all").run()
    assert any("Accepted as 'inquire-cards' by ana" in c.value for c in app.caption)
    app.button(key="undo_merge_0").click().run()
    assert not app.exception, app.exception
    with Store(workspace) as store:
        state = review_state(store, run_id)
    assert state.proposals.set_index("proposal_id").loc[0, "status"] == "proposed"
    assert {0, 1} <= set(state.clusters["cluster_id"])  # both parts are back


def test_the_judge_page_reads_the_verdicts_once_per_state_of_the_review(kmeans_workspace, monkeypatch):
    """Reading the analyst's labels embeds a sample of every labelled cluster: once per review state, not per rerun."""
    from dialin_core.judging import feedback

    workspace, run_id = kmeans_workspace
    real, reads = feedback.analyst_labels, []
    monkeypatch.setattr(feedback, "analyst_labels", lambda store, embedder: reads.append(1) or real(store, embedder))
    with Store(workspace) as store:
        first, second = store.clusters(run_id)["cluster_id"].astype(int).tolist()[:2]
        review.set_verdict(store, run_id, "ana", [first], "good")
    app = open_app(workspace)
    app.switch_page("pages/judge.py").run()
    app.run()
    assert not app.exception, app.exception
    assert len(reads) == 1 and any(c.value.startswith("1 labelled clusters (1 good)") for c in app.caption)
    with Store(workspace) as store:
        review.set_verdict(store, run_id, "ana", [second], "bad")
    app.run()
    assert len(reads) == 2 and any(c.value.startswith("2 labelled clusters (1 good)") for c in app.caption)


def test_classify_says_what_a_reviewed_run_leaves_out_before_it_trains(kmeans_workspace):
    workspace, run_id = kmeans_workspace
    from dialin_core.classify.data import label_coverage

    with Store(workspace) as store:
        clusters = store.clusters(run_id)
        review.set_verdict(store, run_id, "ana", [int(clusters["cluster_id"].iloc[0])], "bad")
        coverage = label_coverage(store, run_id)
    assert coverage.in_bad_clusters == int(clusters["size"].iloc[0]) and coverage.unassigned == 0
    app = open_app(workspace)
    app.switch_page("pages/classify.py").run()  # a reviewed run of the workspace is the first training source
    assert not app.exception, app.exception
    assert coverage.sentence() in [c.value for c in app.caption]


def test_discover_shows_the_fields_of_the_chosen_method_and_flags_a_run_with_the_same_settings(workspace, banking77_subset):
    from dialin_core.config import RunConfig
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.methods.baselines import run_discovery

    with Store(workspace) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        first = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=8)).run_id
    app = open_app(workspace)
    app.switch_page("pages/discover.py").run()
    assert any(e.label == "Judge" for e in app.selectbox) and not any(e.label.startswith("k (0") for e in app.number_input)
    labelled(app.selectbox, "Method").set_value("kmeans").run()
    assert not any(e.label in ("Judge", "LLM back end", "Loop space (dialin)") for e in app.selectbox)
    labelled(app.number_input, "k (0: chosen by silhouette)").set_value(8)
    labelled(app.button, "Start the run").click().run()
    assert any(f"Run {first} already has exactly these settings" in w.value for w in app.warning)
    labelled(app.button, "Don't start it").click().run()
    assert not app.warning
    with Store(workspace) as store:
        assert store.runs()["run_id"].tolist() == [first]  # nothing started
    labelled(app.number_input, "k (0: chosen by silhouette)").set_value(6)
    labelled(app.button, "Start the run").click().run()
    assert not app.warning and not app.exception, app.exception
    second = app.session_state["run_id"]
    assert second != first and jobs.wait(workspace, second, timeout=300)
    with Store(workspace) as store:
        assert store.run(second).config.k == 6 and store.run(second).status == "finished"
    app.run()  # the finished baseline run's live view: its clusters carry no judge sample
    assert not app.exception, app.exception
    assert any(s.value == "Clusters: 6" for s in app.subheader)


def test_the_map_highlights_one_intent_keeps_colours_by_cluster_and_clips_its_axes(workspace, banking77_subset):
    from dialin_core.config import RunConfig
    from dialin_core.data.datasets import ingest_file
    from dialin_core.data.ingest import ColumnMapping
    from dialin_core.methods.baselines import run_discovery

    with Store(workspace) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        run_id = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=8)).run_id
        points = store.assignments(run_id)
    app = open_app(workspace)
    app.switch_page("pages/map.py").run()
    assert not app.exception, app.exception

    def drawn() -> dict:
        (chart,) = app.get("plotly_chart")
        return json.loads(chart.proto.spec)

    before = drawn()
    colours = before["data"][0]["marker"]["color"]
    x_range = before["layout"]["xaxis"]["range"]
    assert x_range[0] >= points["x"].min() - 0.06 * (points["x"].max() - points["x"].min())  # within the padded quantiles
    assert before["layout"]["uirevision"] == f"map-{run_id}"  # zoom survives redraws
    intent = labelled(app.selectbox, "Highlight an intent (type to search)").options[1].rsplit(" (", 1)[0]
    labelled(app.selectbox, "Highlight an intent (type to search)").set_value(intent).run()
    lit = drawn()["data"][0]["marker"]
    hovered = [c[1] for c in drawn()["data"][0]["customdata"]]
    assert {c for c, name in zip(lit["color"], hovered) if name != intent} == {"#d9d9d9"}
    assert all(c == old for c, old, name in zip(lit["color"], colours, hovered) if name == intent)
    with Store(workspace) as store:  # a decision renames nothing in the colours: they follow cluster ids
        review.rename(store, run_id, "ana", 0, "inquire-renamed")
    labelled(app.selectbox, "Highlight an intent (type to search)").set_value(None).run()
    assert drawn()["data"][0]["marker"]["color"] == colours


def test_a_damaged_workspace_file_is_a_message_on_every_page_and_another_can_be_chosen(tmp_path):
    damaged = tmp_path / "w.duckdb"
    damaged.write_bytes(b"not a database\n")
    app = open_app(damaged)
    assert not app.exception, app.exception
    assert "cannot be opened: it is not a Dial-In workspace, or it is damaged" in app.error[0].value
    app.switch_page("pages/review.py").run()
    assert not app.exception and "cannot be opened" in app.error[0].value
    app.switch_page("pages/home.py").run()
    labelled(app.text_input, "Workspace file").set_value(str(tmp_path / "fresh.duckdb")).run()
    assert not app.exception and not app.error
    assert damaged.read_bytes() == b"not a database\n"
