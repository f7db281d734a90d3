"""Background runs: worked in a worker process, served by a thread of the process that owns the workspace;
paused, resumed, cancelled, and failed with the reason when the worker dies."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from dialin_core.config import RunConfig
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.store import Store
from dialin_core.judging.llm_judge import VERDICT_GRAMMAR
from dialin_core.llm.base import ChatResponse
from dialin_core.methods import jobs, worker
from dialin_core.methods.dialin import build_tools
from tests.fakes import ScriptedLLM, verdict_response

LLM_JUDGED = RunConfig(llm="local", judge="llm", with_map=False, max_iterations=2, n_candidates=2, max_llm_calls=400)


@pytest.fixture
def workspace(tmp_path: Path, banking77_subset: Path) -> tuple[Path, int]:
    path = tmp_path / "w.duckdb"
    with Store(path) as store:
        dataset_id = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
    return path, dataset_id


def gated_llm(gate: threading.Event) -> ScriptedLLM:
    """Every answer waits for `gate`: the test holds a run inside a step while it asks for a pause."""

    def answer(request):
        gate.wait(30)
        if request.grammar == VERDICT_GRAMMAR:
            return verdict_response(0.9)
        return ChatResponse(text=f"inquire-topic_{len(llm.requests)}")

    llm = ScriptedLLM(answer)
    return llm


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_background_run_finishes_and_a_second_one_waits_its_turn(workspace):
    path, dataset_id = workspace
    gate = threading.Event()
    llm = gated_llm(gate)
    run_id = jobs.start_run(path, dataset_id, LLM_JUDGED, lambda store, config: build_tools(store, config, backend=llm))
    wait_until(lambda: llm.requests)
    assert jobs.is_active(path, run_id) and jobs.active_run(path) == run_id
    with pytest.raises(jobs.RunBusy, match=f"run {run_id} is still working"):
        jobs.start_run(path, dataset_id, RunConfig(method="kmeans", k=8, with_map=False))
    gate.set()
    assert jobs.wait(path, run_id, timeout=120)
    with Store(path) as store:
        assert store.run_status(run_id) == "finished"
        assert {"iteration_done", "clusters_named"} <= {e["kind"] for e in store.events(run_id)}


def test_a_paused_run_stops_at_its_next_step_and_resumes_where_it_stopped(workspace):
    path, dataset_id = workspace
    gate = threading.Event()
    llm = gated_llm(gate)
    tools = lambda store, config: build_tools(store, config, backend=llm)  # noqa: E731
    run_id = jobs.start_run(path, dataset_id, LLM_JUDGED, tools)
    wait_until(lambda: llm.requests)
    assert jobs.pause_run(path, run_id)
    with Store(path) as store:
        assert store.run_status(run_id) == "pausing"
    gate.set()
    assert jobs.wait(path, run_id, timeout=60)
    with Store(path) as store:
        assert store.run_status(run_id) == "paused"
        steps_before = [(e["kind"], e.get("k")) for e in store.events(run_id)]
    assert [kind for kind, _ in steps_before] == ["space_reduced", "candidate_judged"]  # the step under way, then it stopped
    assert not jobs.pause_run(path, run_id)  # nothing running to pause

    jobs.resume_run(path, run_id, tools)
    assert jobs.wait(path, run_id, timeout=120)
    with Store(path) as store:
        assert store.run_status(run_id) == "finished"
        candidates = [(e["iteration"], e["k"]) for e in store.events(run_id) if e["kind"] == "candidate_judged"]
    assert len(candidates) == len(set(candidates))  # nothing logged twice


def test_a_run_pauses_while_naming_its_stored_clusters_and_resumes_to_the_end(workspace):
    """Past its first step a run has clusters and events that reference it: the pause must still land."""
    path, dataset_id = workspace
    gate = threading.Event()

    def answer(request):
        if request.grammar == VERDICT_GRAMMAR:
            return verdict_response(0.9)
        gate.wait(30)  # naming: the loop is over and its clusters are stored
        return ChatResponse(text=f"inquire-topic_{len(llm.requests)}")

    llm = ScriptedLLM(answer)
    tools = lambda store, config: build_tools(store, config, backend=llm)  # noqa: E731
    run_id = jobs.start_run(path, dataset_id, LLM_JUDGED, tools)
    wait_until(lambda: any(r.grammar != VERDICT_GRAMMAR for r in llm.requests))
    assert jobs.pause_run(path, run_id)
    gate.set()
    assert jobs.wait(path, run_id, timeout=60)
    with Store(path) as store:
        assert store.run_status(run_id) == "paused"
        assert len(store.clusters(run_id)) > 0 and "clusters_named" not in {e["kind"] for e in store.events(run_id)}
    jobs.resume_run(path, run_id, tools)
    assert jobs.wait(path, run_id, timeout=120)
    with Store(path) as store:
        assert store.run_status(run_id) == "finished"


def test_cancel_stops_a_run_for_good(workspace):
    path, dataset_id = workspace
    gate = threading.Event()
    llm = gated_llm(gate)
    tools = lambda store, config: build_tools(store, config, backend=llm)  # noqa: E731
    run_id = jobs.start_run(path, dataset_id, LLM_JUDGED, tools)
    wait_until(lambda: llm.requests)
    assert jobs.cancel_run(path, run_id)
    gate.set()
    assert jobs.wait(path, run_id, timeout=60)
    with Store(path) as store:
        assert store.run_status(run_id) == "cancelled"
    with pytest.raises(ValueError, match="is cancelled"):
        jobs.resume_run(path, run_id, tools)


def test_a_run_left_running_by_a_dead_server_is_resumed_and_a_requested_pause_is_honoured(workspace):
    path, dataset_id = workspace
    with Store(path) as store:
        interrupted = store.create_run(dataset_id, "dialin", RunConfig(llm="none", judge="cohesion", with_map=False).as_dict())
        pausing = store.create_run(dataset_id, "dialin", RunConfig(llm="none", judge="cohesion", with_map=False).as_dict())
        store.request_stop(pausing, "pausing")
    assert jobs.interrupted_runs(path) == [interrupted, pausing]
    assert jobs.resume_interrupted(path) == [interrupted]
    assert jobs.wait(path, interrupted, timeout=120)
    with Store(path) as store:
        assert store.run_status(interrupted) == "finished"
        assert store.run_status(pausing) == "paused"
    assert jobs.interrupted_runs(path) == []


def test_a_run_that_cannot_start_says_why_on_its_row(workspace):
    path, dataset_id = workspace
    config = RunConfig(llm="none", judge="cohesion", with_map=False, cohesion_model=str(path.parent / "missing.json"))
    run_id = jobs.start_run(path, dataset_id, config)
    assert jobs.wait(path, run_id, timeout=60)
    with Store(path) as store:
        run = store.run(run_id)
    assert run.status == "failed" and "missing.json" in run.summary["error"]


def test_a_run_is_worked_in_the_worker_process_and_pauses_and_resumes_across_its_pipe(workspace):
    path, dataset_id = workspace
    run_id = jobs.start_run(path, dataset_id, RunConfig(llm="none", judge="cohesion", with_map=False))
    assert jobs.pause_run(path, run_id)  # the request waits on the row; the worker reads it at its next step
    assert jobs.wait(path, run_id, timeout=120)
    pid = worker.worker_pid()
    assert pid is not None and pid != os.getpid()
    with Store(path) as store:
        assert store.run_status(run_id) == "paused"
    jobs.resume_run(path, run_id)
    assert jobs.wait(path, run_id, timeout=120)
    with Store(path) as store:
        run = store.run(run_id)
        assert run.status == "finished", run.summary
        assert len(store.clusters(run_id)) > 1 and len(store.assignments(run_id)) > 0
    assert worker.worker_pid() == pid  # kept warm for the next run
    assert worker.log_path(path).exists()


def test_a_killed_worker_fails_its_run_with_the_reason_and_the_next_run_gets_a_new_one(workspace):
    path, dataset_id = workspace
    with Store(path) as store:
        stored = store.dataset(dataset_id)
    run_id = jobs.start_run(path, dataset_id, RunConfig(llm="none", judge="cohesion", max_iterations=5))
    wait_until(lambda: worker.worker_pid() is not None)
    pid = worker.worker_pid()
    os.kill(pid, signal.SIGKILL)  # what a segfault in llama.cpp or numba does to the process
    killed = time.monotonic()
    assert jobs.wait(path, run_id, timeout=10)
    assert time.monotonic() - killed < 2  # the serving thread sees the pipe close at once
    with Store(path) as store:
        run = store.run(run_id)
        assert run.status == "failed" and "killed by SIGKILL" in run.summary["error"], run.summary
        assert store.dataset(dataset_id) == stored  # the workspace is whole
    again = jobs.start_run(path, dataset_id, RunConfig(llm="none", judge="cohesion", with_map=False))
    assert jobs.wait(path, again, timeout=120)
    with Store(path) as store:
        assert store.run_status(again) == "finished"
    assert worker.worker_pid() not in (None, pid)
