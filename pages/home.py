"""Home: the workspace's data sets and runs, and one click to load the bundled sample dialogues."""

from pathlib import Path

import streamlit as st

from dialin_core.datasets import ingest_file
from dialin_core.store import Store
from dialin_core.workspace import default_workspace_path

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data" / "dialogues.jsonl"

st.title("Dial-In Studio")
st.caption("Discover the intents in your customer-service conversations.")

workspace = Path(st.session_state.get("workspace", default_workspace_path()))
st.write(f"Workspace: `{workspace}`")

with Store(workspace) as store:
    if st.button("Load the sample dialogues"):
        with st.spinner("Reading and storing the sample dialogues…"):
            dataset_id = ingest_file(store, SAMPLE_DATA)
        st.success(f"Sample dialogues are data set {dataset_id}.")
    datasets = store.datasets()
    runs = store.runs()

st.subheader("Data sets")
if datasets:
    st.dataframe(
        [
            {
                "id": d.dataset_id,
                "name": d.name,
                "format": d.format,
                "dialogues": d.n_dialogues,
                "turns": d.n_turns,
                "unique utterances": d.n_utterances,
            }
            for d in datasets
        ],
        hide_index=True,
    )
else:
    st.info("No data set yet: load the sample dialogues above, or ingest a file with `python -m dialin_core ingest FILE`.")

st.subheader("Runs")
if len(runs):
    st.dataframe(runs, hide_index=True)
else:
    st.info("No discovery run yet: `python -m dialin_core discover FILE --out DIR` runs one.")
