"""Judge: how well the cohesion judge agrees with the analyst's verdicts, and a judge re-fitted on them."""

from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from dialin_core.config import SECONDS_PER_CALL
from dialin_core.embedding.models import EMBEDDER_CHOICES, load_embedder
from dialin_core.judging.cohesion import CohesionModel, default_model_path
from dialin_core.judging.feedback import AnalystLabel, agreement, analyst_labels, refit_judge, trained_on, workspace_judges
from dialin_core.judging.llm_tuning import MIN_EXAMPLES, TUNING_SECONDS_PER_EXAMPLE, offered_judges
from dialin_core.methods import jobs
from studio.context import attempt, literal, open_store, workspace


def _judges(embedder: str) -> dict[str, Path]:
    """The shipped judge for the embedder, then the workspace's re-fitted ones, newest first."""
    found = {"shipped": default_model_path(embedder)} if default_model_path(embedder).is_file() else {}
    for path in sorted(workspace_judges(workspace()).glob(f"cohesion-{embedder}-*.json"), reverse=True):
        found[path.stem] = path
    return found


@st.cache_data(show_spinner="Reading your verdicts…", max_entries=4)
def _analyst_labels(path: str, embedder: str, reviewed: tuple[tuple[int, int], ...]) -> list[AnalystLabel]:
    """The analyst's labelled clusters, read once per state of the review: `reviewed` (each finished run and its
    decision count; decisions are only ever added) keys them, so a rerun reads nothing, and a new verdict or a new
    run reads them anew. Reading them embeds a sample of every labelled run's clusters: seconds at a million."""
    with open_store() as store:
        return analyst_labels(store, load_embedder(embedder))


st.title("Judge")
st.caption("Every verdict you set, every cluster you approve or make, is a labelled example for the cohesion judge.")
embedder = st.selectbox("Embedder", EMBEDDER_CHOICES)
with open_store() as store:
    runs = store.runs()
finished = runs[runs["status"] == "finished"]
labels = _analyst_labels(str(workspace()), embedder, tuple(zip(finished["run_id"].astype(int), finished["n_decisions"].astype(int))))
if not labels:
    st.info("No analyst verdict yet for runs with this embedder: mark clusters good or bad, or approve them, on the Review page.")
    st.stop()
MIN_VERDICTS = 25  # measured (BENCHMARKS.md, the judge learning from the analyst): kappa moves only from about 25 labels
if len(labels) < MIN_VERDICTS:
    st.warning(f"Only {len(labels)} labelled clusters: below {MIN_VERDICTS}, agreement and kappa swing with every verdict "
               "and a re-fit learns little. Keep reviewing before you trust these figures.")
st.caption("Agreement: the share of your verdicts the judge gives too. Cohen's kappa: that agreement beyond what chance "
           "would give with the same shares of good and bad (0 is chance, 1 is perfect).")
judges = _judges(embedder)
models = {name: CohesionModel.load(path) for name, path in judges.items()}
rows = [{"judge": name, **agreement(model, labels), "trained on": trained_on(model)} for name, model in models.items()]
tuned = offered_judges(workspace())
asked = jobs.llm_judging(workspace())
answered = st.session_state.setdefault("llm_judge_rows", {})  # (workspace, embedder, adapter) -> figures; asking again is free
if asked is not None and asked.result is not None:
    answered[(str(workspace()), asked.embedder, asked.llm_judge)] = asked.result
for (path, asked_embedder, adapter), result in answered.items():
    if path == str(workspace()) and asked_embedder == embedder:
        rows.append({"judge": f"LLM, {'untuned' if adapter == 'none' else 'tuned: ' + adapter} ({result['model'].split('+')[0]})",
                     **{k: result[k] for k in ("n", "n_good", "agreement", "kappa")},
                     "trained on": "nothing here: the packaged model as shipped" if adapter == "none" else tuned[adapter].describe()
                     if adapter in tuned else adapter})
st.dataframe(pd.DataFrame(rows), hide_index=True,
             column_config={"agreement": st.column_config.ProgressColumn("agreement", min_value=0.0, max_value=1.0)})
st.caption(f"{len(labels)} labelled clusters ({sum(label.good for label in labels)} good). A judge re-fitted or tuned on your "
           "verdicts is measured on the verdicts it learnt, so its figures flatter it; the shipped judges' are honest ones.")
if st.button("Re-fit the judge on these verdicts", type="primary"):
    model = attempt(lambda: refit_judge(embedder, labels))
    if model is not None:
        folder = workspace_judges(workspace())
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"cohesion-{embedder}-{datetime.now():%Y%m%d-%H%M%S}.json"
        model.save(path)
        st.session_state["flash"] = f"Saved {path.name}; choose it as the cohesion judge of your next run on the Discover page."
        st.rerun()


@st.fragment(run_every=2)
def _llm_progress() -> None:
    record = jobs.llm_judging(workspace())
    if record is None or not record.working:
        st.rerun()  # it ended: redraw the page once, with its row
    st.progress(record.done / max(record.total, 1), text=f"The LLM has judged {record.done} of {record.total or '?'} clusters")


@st.fragment(run_every=2)
def _tuning_progress() -> None:
    record = jobs.llm_tuning(workspace())
    if record is None or not record.working:
        st.rerun()
    st.progress(record.done / max(record.total, 1),
                text=f"Teaching {record.name}: {record.done} of {record.total or '?'} examples (the first minute loads the model)")


st.subheader("The local LLM as judge")
tuning = jobs.llm_tuning(workspace())
if asked is not None and asked.working:
    _llm_progress()
elif tuning is not None and tuning.working:
    _tuning_progress()
else:
    if asked is not None and asked.error and asked.embedder == embedder:
        st.error(f"The LLM could not judge: {literal(asked.error)}")
    if tuning is not None and tuning.error:
        st.error(f"The LLM judge could not be taught: {literal(tuning.error)}")
    elif tuning is not None and tuning.result is not None:
        st.success(f"{tuning.name} is taught ({tuning.result['taught']} examples, {tuning.result['seconds'] / 60:.0f} min): "
                   "ask it about your clusters below, or choose it as the LLM judge of your next run on the Discover page.")
    choices = ["none", *tuned]
    adapter = st.selectbox("LLM judge", choices, format_func=lambda n: "untuned" if n == "none" else tuned[n].describe(),
                           help="The packaged model untuned, or with a LoRA adapter: the one shipped (tuned on BANKING77 train) "
                                "or one taught your verdicts below.")
    st.caption(f"The packaged model is asked about each labelled cluster's sample, as the loop asks it: {len(labels)} calls, "
               f"about {len(labels) * SECONDS_PER_CALL['local'] / 60:.0f} min on 2 cores the first time; the answers are kept in the "
               "workspace, so asking again is free. It works in the run worker, one job at a time with runs.")
    if st.button(f"Ask the local LLM about these {len(labels)} clusters"):
        if attempt(lambda: jobs.start_llm_judging(workspace(), embedder, llm_judge=adapter)) is not None:
            st.rerun()
    st.caption(f"Teaching the LLM judge your verdicts (LoRA, on this machine's CPU) continues the shipped adapter with your "
               f"{len(labels)} labelled clusters: about {(60 + len(labels) * TUNING_SECONDS_PER_EXAMPLE) / 60:.0f} min on 2 cores. "
               f"It needs at least {MIN_EXAMPLES}. The result is kept beside the workspace as the next llm-judge-N.")
    if st.button("Teach the LLM judge these verdicts", disabled=len(labels) < MIN_EXAMPLES):
        if attempt(lambda: jobs.start_llm_tuning(workspace(), embedder)) is not None:
            st.rerun()
