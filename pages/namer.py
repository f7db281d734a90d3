"""Namer: the names the analyst gave, and the local LLM taught to name clusters as the analyst does."""

import streamlit as st

from dialin_core.methods import jobs
from dialin_core.naming.llm_tuning import MIN_EXAMPLES, TUNING_SECONDS_PER_EXAMPLE, analyst_name_examples, describe, offered_namers
from studio.context import attempt, literal, open_store, workspace

st.title("Namer")
st.caption("Every name you give a cluster on the Review page (a rename, a cluster you make, a merge you accept) is an example "
           "for the local LLM namer: taught them, it names the clusters of your next runs as you would.")
with st.spinner("Reading your names…"), open_store() as store:
    examples, detail = analyst_name_examples(store)
namers = offered_namers(workspace())
if namers:
    st.dataframe([{"namer": name, "learnt": describe(adapter)} for name, adapter in namers.items()], hide_index=True)
    st.caption("Choose one as the LLM namer of your next run on the Discover page. The answer loss is on named clusters held "
               "out of its training: lower is closer to the names it was taught.")


@st.fragment(run_every=2)
def _tuning_progress() -> None:
    record = jobs.llm_tuning(workspace(), "namer")
    if record is None or not record.working:
        st.rerun()
    st.progress(record.done / max(record.total, 1),
                text=f"Teaching {record.name}: {record.done} of {record.total or '?'} examples (the first minute loads the model)")


tuning = jobs.llm_tuning(workspace(), "namer")
if tuning is not None and tuning.working:
    _tuning_progress()
    st.stop()
if tuning is not None and tuning.error:
    st.error(f"The LLM namer could not be taught: {literal(tuning.error)}")
elif tuning is not None and tuning.result is not None:
    st.success(f"{tuning.name} is taught ({tuning.result['taught']} examples, {tuning.result['seconds'] / 60:.0f} min): choose it "
               "as the LLM namer of your next run on the Discover page.")
if not examples:
    st.info("No name of yours yet: rename, make or merge clusters of a finished run on the Review page.")
    st.stop()
runs = len(detail["runs"])
st.caption(f"{len(examples)} clusters carry a name you gave, in {runs} run{'' if runs == 1 else 's'}. Teaching the LLM namer (LoRA, on this "
           f"machine's CPU) continues the shipped namer with them: about {(60 + len(examples) * TUNING_SECONDS_PER_EXAMPLE) / 60:.0f} min "
           f"on 2 cores. It needs at least {MIN_EXAMPLES}. The result is kept beside the workspace as the next llm-namer-N.")
if st.button("Teach the LLM namer these names", type="primary", disabled=len(examples) < MIN_EXAMPLES):
    if attempt(lambda: jobs.start_namer_tuning(workspace())) is not None:
        st.rerun()
