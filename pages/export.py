"""Export: the curated data set and the judge and namer fine-tuning sets, with a data card."""

from pathlib import Path

import streamlit as st

from dialin_core.export import FORMATS, build_card, curate, judge_records, load_snapshot, namer_records, write_export
from studio.context import attempt, finished_run, open_store, workspace

st.title("Export")
with open_store() as store:
    run_id = finished_run(store, key="export_run")
    snapshot = load_snapshot(store, run_id)  # read once: the table and the card show the same state
curated = curate(snapshot)
card = build_card(snapshot, curated, judge_records(snapshot), namer_records(snapshot))

st.caption("Each utterance with its final intent; where an analyst decided, the analyst's word wins over the model's.")
st.dataframe(curated.head(200), hide_index=True, width="stretch")
st.download_button("Download utterances.csv", curated.to_csv(index=False), file_name=f"run-{run_id}-utterances.csv",
                   mime="text/csv")

with st.form("export"):
    formats = st.multiselect("Formats of the utterance table", FORMATS, default=list(FORMATS))
    folder = st.text_input("Folder", value=str(workspace().parent / "exports" / f"run-{run_id}"))
    submitted = st.form_submit_button("Export", type="primary")
if submitted:
    with st.spinner("Writing the export…"), open_store() as store:
        written = attempt(lambda: write_export(store, run_id, Path(folder), tuple(formats)))
    if written:
        st.success(f"Wrote {len(written)} files to {folder}")
        st.dataframe({"file": [str(p) for p in written]}, hide_index=True)

with st.expander("Data card", expanded=True):
    st.json(card)  # not rendered as markdown: names and sources are user text, shown literally
