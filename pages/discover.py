"""Discover: configure a run, start it in the background, and watch each iteration as it happens."""

import pandas as pd
import plotly.express as px
import streamlit as st

from dialin_core.clustering.vocabulary import LOOP_CLUSTERINGS, LOOP_SPACES
from dialin_core.config import DEFAULT_LLM_CALLS, JUDGES, K_CHOICES, LLMS, RunConfig
from dialin_core.data.language import language_name
from dialin_core.data.store import LIVE_STATUSES, RESUMABLE_STATUSES
from dialin_core.embedding.adapted import adapted_embedders, language_warning_for
from dialin_core.embedding.models import DEFAULT_EMBEDDER, EMBEDDER_CHOICES, MULTILINGUAL_EMBEDDER, SERVED_PREFIX, default_embedder
from dialin_core.judging.feedback import workspace_judges
from dialin_core.judging.llm_tuning import SHIPPED, offered_judges
from dialin_core.methods import jobs
from dialin_core.methods.progress import iterations_frame, kept_clusters, run_progress
from dialin_core.methods.registry import discovery_method, method_names
from dialin_core.naming.llm_tuning import describe as describe_namer
from dialin_core.naming.llm_tuning import offered_namers
from studio.context import attempt, choose_run, literal, open_store, workspace

POLL_SECONDS = 2.0
LABELGEN_STEP_COLUMNS = ["kind", "n_items", "n_labels", "asked_llm", "n_new_intents", "llm_calls_total", "llm_tokens_total"]


def _adapter_choice(label: str, tuned: dict[str, str], default: str, help: str) -> str:
    """A tuned LoRA adapter of the local model (judge or namer) by name: "none" (untuned), "shipped", or the
    workspace's, each shown as what it learnt."""
    choices = ["none", *tuned]
    return st.selectbox(label, choices, index=choices.index(default) if default in choices else 0, help=help,
                        format_func=lambda n: {"none": "untuned", SHIPPED: "tuned, shipped (BANKING77 train)"}.get(n, tuned.get(n, n)))


def _config_form(method: str, language: str | None) -> RunConfig | None:
    """The run's settings, only those `method` reads; None until the form is submitted with settings the
    engine accepts. Every default is RunConfig's, but the embedder's, which follows the data set's language."""
    defaults = RunConfig(method=method)
    shows = discovery_method(method).settings
    loop, labelgen, with_k, with_llm = "loop" in shows, "labelgen" in shows, "k" in shows, "llm" in shows
    fields: dict = {}
    with st.form("run_config"):
        left, middle, right = st.columns(3)
        with left:
            adapted = {a.name: a.describe() for a in adapted_embedders(workspace())}
            fields["embedder"] = st.selectbox("Embedder", [*EMBEDDER_CHOICES, *adapted, SERVED_PREFIX],
                                              format_func=lambda n: adapted.get(n, "served (openai:MODEL)" if n == SERVED_PREFIX else n),
                                              index=EMBEDDER_CHOICES.index(default_embedder(language)),
                                              help=f"The default follows the data set's language: {DEFAULT_EMBEDDER} for English, "
                                                   f"{MULTILINGUAL_EMBEDDER} for any other. adapted-N: a packaged model taught by a "
                                                   "review (Review page, Teach the embedder). served: an OpenAI-compatible "
                                                   "embedding server's model.")
            served = st.text_input("Served embedding model", placeholder="with Embedder served, e.g. bge-small-en-v1.5",
                                   help="The model an OpenAI-compatible embedding server serves, at DIALIN_OPENAI_EMBEDDINGS_BASE_URL "
                                        "or OPENAI_BASE_URL.").strip()
            if "k_bounds" in shows:
                fields["k_min"], fields["k_max"] = st.slider("k search space", 2, 300, (defaults.k_min, defaults.k_max))
            if with_k:
                fields["k"] = st.number_input("k (0: chosen by silhouette)", 0, 1000, 0) or None
            if "min_cluster_size" in shows:
                fields["min_cluster_size"] = st.number_input("Smallest cluster (HDBSCAN)", 2, 10_000, defaults.min_cluster_size)
            if loop:
                fields["loop_clustering"] = st.selectbox(
                    "Loop clustering (dialin)", LOOP_CLUSTERINGS,
                    help="ward: one hierarchical tree cut at each candidate k (the Dial-In paper's best); kmeans: a k-means fit per k.")
                fields["loop_space"] = st.selectbox(
                    "Loop space (dialin)", LOOP_SPACES, help="umap: cluster a 5-d UMAP reduction of the embeddings "
                    "(the judge still reads the full vectors); embedding: cluster the embeddings themselves.")
                fields["loop_k_choice"] = st.selectbox(
                    "k choice (dialin)", K_CHOICES, help="silhouette: the first iteration takes the centre of the "
                    "silhouette's plateau (the k within 5% of the best score), later ones keep its intent density; "
                    "ratio: the Dial-In paper's best good/bad ratio over the candidates.")
        if with_llm:
            with middle:
                fields["llm"] = st.selectbox("LLM back end", LLMS, help="local: the packaged quantized model; openai: any "
                                             "OpenAI-compatible server (OPENAI_BASE_URL).")
                fields["llm_model"] = st.text_input("LLM model", placeholder="the back end's default",
                                                    help="A packaged model name or a GGUF path for local; the served model's name for openai.").strip() or None
                if loop:
                    fields["judge"] = st.selectbox("Judge", JUDGES, help="cascade: the cohesion judge, asking the LLM about the clusters it is unsure of.")
                    refits = sorted(workspace_judges(workspace()).glob("cohesion-*.json"), reverse=True)
                    chosen = st.selectbox("Cohesion judge", [None, *refits], format_func=lambda p: p.stem if p else "shipped",
                                          help="Re-fitted on your verdicts on the Judge page.")
                    fields["cohesion_model"] = str(chosen) if chosen else None
                    fields["llm_judge"] = _adapter_choice(
                        "LLM judge (local)", {name: judge.describe() for name, judge in offered_judges(workspace()).items()},
                        defaults.llm_judge, "The LoRA adapter the local model judges with: untuned, the one shipped, or one taught "
                        "your verdicts on the Judge page (llm-judge-N). An adapter judges only data in the language it was taught on; "
                        "a cascade run on other data is judged by the cohesion judge alone.")
                    fields["llm_namer"] = _adapter_choice(
                        "LLM namer (local)", {name: describe_namer(a) for name, a in offered_namers(workspace()).items()},
                        defaults.llm_namer, "The LoRA adapter the local model names clusters with: untuned (with the prompt's "
                        "examples), the one shipped (English names), or one taught your names on the Namer page (llm-namer-N).")
        with right:
            if loop:
                fields["max_iterations"] = int(st.number_input("Max iterations", 1, 20, defaults.max_iterations))
                fields["n_candidates"] = int(st.number_input("Candidate k per iteration", 1, 10, defaults.n_candidates))
                fields["max_llm_calls"] = int(st.number_input(
                    "LLM call budget (0: the back end's default)", 0, 100_000, 0,
                    help=f"Judging and naming together. Default: {DEFAULT_LLM_CALLS['local']} for the local model (about 3 s a call "
                         f"on 2 cores: about {DEFAULT_LLM_CALLS['local'] * 3 // 60} minutes), {DEFAULT_LLM_CALLS['openai']} for a served one; "
                         f"{round(defaults.naming_share * 100)}% is kept for naming.")) or None
                fields["separate_roles"] = st.checkbox("Cluster customer and agent utterances apart", value=defaults.separate_roles)
                fields["loop_sample"] = int(st.number_input(
                    "Loop sample (utterances per role group)", 100, 1_000_000, defaults.loop_sample, step=1000,
                    help="Past this many, the loop clusters a sample spread across the dialogues and the rest join the nearest "
                         "intent (or stay unassigned when none is near). The loop's time grows with the square of it."))
                fields["keep_remainder"] = st.checkbox("Cluster what the loop leaves once more, for review", value=defaults.keep_remainder,
                                                       help="Off: it joins the nearest kept cluster when close enough, else 'outlier'.")
            if labelgen:
                fields["candidate_labels"] = int(st.number_input("Labels offered per utterance (labelgen; 0: all)", 0, 50, defaults.candidate_labels))
                fields["sure_margin"] = float(st.number_input(
                    "Sure margin (labelgen; 0: nearest label, 1: the LLM classifies every utterance)", 0.0, 1.0, defaults.sure_margin,
                    step=0.01, help="The nearest label stands without the LLM when its cosine leads the next by this much."))
                fields["min_share"] = float(st.number_input(
                    "Smallest intent, share of the utterances (labelgen)", 0.0, 0.5, defaults.min_share, step=0.001,
                    format="%.3f", help="A generated label that holds less of the utterances is dropped."))
        if loop:
            st.caption(f"A Dial-In run with the defaults costs {defaults.cost_estimate()}; with the LLM-only judge "
                       f"{RunConfig(judge='llm').cost_estimate()}.")
        submitted = st.form_submit_button("Start the run", type="primary")
    if not submitted:
        return None
    if fields["embedder"] == SERVED_PREFIX:
        if not served:
            st.error("Name the served embedding model: the Embedder served needs the model its server serves.")
            return None
        fields["embedder"] = f"{SERVED_PREFIX}{served}"
    return attempt(lambda: RunConfig(method=method, **fields))


def _same_settings(store, dataset_id: int, config: RunConfig) -> list[int]:
    """Runs of this data set stored with exactly these settings: with the same seed they find the same clusters."""
    runs = store.runs()
    return [int(r) for r in runs.loc[runs["dataset_id"] == dataset_id, "run_id"] if store.run(int(r)).config == config]


def _start(dataset_id: int, config: RunConfig) -> None:
    with st.spinner("Starting the run…"):
        run_id = attempt(lambda: jobs.start_run(workspace(), dataset_id, config))
    if run_id is not None:
        st.session_state["run_id"] = run_id
        st.success(f"Run {run_id} started; it keeps going if you close this tab. It costs {config.cost_estimate()}.")


def _controls(run_id: int, status: str) -> None:
    path = workspace()
    cells = st.columns(4)
    if status == "running":
        if cells[0].button("Pause", key="pause"):
            jobs.pause_run(path, run_id)
            st.rerun()
        if cells[1].button("Cancel", key="cancel"):
            jobs.cancel_run(path, run_id)
            st.rerun()
    elif status in RESUMABLE_STATUSES:
        if cells[0].button("Resume", key="resume", type="primary"):
            attempt(lambda: jobs.resume_run(path, run_id), f"Run {run_id} resumed")
            st.rerun()
        if cells[1].button("Cancel", key="cancel"):
            jobs.cancel_run(path, run_id)
            st.rerun()


def _watch(run_id: int, polling: bool) -> None:
    """Everything the run has written so far; reruns itself every few seconds while the run works."""
    with open_store() as store:
        progress = run_progress(store, run_id)
        kept = kept_clusters(store, run_id)
        method, steps = store.run(run_id).method, store.events(run_id)
    if polling and progress.status not in LIVE_STATUSES:
        st.rerun()  # the run ended: redraw the page once, without the timer
    detail = f" · {progress.detail}" if progress.detail else ""
    st.progress(progress.fraction, text=f"Run {run_id}: {progress.status} · {progress.phase}{detail}")
    if progress.timing:
        st.caption(progress.timing.caption())
    _controls(run_id, progress.status)
    if progress.status == "finished" and st.button(f"Review run {run_id}", icon=":material/rule:", key="review_this_run"):
        st.session_state["run_id"] = run_id
        st.switch_page("pages/review.py")
    if progress.error:
        st.error(f"The run failed: {literal(progress.error)}")
    if progress.llm_budget:
        st.caption(f"LLM calls {progress.llm_calls} of {progress.llm_budget}")
    for step in (s for s in steps if s["kind"] == "sample_drawn"):
        group = f"{step['role']} utterances" if step["role"] != "all" else "utterances"
        st.caption(f"The loop clusters a sample of {step['n_sample']:,} of {step['n_items']:,} {group}, spread across "
                   f"{step['n_dialogues']:,} dialogues; the rest join the nearest intent when it has finished.")
    for role, reason in progress.stopped:
        st.caption(f"Loop stopped ({role} utterances): {reason}" if role != "all" else f"Loop stopped: {reason}")
    if "labelgen" in discovery_method(method).settings:
        st.caption("Labelgen: labels generated over mini-batches, near-duplicates merged, every utterance classified.")
        st.dataframe(pd.DataFrame(steps).reindex(columns=LABELGEN_STEP_COLUMNS), hide_index=True)
        return
    if "loop" not in discovery_method(method).settings:  # one pass: nothing to watch until its clusters are stored
        if progress.status in LIVE_STATUSES:
            st.info("Embedding and clustering the utterances: the clusters appear here when the run has finished.")
        elif not kept.empty:
            st.subheader(f"Clusters: {len(kept)}")
            st.dataframe(kept[["cluster_id", "name", "size"]], hide_index=True)
        return
    if not _loop_steps(progress, steps):
        return
    if not kept.empty:
        st.subheader(f"Clusters kept: {len(kept)}" if progress.status == "finished" else f"Clusters kept so far: {len(kept)}")
        shown = kept.assign(samples=kept["samples"].map(lambda s: " | ".join(s[:3])))
        st.dataframe(shown[["cluster_id", "iteration", "role", "size", "verdict", "probability", "judged_by", "samples"]],
                     hide_index=True)


def _loop_steps(progress, steps: list[dict]) -> bool:
    """The Dial-In loop's candidates and iterations so far; False while it has judged none yet."""
    candidates = progress.candidates_frame()
    if candidates.empty:
        st.info("Embedding the utterances; the first candidate k appears here when it has been judged.")
        return False
    counts = candidates.melt(id_vars=["role", "iteration", "k", "chosen"], value_vars=["n_good", "n_bad"],
                             var_name="verdict", value_name="clusters")
    counts["verdict"] = counts["verdict"].map({"n_good": "good", "n_bad": "bad"})
    counts["k"] = counts["k"].astype(str) + counts["chosen"].map({True: " ✓", False: ""})
    figure = px.bar(counts, x="k", y="clusters", color="verdict", facet_col="iteration", facet_row="role",
                    barmode="group", color_discrete_map={"good": "#2a9d8f", "bad": "#e76f51"},
                    title="Good and bad clusters per candidate k (✓ chosen)")
    # Every facet has its own candidate k: its own axis, labelled (by default only the bottom row's are shown,
    # and the customer row read as if it had tried the agent row's k).
    figure.update_xaxes(matches=None, type="category", showticklabels=True)
    st.plotly_chart(figure, width="stretch")
    st.dataframe(candidates, hide_index=True)
    st.caption("Per iteration: the k it cut at, the clusters it kept, what it left for the next one.")
    st.dataframe(iterations_frame(progress.iterations), hide_index=True)
    merges = [e for e in steps if e["kind"] == "merges_proposed"]
    if merges:
        st.caption(f"Merge step: {merges[-1]['n_proposals']} proposals"
                   + (" applied (auto-merge)." if merges[-1].get("applied") else ", for you to approve on the Merges page."))
    return True


st.title("Discover intents")
with open_store() as store:
    datasets = store.datasets()
if not datasets:
    st.info("No data set yet: load the sample dialogues or upload a file on the Workspace page.")
    st.stop()
dataset_id = st.selectbox("Data set", [d.dataset_id for d in datasets], index=len(datasets) - 1,  # the newest: the one just stored
                          format_func={d.dataset_id: f"{d.dataset_id} · {d.name} ({d.n_utterances} utterances)" for d in datasets}.get)
with open_store() as store:
    language = store.dataset_language(dataset_id)
st.caption(f"Written in {language_name(language)}: the embedder and the names follow the language.")
method = st.selectbox("Method", method_names(), key="discover_method",
                      help="; ".join(f"{name}: {discovery_method(name).description}" for name in method_names())
                           + ". The form below shows what the method reads.")
config = _config_form(method, language)
if config is not None:
    with open_store() as store:
        warning = attempt(lambda: language_warning_for(store, config.embedder, language))
    if warning:
        st.warning(warning)
    with open_store() as store:
        twins = _same_settings(store, dataset_id, config)
    if twins:
        st.session_state["pending_run"] = (dataset_id, config)
    else:
        _start(dataset_id, config)
pending = st.session_state.get("pending_run")
if pending and pending[0] == dataset_id:
    with open_store() as store:
        twins = _same_settings(store, *pending)
    st.warning(f"Run {', '.join(map(str, twins))} already has exactly these settings on this data set: with the same seed "
               "a new run finds the same clusters. Review that run, or change a setting.")
    cells = st.columns(2)
    if cells[0].button("Start it anyway"):
        del st.session_state["pending_run"]
        _start(*pending)
    if cells[1].button("Don't start it"):
        del st.session_state["pending_run"]
        st.rerun()

with open_store() as store:
    run_id = choose_run(store, key="discover_run")
if run_id is None:
    st.stop()
with open_store() as store:
    live = store.run_status(run_id) in LIVE_STATUSES
st.fragment(run_every=POLL_SECONDS if live else None)(_watch)(run_id, live)
