"""Export: the curated data set and the judge and namer fine-tuning sets, with a data card."""

from pathlib import Path

import streamlit as st

from dialin_core.curation.export import FORMATS, Export, export_zip, load_snapshot, prepare_export, utterances_csv, write_prepared
from studio.context import attempt, finished_run, open_store, workspace

st.title("Export")
with open_store() as store:
    run_id = finished_run(store, key="export_run")
    decisions = len(store.decisions(run_id))
mask = st.toggle("Mask personal data", value=True, key="export_mask_pii",
                 help="Emails, card, IBAN, account, phone, social security and IP numbers, dates of birth, street addresses "
                      "and names become [KIND] placeholders in everything exported and downloaded here. Off: the text as "
                      "stored leaves with the export, and the data card says so.")


@st.cache_resource(show_spinner="Preparing the export (a million utterances take minutes to mask)…", max_entries=2)
def _prepared(path: str, run_id: int, decisions: int, mask: bool) -> Export:
    """The export as the run stands: read and masked once, not on every redraw; remade when a decision is
    recorded (their count keys it). Shared, never changed: every download and write reads the same."""
    with open_store() as store:
        return prepare_export(load_snapshot(store, run_id, mask))


prepared = _prepared(str(workspace()), run_id, decisions, mask)
st.caption("Each utterance with its final intent; where an analyst decided, the analyst's word wins over the model's.")
st.dataframe(prepared.utterances.head(200), hide_index=True, width="stretch")
left, right = st.columns(2)
# The files are made when a button is clicked, not on every redraw
left.download_button("Download utterances.csv", lambda: utterances_csv(prepared.utterances), file_name=f"run-{run_id}-utterances.csv",
                     mime="text/csv")
right.download_button("Download everything (zip)", lambda: export_zip(prepared), file_name=f"run-{run_id}-export.zip",
                      mime="application/zip", help="utterances in every format, judge_sft.jsonl, namer_sft.jsonl and the data card")

with st.form("export"):
    formats = st.multiselect("Formats of the utterance table", FORMATS, default=list(FORMATS))
    folder = st.text_input("Folder", value=str(workspace().parent / "exports" / f"run-{run_id}"))
    submitted = st.form_submit_button("Export", type="primary")
if submitted:
    with st.spinner("Writing the export…"):
        written = attempt(lambda: write_prepared(prepared, Path(folder), tuple(formats)))
    if written:
        st.success(f"Wrote {len(written)} files to {folder}")
        st.dataframe({"file": [str(p) for p in written]}, hide_index=True)

with st.expander("Data card", expanded=True):
    st.json(prepared.card)  # not rendered as markdown: names and sources are user text, shown literally
