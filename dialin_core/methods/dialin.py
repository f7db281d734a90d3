"""A Dial-In run over a stored data set, persisted step by step so it can be watched and resumed.

embed -> the loop per role (customer and agent utterances apart, Dial-In LLM paper, section 3.4) -> leftovers to the
nearest kept cluster or `outlier` -> names -> merge proposals -> final clusters. Every loop event is
written to `run_events` in the same transaction as the clusters it kept, so a killed process resumes
from the last finished iteration; a resumed iteration re-asks the LLM nothing, because its answers are
in the workspace's call cache. The module is long because it is the one place that knows what a Dial-In
run stores at each step and reads back on resume; the loop itself (dialin_loop) stores nothing.
"""

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from dialin_core.clustering.algorithms import NOISE, OUTLIER_NAME, loop_coordinates
from dialin_core.clustering.sampling import SAMPLERS
from dialin_core.clustering.subsample import spread_sample
from dialin_core.config import SECONDS_PER_CALL, RunConfig
from dialin_core.curation.review import merged_verdict, review_state
from dialin_core.data.language import taught_language
from dialin_core.data.store import Store
from dialin_core.embedding.adapted import check_embedder, embedder_for, judged_as
from dialin_core.embedding.embed import EMBED_BATCH, embed_texts
from dialin_core.embedding.models import Embedder, load_embedder
from dialin_core.judging.cascade import CascadeJudge, ClusterJudge, CohesionJudge, Judgement, LLMCalibration, LLMOnlyJudge, calibration_for
from dialin_core.judging.cohesion import load_cohesion_model
from dialin_core.judging.llm_judge import LLMJudge
from dialin_core.judging.llm_tuning import SHIPPED, TunedJudge, tuned_judge
from dialin_core.llm.adapters import Adapter
from dialin_core.llm.backends import open_backend
from dialin_core.llm.base import LLMBackend
from dialin_core.llm.cache import CachedLLM
from dialin_core.llm.local_backend import LocalBackend
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL
from dialin_core.methods.baselines import RunResult, assignment_table, run_summary
from dialin_core.methods.dialin_loop import (
    IterationDone,
    KeptCluster,
    LoopEvent,
    LoopSettings,
    LoopState,
    RemainderKept,
    assign_leftovers,
    dialin_loop,
)
from dialin_core.methods.progress import iterations_from_events
from dialin_core.methods.refine import StandingCluster, standing_clusters
from dialin_core.methods.registry import RunHooks
from dialin_core.methods.role_split import check_splittable, cluster_role_counts, derived_roles, names_by_utterance, role_counts
from dialin_core.naming.keywords import keyword_names
from dialin_core.naming.llm_tuning import tuned_namer
from dialin_core.naming.merge import propose_merges
from dialin_core.naming.names import LLMNamer, base_name, name_as_text, scheme_for

EventListener = Callable[[dict[str, Any]], None]
AUTO_MERGE_ANALYST = "auto-merge"
SEEDED = "seeded_from_review"
ROLES_DERIVED = "roles_derived"
EMBEDDING_LOGGED = 4096  # texts embedded between two progress events (a pause is honoured at each)
SAMPLE_DRAWN = "sample_drawn"  # a large role group's loop clusters a sample (dialin_core.clustering.subsample)
FINISHED_STEPS = (ROLES_DERIVED, SEEDED, SAMPLE_DRAWN, "iteration_done", "remainder_kept", "loop_stopped")
STOPPED_AS = {"pausing": "paused", "cancelling": "cancelled"}


class RunStopped(Exception):
    """The analyst paused or cancelled the run; `status` is where it now stands (paused or cancelled)."""

    def __init__(self, run_id: int, status: str) -> None:
        super().__init__(f"run {run_id} {status}")
        self.run_id, self.status = run_id, status


@dataclass
class Tools:
    """The injected parts of a run; `build_tools` makes the defaults the configuration names."""

    embedder: Embedder
    judge: ClusterJudge
    llm: CachedLLM | None
    # The vectors the judge reads, when not `embedder`'s: an adapted model's packaged base, whose vectors the
    # cohesion judge was trained on. Fine-tuning pulls taught clusters tight, and the base's judge reading the
    # adapted vectors calls loose clusters good (measured in bench/analyst_loop.py); the loop clusters the adapted ones.
    judge_embedder: Embedder | None = None
    # The local LLM with a tuned namer adapter, and the language of the names it was taught: it names that
    # language's clusters with the zero-shot prompt; other languages' clusters are named by `llm` as it is.
    namer_llm: CachedLLM | None = None
    namer_language: str | None = None
    # The tuned LLM judge adapter `judge` asks, the language of the clusters it was taught on, and the judge for
    # data in any other language with what it is ("cohesion" or "llm"). Taught on English clusters, the shipped
    # adapter cost ACC on Chinese in two samples of SMP2019, and the untuned packaged model's votes cost ACC on one
    # and changed nothing on the other (BENCHMARKS.md): there the cascade's cohesion judge judges alone.
    judge_adapter: str | None = None
    judge_language: str | None = None
    untaught_judge: ClusterJudge | None = None
    untaught_kind: str | None = None

    def judge_for(self, language: str | None) -> ClusterJudge:
        """The judge for data in `language`: the tuned one where it was taught on that language (or says none)."""
        if self.untaught_judge is None or self._taught(language):
            return self.judge
        return self.untaught_judge

    def judged_with(self, language: str | None) -> tuple[str | None, str | None]:
        """(the tuned adapter that judges data in `language`, or None; the kind of judge that does where it is not
        the run's configured one, or None)."""
        if self.untaught_judge is None or self._taught(language):
            return self.judge_adapter, None
        return None, self.untaught_kind

    def _taught(self, language: str | None) -> bool:
        return self.judge_language in (None, taught_language(language))


def build_tools(store: Store, config: RunConfig, embedder: Embedder | None = None, backend: LLMBackend | None = None,
                judge_embedder: Embedder | None = None) -> Tools:
    embedder = embedder or embedder_for(store, config.embedder)
    judged = judged_as(store, config.embedder, config.cohesion_model)
    if judge_embedder is None and judged != config.embedder:
        judge_embedder = load_embedder(judged)
    cohesion = CohesionJudge(load_cohesion_model(judged, config.cohesion_model))
    llm = None
    if config.llm != "none":
        llm = CachedLLM(backend or open_backend(config.llm, config.llm_model), store)
    judge: ClusterJudge = cohesion
    tuned, untaught = None, None
    if config.judge in ("llm", "cascade"):
        untuned = _llm_judge(config, cohesion, llm, calibration_for(llm.backend.model))
        tuned = None if backend is not None else judge_adapter(store, config)  # an injected back end judges as it is
        judge = untuned if tuned is None else _llm_judge(
            config, cohesion, CachedLLM(LocalBackend(config.llm_model or DEFAULT_LOCAL_MODEL, adapter=tuned.path), store, counts=llm.counts),
            LLMCalibration(*tuned.calibration))
        # data the adapter was not taught on: the cascade without the LLM's votes; asked for alone, the LLM untuned
        untaught = cohesion if config.judge == "cascade" else untuned
    namer = None if backend is not None else namer_adapter(store, config)  # an injected back end names as it is
    namer_llm = CachedLLM(LocalBackend(config.llm_model or DEFAULT_LOCAL_MODEL, adapter=namer.path), store, counts=llm.counts) \
        if namer is not None else None
    return Tools(embedder, judge, llm, judge_embedder, namer_llm=namer_llm, namer_language=namer.language if namer is not None else None,
                 judge_adapter=tuned.name if tuned is not None else None, judge_language=tuned.language if tuned is not None else None,
                 untaught_judge=untaught if tuned is not None else None,
                 untaught_kind=("cohesion" if untaught is cohesion else config.judge) if tuned is not None else None)


def _llm_judge(config: RunConfig, cohesion: CohesionJudge, llm: CachedLLM, calibration: LLMCalibration) -> ClusterJudge:
    """The judge `config.judge` names ("llm" or "cascade") asking `llm`, its votes weighed by `calibration`."""
    if config.judge == "llm":
        return LLMOnlyJudge(LLMJudge(llm), calibration)
    return CascadeJudge(cohesion, LLMJudge(llm), calibration)


def judge_adapter(store: Store, config: RunConfig) -> TunedJudge | None:
    """The tuned adapter the run's LLM judges with: the shipped one applies to the packaged model only."""
    if config.llm != "local" or config.judge == "cohesion":
        return None
    if config.llm_judge == SHIPPED and config.llm_model not in (None, DEFAULT_LOCAL_MODEL):
        return None
    return tuned_judge(None if store.path == ":memory:" else store.path, config.llm_judge)


def namer_adapter(store: Store, config: RunConfig) -> Adapter | None:
    """The tuned adapter the run's LLM names with: the shipped one applies to the packaged model only."""
    if config.llm != "local":
        return None
    if config.llm_namer == SHIPPED and config.llm_model not in (None, DEFAULT_LOCAL_MODEL):
        return None
    return tuned_namer(None if store.path == ":memory:" else store.path, config.llm_namer)


def role_partitions(roles: pd.Series, separate: bool) -> dict[str, np.ndarray]:
    """Row indices per role group: agent utterances apart from the rest when both are present."""
    is_agent = np.array(["agent" in r and "customer" not in r for r in roles])
    if separate and is_agent.any() and (~is_agent).any():
        return {"customer": np.flatnonzero(~is_agent), "agent": np.flatnonzero(is_agent)}
    return {"all": np.arange(len(roles))}


@dataclass(frozen=True)
class DialinMethod:
    """The Dial-In loop (Dial-In LLM: Human-Aligned LLM-in-the-loop Intent Clustering for Customer Service
    Dialogues): every step is stored, so a paused, failed or interrupted run goes on from its last one."""

    name: str = "dialin"
    description: str = "the LLM-in-the-loop method: cluster, judge each cluster, keep the good ones, iterate on the rest"
    settings: frozenset[str] = frozenset({"k_bounds", "llm", "loop"})
    follow_ups: frozenset[str] = frozenset({"refine_of", "roles_from"})
    resumes: bool = True
    llm_budget: bool = True

    def validate(self, config: RunConfig) -> None:
        if config.k is not None:
            raise ValueError("the dialin method chooses k itself: drop --k, or bound its search with --k-min/--k-max")
        if config.roles_from is not None and not config.separate_roles:
            raise ValueError("roles read from a run's names split a dialin run by role: use the dialin method without --no-role-split")

    def create(self, store: Store, dataset_id: int, config: RunConfig) -> int:
        return create_dialin_run(store, dataset_id, config)

    def complete(self, store: Store, run_id: int, hooks: RunHooks) -> RunResult:
        tools = hooks.tools(store, store.run(run_id).config) if hooks.tools else None
        return resume_dialin(store, run_id, tools=tools, on_event=hooks.on_event)

    def cost_estimate(self, config: RunConfig) -> str:
        if config.llm == "none":
            return "no LLM calls"
        minutes = config.llm_call_budget * SECONDS_PER_CALL[config.llm] / 60
        return (f"up to {config.llm_call_budget} LLM calls ({config.judging_calls} for judging, the rest for names): "
                f"at most about {minutes:.0f} min at {SECONDS_PER_CALL[config.llm]:g} s a call ({config.llm})")


DIALIN = DialinMethod()


def run_dialin(
    store: Store, dataset_id: int, config: RunConfig, *, tools: Tools | None = None, on_event: EventListener | None = None
) -> RunResult:
    """Start a Dial-In run on a data set and take it to the end."""
    run_id = create_dialin_run(store, dataset_id, config)
    utterances = _utterances(store, dataset_id, config)
    return _execute(store, run_id, utterances, config, tools or build_tools(store, config), on_event)


def create_refined_run(store: Store, source_run_id: int, embedder: str | None = None) -> int:
    """A new run over the same data set that keeps what the analyst let stand in a reviewed run and
    clusters the rest again (the Dial-In LLM paper's human-in-the-loop iteration); `resume_dialin` runs it.
    `embedder`: another than the reviewed run's, such as one adapted to its review."""
    dataset_id, config = _follow_up(store, source_run_id, "refined")
    return create_dialin_run(store, dataset_id, replace(config, refine_of=source_run_id, embedder=embedder or config.embedder))


def create_role_split_run(store: Store, source_run_id: int) -> int:
    """A new run over the same data set in which each sentence takes the role its cluster's name implies in
    a finished run, and each role's sentences are clustered again (Dial-In LLM paper, section 3.4, second step);
    `resume_dialin` runs it. Only for data whose ingest knew no speakers: ingest's roles split runs already."""
    dataset_id, config = _follow_up(store, source_run_id, "split by role")
    config = replace(config, refine_of=None, separate_roles=True, roles_from=source_run_id)
    if store.has_speaker_roles(dataset_id, config.roles or None):
        raise ValueError(f"the data of run {source_run_id} has speaker roles from ingest: its runs split customer and agent already")
    check_splittable(cluster_role_counts(review_state(store, source_run_id)), source_run_id)
    return create_dialin_run(store, dataset_id, config)


def _follow_up(store: Store, source_run_id: int, purpose: str) -> tuple[int, RunConfig]:
    """The data set and configuration of a finished run, as a Dial-In run that builds on it starts from them."""
    source = store.run(source_run_id)
    if source.status != "finished":
        raise ValueError(f"run {source_run_id} is {source.status}: only a finished, reviewed run can be {purpose}")
    return source.dataset_id, replace(source.config, method="dialin", k=None)


def create_dialin_run(store: Store, dataset_id: int, config: RunConfig) -> int:
    """The run's row, once the data set is known to hold enough utterances; `resume_dialin` runs it."""
    if config.method != "dialin":
        raise ValueError(f"a {config.method} run is not a Dial-In run")
    _utterances(store, dataset_id, config)
    check_embedder(store, config.embedder)
    judge_adapter(store, config)  # a tuned LLM judge or namer the workspace does not hold is refused before the run is stored
    namer_adapter(store, config)
    return store.create_run(dataset_id, config.method, config.as_dict())


def resume_dialin(
    store: Store, run_id: int, *, tools: Tools | None = None, on_event: EventListener | None = None
) -> RunResult:
    """Continue a run that was killed or failed, from its last finished iteration."""
    run = store.run(run_id)
    if run.method != "dialin":
        raise ValueError(f"run {run_id} is a {run.method} run; only dialin runs resume")
    if run.status in ("finished", "cancelled"):
        raise ValueError(f"run {run_id} is {run.status}: start a new run instead")
    config = run.config
    utterances = _utterances(store, run.dataset_id, config)
    store.mark_running(run_id)
    return _execute(store, run_id, utterances, config, tools or build_tools(store, config), on_event)


def _utterances(store: Store, dataset_id: int, config: RunConfig) -> pd.DataFrame:
    utterances = store.utterances(dataset_id, roles=config.roles or None)
    if len(utterances) < 3:
        raise ValueError(f"data set {dataset_id} has {len(utterances)} utterances to cluster; the loop needs at least 3")
    return utterances


class _Recorder:
    """Turns loop events into workspace rows and listener calls, numbering kept clusters run-wide."""

    def __init__(self, store: Store, run_id: int, utterances: pd.DataFrame, llm: CachedLLM | None, on_event: EventListener | None):
        self.store, self.run_id, self.utterances, self.llm, self.on_event = store, run_id, utterances, llm, on_event
        # Steps after the last finished iteration are redone (LLM answers replayed from the cache), so
        # their events go and their calls count again.
        store.drop_events_after(run_id, FINISHED_STEPS)
        finished = [e for e in store.events(run_id) if e["kind"] in FINISHED_STEPS]
        self.previous_calls = finished[-1]["llm_calls_total"] if finished else 0
        self.previous_tokens = finished[-1].get("llm_tokens_total", 0) if finished else 0
        stored = store.clusters(run_id)
        self.next_cluster_id = int(stored["cluster_id"].max() + 1) if len(stored) else 0

    def embedding_progress(self, model: str) -> Callable[[int, int], None]:
        """Logs the embedding's progress every EMBEDDING_LOGGED texts or so, and at its end (and honours a pause
        there), when the texts to embed span more than one batch."""
        logged = 0

        def log(done: int, total: int) -> None:
            nonlocal logged
            if total > EMBED_BATCH and (done - logged >= EMBEDDING_LOGGED or done == total):
                logged = done
                self.record({"kind": "texts_embedded", "model": model, "done": done, "total": total})

        return log

    def calls_used(self) -> int:
        """Requests this run has made, whether the model or the cache answered: a re-run spends the same."""
        return self.previous_calls + (self.llm.counts.calls + self.llm.counts.cached_calls if self.llm else 0)

    def tokens_spent(self) -> int:
        """Prompt and completion tokens the model processed for this run (cache hits cost none)."""
        counts = self.llm.counts if self.llm else None
        return self.previous_tokens + (counts.prompt_tokens + counts.completion_tokens if counts else 0)

    def record(self, payload: dict[str, Any], clusters: pd.DataFrame | None = None, assignments: pd.DataFrame | None = None) -> None:
        payload = {**payload, "llm_calls_total": self.calls_used(), "llm_tokens_total": self.tokens_spent()}
        self.store.save_step(self.run_id, payload, clusters, assignments)
        if self.on_event:
            self.on_event(payload)
        self.checkpoint()

    def checkpoint(self) -> None:
        """Stop here if the analyst asked: everything up to this step is stored, so a resume picks it up."""
        status = self.store.run_status(self.run_id)
        if status in STOPPED_AS:
            raise RunStopped(self.run_id, STOPPED_AS[status])

    def seed(self, standing: list[StandingCluster], source_run_id: int) -> None:
        """Store the clusters a reviewed run hands over as this run's first kept clusters, in one step."""
        ids = list(range(self.next_cluster_id, self.next_cluster_id + len(standing)))
        self.next_cluster_id += len(standing)
        clusters = pd.DataFrame({
            "cluster_id": ids,
            "name": [c.name for c in standing],
            "size": [len(c.members) for c in standing],
            "iteration": 0,
            "verdict": "good",
            "probability": [c.probability for c in standing],
            "role": [c.role for c in standing],
            "sample": [c.sample for c in standing],
            "evidence": [json.dumps({"probability": c.probability, "judged_by": c.judged_by, "cohesion": None, "llm": None,
                                     "k": 0, "source_cluster": c.source_id}) for c in standing],
        })
        assignments = pd.DataFrame({
            "utterance_id": [u for c in standing for u in c.members],
            "cluster_id": [cid for c, cid in zip(standing, ids) for _ in c.members],
        })
        payload = {"kind": SEEDED, "source_run": source_run_id, "n_kept": len(standing), "cluster_ids": ids,
                   "n_items": int(len(assignments))}
        self.record(payload, clusters if standing else None, assignments if standing else None)

    def loop_event(self, event: LoopEvent, role: str, rows: np.ndarray) -> None:
        if isinstance(event, (IterationDone, RemainderKept)):
            ids = list(range(self.next_cluster_id, self.next_cluster_id + len(event.kept)))
            self.next_cluster_id += len(event.kept)
            clusters, assignments = self._kept_frames(event.kept, ids, role, rows)
            payload = {"kind": event.kind, "role": role, "iteration": event.iteration, "k": event.k,
                       "n_kept": len(event.kept), "n_remaining": event.n_remaining, "cluster_ids": ids}
            if isinstance(event, IterationDone):
                payload |= {"ratio": event.ratio, "n_items": int(sum(len(c.members) for c in event.kept) + event.n_remaining)}
            else:
                payload["n_good"] = int(sum(c.judgement.good for c in event.kept))
            self.record(payload, clusters, assignments)
        else:
            self.record({**asdict(event), "role": role})

    def _kept_frames(self, kept: tuple[KeptCluster, ...], ids: list[int], role: str, rows: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        utterance_ids = self.utterances["utterance_id"].to_numpy()
        clusters = pd.DataFrame({
            "cluster_id": ids,
            "size": [len(c.members) for c in kept],
            "iteration": [c.iteration for c in kept],
            "verdict": ["good" if c.judgement.good else "bad" for c in kept],
            "probability": [c.judgement.probability for c in kept],
            "role": role,
            "sample": [utterance_ids[rows[c.sample]].tolist() for c in kept],
            "evidence": [json.dumps({**c.judgement.as_dict(), "k": c.k}) for c in kept],
        })
        assignments = pd.DataFrame({
            "utterance_id": np.concatenate([utterance_ids[rows[c.members]] for c in kept]),
            "cluster_id": np.concatenate([np.full(len(c.members), cid) for c, cid in zip(kept, ids)]),
        })
        return clusters, assignments


def _split_roles(store: Store, run_id: int, config: RunConfig, utterances: pd.DataFrame, recorder: _Recorder) -> pd.Series:
    """The roles that partition the run: ingest's, or those a finished run's names give. The latter are
    stored as the run's first step, so a resumed run splits as it started, whatever the analyst renamed since."""
    if config.roles_from is None:
        return utterances["roles"]
    stored = [e for e in store.events(run_id) if e["kind"] == ROLES_DERIVED]
    if stored:
        agents = set(stored[0]["agent_ids"])
    else:
        roles = derived_roles(names_by_utterance(review_state(store, config.roles_from)))
        agents = {u for u, role in roles.items() if role == "agent"}
        recorder.record({"kind": ROLES_DERIVED, "source_run": config.roles_from, "counts": role_counts(roles),
                         "agent_ids": sorted(agents)})
    return utterances["utterance_id"].map(lambda u: ("agent",) if int(u) in agents else ("customer",))


def _loop_samples(store: Store, run_id: int, config: RunConfig, utterances: pd.DataFrame, partitions: dict[str, np.ndarray],
                  recorder: _Recorder) -> dict[str, np.ndarray]:
    """The rows each role group's loop clusters: all of them, or past `config.loop_sample` a sample spread
    across the dialogues (seeded, so a resumed run draws the same one); the rest join the nearest intent with
    the leftovers. The clusters a refined run was seeded with stand whole, sampled or not: their members join
    the sample as kept. Each sample drawn is logged once, with its size."""
    large = {role: rows for role, rows in partitions.items() if len(rows) > config.loop_sample}
    if not large:
        return partitions
    first_dialogue = store.utterance_dialogues(store.run(run_id).dataset_id)
    # an utterance with no turn (none today) counts as a dialogue of its own
    groups = utterances["utterance_id"].map(first_dialogue).fillna(utterances["utterance_id"].astype(str)).astype(str).to_numpy()
    kept_before = utterances["utterance_id"].isin(store.cluster_members(run_id)["utterance_id"]).to_numpy()
    logged = {e["role"] for e in store.events(run_id) if e["kind"] == SAMPLE_DRAWN}
    sampled = dict(partitions)
    for role, rows in large.items():
        sampled[role] = np.union1d(rows[spread_sample(groups[rows], config.loop_sample, config.seed)], rows[kept_before[rows]])
        if role not in logged:
            recorder.record({"kind": SAMPLE_DRAWN, "role": role, "n_items": int(len(rows)), "n_sample": int(len(sampled[role])),
                             "n_dialogues": int(len(np.unique(groups[sampled[role]])))})
    return sampled


def _restored_state(store: Store, run_id: int, role: str, rows: np.ndarray, utterance_ids: np.ndarray) -> tuple[LoopState, bool]:
    """The loop state of one role group from the workspace, and whether its loop had already stopped."""
    events = [e for e in store.events(run_id) if e.get("role") == role]
    done = [e for e in events if e["kind"] == "iteration_done"]
    stored = store.clusters(run_id)
    stored = stored[stored["role"] == role]
    assigned = store.cluster_members(run_id)
    position = {int(u): i for i, u in enumerate(utterance_ids[rows])}
    kept = []
    for row in stored.itertuples():
        evidence = json.loads(row.evidence)
        members = assigned.loc[assigned["cluster_id"] == row.cluster_id, "utterance_id"]
        judgement = Judgement(evidence["probability"], evidence["judged_by"], evidence["cohesion"], evidence["llm"])
        kept.append(KeptCluster(
            np.array([position[int(u)] for u in members]), np.array([position[int(u)] for u in row.sample]),
            int(row.iteration), int(evidence["k"]), judgement,
        ))
    previous = (done[-1]["k"], done[-1]["n_items"]) if done else None
    state = LoopState(kept=kept, iteration=len(done) + 1, previous=previous)
    return state, any(e["kind"] == "loop_stopped" for e in events)


def _execute(
    store: Store, run_id: int, utterances: pd.DataFrame, config: RunConfig, tools: Tools, on_event: EventListener | None
) -> RunResult:
    started = time.perf_counter()
    try:
        status = store.run_status(run_id)
        if status in STOPPED_AS:  # a pause asked for before the work began (a cold worker loads for seconds) holds
            raise RunStopped(run_id, STOPPED_AS[status])
        texts = utterances["text"].tolist()
        recorder = _Recorder(store, run_id, utterances, tools.llm, on_event)  # before embedding: a pause is honoured there too
        vectors = embed_texts(texts, tools.embedder, store, recorder.embedding_progress(tools.embedder.name))
        judged = vectors if tools.judge_embedder is None else \
            embed_texts(texts, tools.judge_embedder, store, recorder.embedding_progress(tools.judge_embedder.name))
        utterance_ids = utterances["utterance_id"].to_numpy()
        settings = LoopSettings.of(config)
        labels = np.full(len(texts), NOISE)
        partitions = role_partitions(_split_roles(store, run_id, config, utterances, recorder), config.separate_roles)
        if config.refine_of is not None and not any(e["kind"] == SEEDED for e in store.events(run_id)):
            role_of = {int(u): role for role, rows in partitions.items() for u in utterance_ids[rows]}
            recorder.seed(standing_clusters(review_state(store, config.refine_of), role_of), config.refine_of)
        sampled = _loop_samples(store, run_id, config, utterances, partitions, recorder)
        language = store.dataset_language(store.run(run_id).dataset_id)
        for role, rows in sampled.items():
            state, stopped = _restored_state(store, run_id, role, rows, utterance_ids)
            if not stopped:
                coordinates = _loop_coordinates(store, run_id, config, vectors[rows], utterance_ids[rows], recorder)
                if coordinates is None and judged is not vectors:  # clustered where the embedder puts them, judged by the base's
                    coordinates = vectors[rows]
                loop = dialin_loop(judged[rows], [texts[i] for i in rows], tools.judge_for(language), SAMPLERS["convex"], settings,
                                   recorder.calls_used, state, coordinates)
                for event in loop:
                    recorder.loop_event(event, role, rows)
        stored = store.cluster_members(run_id)
        position = {int(u): i for i, u in enumerate(utterance_ids)}
        labels[[position[int(u)] for u in stored["utterance_id"]]] = stored["cluster_id"].to_numpy()
        for rows in partitions.values():  # a leftover only joins a cluster of its own role group
            labels[rows] = assign_leftovers(vectors[rows], labels[rows], config.leftover_min_cosine)
        recorder.record({"kind": "leftovers_assigned", "n_outliers": int((labels == NOISE).sum())})
        clusters = _final_clusters(store, run_id, labels)
        clusters = _name_clusters(clusters, texts, labels, utterances, tools, config, recorder, language)
        proposals = _merge_proposals(clusters, texts, labels, tools, store)
        if config.auto_merge and len(proposals):
            labels, clusters, proposals = _apply_merges(store, run_id, labels, clusters, proposals)
        store.save_merge_proposals(run_id, proposals)
        recorder.record({"kind": "merges_proposed", "n_proposals": int(len(proposals)), "applied": config.auto_merge})
        in_sample = None
        if any(len(sampled[role]) < len(rows) for role, rows in partitions.items()):
            in_sample = np.zeros(len(texts), dtype=bool)
            in_sample[np.concatenate(list(sampled.values()))] = True
        assignments = assignment_table(utterances, vectors, labels, clusters, config, in_sample)
        details = _details(store, run_id, tools, config, recorder, proposals, language)
        summary = run_summary(assignments, details, config, time.perf_counter() - started)
        store.finish_run(run_id, clusters=clusters, assignments=assignments, summary=summary)
    except RunStopped as stop:
        store.stop_run(run_id, stop.status)
        raise
    except BaseException as error:
        store.fail_run(run_id, f"{type(error).__name__}: {error}")
        raise
    return RunResult(run_id=run_id, assignments=assignments, clusters=clusters, summary=summary)


def _loop_coordinates(
    store: Store, run_id: int, config: RunConfig, vectors: np.ndarray, utterance_ids: np.ndarray, recorder: _Recorder
) -> np.ndarray | None:
    """Where one role group's loop clusters: its UMAP coordinates, reduced once per run and stored, so a
    resumed run clusters the same points (UMAP is not bit-for-bit repeatable across processes)."""
    stored = store.coordinates(run_id, utterance_ids.tolist())
    if stored is not None:
        return stored
    started = time.perf_counter()
    coordinates = loop_coordinates(vectors, config.loop_space, config.loop_dimensions, config.seed)
    if coordinates is None:
        return None
    store.save_coordinates(run_id, utterance_ids.tolist(), coordinates)
    recorder.record({"kind": "space_reduced", "n_items": int(len(vectors)), "dimensions": int(coordinates.shape[1]),
                     "seconds": round(time.perf_counter() - started, 2)})
    return coordinates


def _final_clusters(store: Store, run_id: int, labels: np.ndarray) -> pd.DataFrame:
    """The kept clusters with their sizes after leftovers joined them, plus the outlier row if any."""
    clusters = store.clusters(run_id)
    ids, sizes = np.unique(labels, return_counts=True)
    size_of = dict(zip(ids.tolist(), sizes.tolist()))
    clusters["size"] = clusters["cluster_id"].map(size_of).fillna(0).astype(int)
    if NOISE in size_of:
        outlier = pd.DataFrame({"cluster_id": [NOISE], "size": [size_of[NOISE]], "verdict": [None], "role": [None]})
        clusters = pd.concat([clusters, outlier], ignore_index=True)
    return clusters


def _name_clusters(
    clusters: pd.DataFrame, texts: list[str], labels: np.ndarray, utterances: pd.DataFrame, tools: Tools,
    config: RunConfig, recorder: _Recorder, language: str | None = "en",
) -> pd.DataFrame:
    """LLM names in the data's language, largest clusters first, while the run's call budget lasts; keyword names
    after that. Clusters that came named from a reviewed run keep their names."""
    fallback = keyword_names(texts, labels.tolist(), language=language)
    position = {int(u): i for i, u in enumerate(utterances["utterance_id"])}
    scheme = scheme_for(language)
    tuned = tools.namer_llm is not None and tools.namer_language == scheme.language
    namer = LLMNamer(tools.namer_llm, few_shot=False, scheme=scheme) if tuned else LLMNamer(tools.llm, scheme=scheme) if tools.llm else None
    names: dict[int, str] = {NOISE: OUTLIER_NAME}
    taken: set[str] = set(clusters["name"].dropna())
    to_name = int(((clusters["cluster_id"] != NOISE) & clusters["name"].isna()).sum()) if namer else 0
    named = 0
    for row in clusters.sort_values("size", ascending=False).itertuples():
        if row.cluster_id == NOISE:
            continue
        recorder.checkpoint()
        if isinstance(row.name, str):
            names[row.cluster_id] = row.name
        elif namer and recorder.calls_used() < config.llm_call_budget:
            sample = [texts[position[int(u)]] for u in row.sample]
            names[row.cluster_id] = namer.name(sample, taken)
            named += 1  # each name is an event, so the live view counts them and times the rest
            recorder.record({"kind": "cluster_named", "n_named": named, "n_to_name": to_name})
        else:
            names[row.cluster_id] = fallback[row.cluster_id]
        taken.add(names[row.cluster_id])
    recorder.record({"kind": "clusters_named", "n_named": len(names) - 1})
    return clusters.assign(name=clusters["cluster_id"].map(names))


def _merge_proposals(clusters: pd.DataFrame, texts: list[str], labels: np.ndarray, tools: Tools, store: Store) -> pd.DataFrame:
    """Clusters whose names share a base name, or whose base names pass the geodesic + vMF test.

    The vMF test runs over distinct base names: a small namer that gives one name to many clusters
    (`request-refund`, `request-refund_2`, ...) would otherwise split the posterior among identical
    components and no pair would pass, although those clusters plainly carry one label.
    """
    named = clusters[clusters["cluster_id"] != NOISE].reset_index(drop=True)
    columns = ["proposal_id", "cluster_ids", "evidence", "status", "merged_name"]
    name_of = dict(zip(named["cluster_id"], named["name"]))
    size_of = dict(zip(named["cluster_id"], named["size"]))
    groups: dict[str, list[int]] = {}
    for cluster_id, name in name_of.items():
        groups.setdefault(base_name(name), []).append(int(cluster_id))
    bases = sorted(groups)
    representative = {b: max(groups[b], key=lambda c: size_of[c]) for b in bases}
    base_of = {representative[b]: b for b in bases}
    by_name = []
    if len(bases) >= 2:
        name_vectors = embed_texts([name_as_text(b) for b in bases], tools.embedder, store)
        by_name = propose_merges([representative[b] for b in bases], name_vectors)
    linked = [([base_of[c] for c in p.cluster_ids], p.edges) for p in by_name]
    covered = {b for members, _ in linked for b in members}
    linked += [([b], ()) for b in bases if b not in covered and len(groups[b]) > 1]
    rows = []
    for i, (members, edges) in enumerate(linked):
        cluster_ids = sorted(c for b in members for c in groups[b])
        largest = max(cluster_ids, key=lambda c: size_of[c])
        evidence = {
            "names": {str(c): name_of[c] for c in cluster_ids},
            "sizes": {str(c): int(size_of[c]) for c in cluster_ids},
            "same_name": {b: groups[b] for b in members if len(groups[b]) > 1},
            "edges": [asdict(e) for e in edges],
            "samples": {str(c): [texts[j] for j in np.flatnonzero(labels == c)[:3]] for c in cluster_ids},
        }
        rows.append([i, cluster_ids, json.dumps(evidence), "proposed", base_name(name_of[largest])])
    return pd.DataFrame(rows, columns=columns)


def _apply_merges(
    store: Store, run_id: int, labels: np.ndarray, clusters: pd.DataFrame, proposals: pd.DataFrame
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Fold each proposal into its largest cluster, which keeps its name; logged as decisions."""
    labels = labels.copy()
    size_of = dict(zip(clusters["cluster_id"], clusters["size"]))
    verdict_of = dict(zip(clusters["cluster_id"], clusters["verdict"]))
    dropped: set[int] = set()
    for proposal in proposals.itertuples():
        keeper = max(proposal.cluster_ids, key=lambda c: size_of[c])
        others = [int(c) for c in proposal.cluster_ids if c != keeper]
        labels[np.isin(labels, others)] = keeper
        dropped.update(others)
        verdict_of[keeper] = merged_verdict([verdict_of[c] for c in proposal.cluster_ids])
        store.record_decision(
            run_id, analyst=AUTO_MERGE_ANALYST, action="accept_merge", target=f"proposal:{proposal.proposal_id}",
            before={"cluster_ids": [int(c) for c in proposal.cluster_ids]}, after={"cluster_id": int(keeper), "name": proposal.merged_name},
        )
    clusters = clusters[~clusters["cluster_id"].isin(dropped)].copy()
    clusters["verdict"] = clusters["cluster_id"].map(verdict_of)
    ids, sizes = np.unique(labels, return_counts=True)
    clusters["size"] = clusters["cluster_id"].map(dict(zip(ids.tolist(), sizes.tolist()))).astype(int)
    return labels, clusters.reset_index(drop=True), proposals.assign(status="accepted")


def _details(
    store: Store, run_id: int, tools: Tools, config: RunConfig, recorder: _Recorder, proposals: pd.DataFrame, language: str | None
) -> dict[str, Any]:
    """What the summary adds for a Dial-In run: the loop's log, LLM use, merges.

    Goodness is not among them: scored by the loop's own judge it would grade the loop by its own rule, so it
    is scored on demand by another judge (`dialin_core.evaluation.goodness`)."""
    events = store.events(run_id)
    iterations = iterations_from_events(events)
    counts = tools.llm.counts.as_dict() if tools.llm else {}
    adapter, untaught_kind = tools.judged_with(language)
    return {
        "judge": config.judge,
        "llm": config.llm,
        "llm_model": getattr(tools.llm.backend, "model", None) if tools.llm else None,
        "judge_used": untaught_kind or config.judge,  # the cohesion judge alone where the tuned one reads not
        "llm_judge_adapter": adapter,
        "llm_namer_model": tools.namer_llm.backend.model if tools.namer_llm else None,
        "llm_prompts_pii_masked": bool(getattr(tools.llm.backend, "masks_pii", False)) if tools.llm else None,
        # A served embedder's texts leave the machine too; None for an embedder that runs here.
        "embedder_texts_pii_masked": getattr(tools.embedder, "masks_pii", None),
        "llm_calls": recorder.calls_used(),
        "llm_tokens": recorder.tokens_spent(),
        "llm_counts_this_session": counts,
        "iterations": iterations,
        "stopped": [e["reason"] for e in events if e["kind"] == "loop_stopped"],
        "merge_proposals": int(len(proposals)),
        "merges_applied": bool(config.auto_merge),
    }
