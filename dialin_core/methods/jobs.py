"""Runs in the background of the process that owns a workspace: a thread per run, serving its worker.

DuckDB lets one process open a workspace file at a time, but any number of connections inside that
process, so the studio's server owns the file. Each run's computing happens in a worker process
(dialin_core.methods.worker), so a native crash fails the run and spares the server; a thread of the server
makes the run's calls on the workspace for it. A run writes each step to the workspace as it goes; the
browser only reads. Closing or refreshing a tab leaves the run working; a killed server leaves the run
marked `running` with nothing behind it, which this module calls interrupted and resumes from its last
stored step. Pause and cancel are requests written to the
run's row; the worker honours them at its next step. Teaching an embedder from a review is such a
background job in the worker too, and one job works at a time: on two cores a run and a training only slow each other.
"""

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialin_core.config import RunConfig
from dialin_core.data.store import LIVE_STATUSES, RESUMABLE_STATUSES, Store
from dialin_core.embedding.adapted import PARTIAL, embedders_folder, next_name, teachable_pairs
from dialin_core.judging.llm_tuning import next_judge_path
from dialin_core.naming.llm_tuning import next_namer_path
from dialin_core.methods.dialin import Tools, create_refined_run, create_role_split_run
from dialin_core.methods.registry import RunHooks, discovery_method
from dialin_core.methods.worker import JobFailed, complete_run, do_in_worker, work_in_worker

ToolsFactory = Callable[[Store, RunConfig], Tools]

# Runs given no tools factory are worked in the worker process. A test that replaces a model inside this
# process (monkeypatch) sets this False, so that its runs are worked in their threads, where the replacement is.
RUNS_IN_WORKER = True
_threads: dict[tuple[str, int], threading.Thread] = {}
_guard = threading.Lock()


@dataclass(kw_only=True)
class WorkerJob:
    """A job the worker does for a page, which polls this record; the serving thread fills it in."""

    result: Any = None  # what the job returned
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def working(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


@dataclass
class Training(WorkerJob):
    """An embedder being taught from a reviewed run; its result is the AdaptedEmbedder."""

    name: str
    run_id: int
    pairs: int
    steps_done: int = 0
    steps: int = 0


_trainings: dict[str, Training] = {}  # workspace -> its latest training


@dataclass
class LLMJudging(WorkerJob):
    """The LLM asked about the analyst's labelled clusters; its result is agreement_of's figures and the model's name."""

    embedder: str
    llm: str
    model: str | None
    llm_judge: str = "none"  # the tuned adapter it judged with (dialin_core.judging.llm_tuning), "none" untuned
    done: int = 0
    total: int = 0


_judgings: dict[str, LLMJudging] = {}  # workspace -> its latest LLM judging


@dataclass
class LLMTuning(WorkerJob):
    """The local LLM being taught to judge (the analyst's verdicts) or to name (the analyst's names); its result
    is the tuned adapter's record."""

    name: str  # the workspace's next llm-judge-N or llm-namer-N, which it will be kept as
    task: str = "judge"  # or "namer"
    embedder: str | None = None  # whose runs' verdicts a judge learns
    done: int = 0  # examples trained on (then held-out ones scored)
    total: int = 0


_tunings: dict[tuple[str, str], LLMTuning] = {}  # (workspace, task) -> its latest LLM tuning


class RunBusy(ValueError):
    """A second run was asked for while one is working: on two cores they would only slow each other."""


def _key(workspace: str | Path, run_id: int) -> tuple[str, int]:
    return str(Path(workspace).resolve()), run_id


def is_active(workspace: str | Path, run_id: int) -> bool:
    thread = _threads.get(_key(workspace, run_id))
    return thread is not None and thread.is_alive()


def active_run(workspace: str | Path) -> int | None:
    root = str(Path(workspace).resolve())
    for (path, run_id), thread in list(_threads.items()):
        if path == root and thread.is_alive():
            return run_id
    return None


def start_run(workspace: str | Path, dataset_id: int, config: RunConfig, tools: ToolsFactory | None = None) -> int:
    """Create the run now (so the caller can show it) and work it in a thread; returns its id."""
    method = discovery_method(config.method)
    return _start(workspace, lambda store: method.create(store, dataset_id, config), tools)


def start_refinement(workspace: str | Path, source_run_id: int, tools: ToolsFactory | None = None, embedder: str | None = None) -> int:
    """A new run that keeps what the analyst let stand in a reviewed run and re-clusters the rest (with
    `embedder`, such as one taught by that review, instead of the run's own)."""
    return _start(workspace, lambda store: create_refined_run(store, source_run_id, embedder), tools)


def start_role_split(workspace: str | Path, source_run_id: int, tools: ToolsFactory | None = None) -> int:
    """A new run that splits sentences by the role their cluster names imply and re-clusters each side."""
    return _start(workspace, lambda store: create_role_split_run(store, source_run_id), tools)


def _start(workspace: str | Path, create: Callable[[Store], int], tools: ToolsFactory | None) -> int:
    with _guard:
        _refuse_if_busy(workspace)
        with Store(workspace) as store:
            run_id = create(store)
        _launch(workspace, run_id, tools)
    return run_id


def resume_run(workspace: str | Path, run_id: int, tools: ToolsFactory | None = None) -> None:
    """Continue a paused, failed or interrupted run: from its last stored step when its method resumes, else
    from the start (a run the server died under)."""
    with _guard:
        _refuse_if_busy(workspace)
        with Store(workspace) as store:
            run = store.run(run_id)
            if not discovery_method(run.method).resumes and run.status not in LIVE_STATUSES:
                raise ValueError(f"run {run_id} is a {run.method} run: start a new one instead")
            if run.status not in RESUMABLE_STATUSES + LIVE_STATUSES:
                raise ValueError(f"run {run_id} is {run.status}: only a paused, failed or interrupted run resumes")
            store.mark_running(run_id)
        _launch(workspace, run_id, tools)


def pause_run(workspace: str | Path, run_id: int) -> bool:
    with Store(workspace) as store:
        return store.request_stop(run_id, "pausing")


def cancel_run(workspace: str | Path, run_id: int) -> bool:
    """A working run stops at its next step; a paused or failed one is cancelled at once."""
    with Store(workspace) as store:
        if store.request_stop(run_id, "cancelling"):
            return True
        if store.run_status(run_id) in RESUMABLE_STATUSES:
            store.stop_run(run_id, "cancelled")
            return True
        return False


def interrupted_runs(workspace: str | Path) -> list[int]:
    """Runs the workspace says are working but no thread of this process works: the server died under them."""
    with Store(workspace) as store:
        runs = store.runs()
    live = runs[runs["status"].isin(LIVE_STATUSES)]
    return [int(r) for r in live["run_id"] if not is_active(workspace, int(r))]


def resume_interrupted(workspace: str | Path, tools: ToolsFactory | None = None) -> list[int]:
    """What a restarted server does first: a pause or cancel that was asked for is honoured, and the most
    recent interrupted run resumes (older ones wait as paused, since only one run works at a time)."""
    resumed: list[int] = []
    interrupted = interrupted_runs(workspace)
    with Store(workspace) as store:
        for run_id in interrupted:
            status = store.run_status(run_id)
            if status != "running" or resumed or active_run(workspace) is not None:
                store.stop_run(run_id, "cancelled" if status == "cancelling" else "paused")
                continue
            resumed.append(run_id)
    for run_id in resumed:
        resume_run(workspace, run_id, tools)
    return resumed


def wait(workspace: str | Path, run_id: int, timeout: float | None = None) -> bool:
    """Block until the run's thread ends (a CLI or a test that started it); False on timeout."""
    thread = _threads.get(_key(workspace, run_id))
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def _refuse_if_busy(workspace: str | Path) -> None:
    busy = active_run(workspace)
    if busy is not None:
        raise RunBusy(f"run {busy} is still working: pause or cancel it, or wait for it to finish")
    judging = llm_judging(workspace)
    if judging is not None and judging.working:
        raise RunBusy(f"the LLM is judging your labelled clusters ({judging.done} of {judging.total or '?'}): wait for it to finish")
    taught = training(workspace)
    if taught is not None and taught.working:
        raise RunBusy(f"the embedder {taught.name} is being taught ({taught.steps_done} of {taught.steps or '?'} steps): "
                      "wait for it to finish")
    for task in ("judge", "namer"):
        tuning = llm_tuning(workspace, task)
        if tuning is not None and tuning.working:
            raise RunBusy(f"the LLM {task} {tuning.name} is being taught ({tuning.done} of {tuning.total or '?'} examples): "
                          "wait for it to finish")


def training(workspace: str | Path) -> Training | None:
    """The latest embedder training this process started for the workspace, working or ended."""
    return _trainings.get(str(Path(workspace).resolve()))


def start_teaching(workspace: str | Path, run_id: int) -> Training:
    """Teach the run's embedder what its review says, in a thread (dialin_core.embedding.adapted); the returned
    record fills in as it trains. Refused at once, with the reason, when the review teaches too little."""
    with _guard:
        _refuse_if_busy(workspace)
        with Store(workspace) as store:
            pairs = teachable_pairs(store, run_id)
            name = next_name(store)
        folder = embedders_folder(workspace)
        for stale in folder.glob(f"*{PARTIAL}") if folder.is_dir() else []:  # a server killed mid-training left it
            shutil.rmtree(stale, ignore_errors=True)
        record = Training(name=name, run_id=run_id, pairs=len(pairs))

        def progress(done: int, steps: int) -> None:
            record.steps_done, record.steps = done, steps

        # torch trains in the worker: a crash there fails the training, not the studio
        record.thread = _job_thread(record, f"dialin-teach-{name}", workspace, "dialin_core.embedding.adapted:adapt_embedder",
                                    (run_id,), progress, {"name": name, "pairs": pairs})
        _trainings[str(Path(workspace).resolve())] = record
        record.thread.start()
    return record


def llm_judging(workspace: str | Path) -> LLMJudging | None:
    """The latest LLM judging this process started for the workspace, working or ended."""
    return _judgings.get(str(Path(workspace).resolve()))


def start_llm_judging(workspace: str | Path, embedder: str, llm: str = "local", model: str | None = None,
                      llm_judge: str = "none") -> LLMJudging:
    """Ask the LLM (untuned, or with the tuned adapter `llm_judge`) about every cluster the analyst labelled in
    `embedder`'s runs, in the worker (dialin_core.judging.feedback.llm_judge_agreement); the returned record fills
    in as the answers come."""
    with _guard:
        _refuse_if_busy(workspace)
        record = LLMJudging(embedder=embedder, llm=llm, model=model, llm_judge=llm_judge)

        def progress(done: int, total: int) -> None:
            record.done, record.total = done, total

        record.thread = _job_thread(record, "dialin-llm-judging", workspace, "dialin_core.judging.feedback:llm_judge_agreement",
                                    (embedder, llm, model), progress, {"llm_judge": llm_judge})
        _judgings[str(Path(workspace).resolve())] = record
        record.thread.start()
    return record


def llm_tuning(workspace: str | Path, task: str = "judge") -> LLMTuning | None:
    """The latest tuning of the LLM judge (or namer) this process started for the workspace, working or ended."""
    return _tunings.get((str(Path(workspace).resolve()), task))


def start_llm_tuning(workspace: str | Path, embedder: str) -> LLMTuning:
    """Teach the local LLM judge the analyst's verdicts on `embedder`'s runs, continuing the shipped adapter, in the
    worker (dialin_core.judging.llm_tuning.tune_workspace_judge); the returned record fills in as it trains."""
    return _start_tuning(workspace, LLMTuning(name=next_judge_path(workspace).stem, embedder=embedder),
                         "dialin_core.judging.llm_tuning:tune_workspace_judge", (embedder,))


def start_namer_tuning(workspace: str | Path) -> LLMTuning:
    """Teach the local LLM namer the names the analyst gave, continuing the shipped adapter, in the worker
    (dialin_core.naming.llm_tuning.tune_workspace_namer); the returned record fills in as it trains."""
    return _start_tuning(workspace, LLMTuning(name=next_namer_path(workspace).stem, task="namer"),
                         "dialin_core.naming.llm_tuning:tune_workspace_namer", ())


def _start_tuning(workspace: str | Path, record: LLMTuning, function: str, args: tuple) -> LLMTuning:
    with _guard:
        _refuse_if_busy(workspace)

        def progress(done: int, total: int) -> None:
            record.done, record.total = done, total

        record.thread = _job_thread(record, f"dialin-tune-{record.name}", workspace, function, args, progress)
        _tunings[(str(Path(workspace).resolve()), record.task)] = record
        record.thread.start()
    return record


def _job_thread(record: WorkerJob, name: str, workspace: str | Path, function: str, args: tuple,
                progress: Callable[[int, int], None], keywords: dict[str, Any] | None = None) -> threading.Thread:
    """A thread (not started) that has the worker do `function` for `record`: the result goes to `record.result`,
    a failure to `record.error`, for the page that polls it."""
    def work() -> None:
        try:
            record.result = do_in_worker(workspace, function, args, progress, keywords)
        except JobFailed as error:
            record.error = str(error)

    return threading.Thread(target=work, name=name, daemon=True)


def _launch(workspace: str | Path, run_id: int, tools: ToolsFactory | None) -> None:
    """A run with the real models is worked in the worker process, served by this thread; a tools factory is
    an object of this process (a test's scripted LLM), so a run given one is worked in the thread itself."""
    if tools is None and RUNS_IN_WORKER:
        target, args = work_in_worker, (Path(workspace), run_id)
    else:
        target, args = _work, (Path(workspace), run_id, tools)
    thread = threading.Thread(target=target, args=args, name=f"dialin-run-{run_id}", daemon=True)
    _threads[_key(workspace, run_id)] = thread
    thread.start()


def _work(workspace: Path, run_id: int, tools: ToolsFactory | None) -> None:
    """The body of a run worked in its thread; it ends quietly, its row says how the run ended."""
    with Store(workspace) as store:
        complete_run(store, run_id, RunHooks(tools=tools))
