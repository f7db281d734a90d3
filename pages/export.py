"""Export: the curated data set and the judge and namer fine-tuning sets, with a data card."""

from pathlib import Path

import streamlit as st

from dialin_core.curation.export import (
    FORMATS,
    build_card,
    curate,
    export_zip,
    judge_records,
    load_snapshot,
    namer_records,
    utterances_csv,
    write_export,
)
from studio.context import attempt, finished_run, open_store, workspace

st.title("Export")
with open_store() as store:
    run_id = finished_run(store, key="export_run")
mask = st.toggle("Mask personal data", value=True, key="export_mask_pii",
                 help="Emails, card, IBAN, account, phone, social security and IP numbers, dates of birth, street addresses "
                      "and names become [KIND] placeholders in everything exported and downloaded here. Off: the text as "
                      "stored leaves with the export, and the data card says so.")
with open_store() as store:
    snapshot = load_snapshot(store, run_id, mask)  # read once: the table and the card show the same state
curated = curate(snapshot)
card = build_card(snapshot, curated, judge_records(snapshot), namer_records(snapshot))

st.caption("Each utterance with its final intent; where an analyst decided, the analyst's word wins over the model's.")
st.dataframe(curated.head(200), hide_index=True, width="stretch")
left, right = st.columns(2)
left.download_button("Download utterances.csv", utterances_csv(curated), file_name=f"run-{run_id}-utterances.csv",
                     mime="text/csv")


@st.cache_data(show_spinner="Packing the export…", max_entries=4)
def _zipped(path: str, run_id: int, decisions: int, mask: bool) -> bytes:
    """The whole export as one archive; rebuilt when the run's decisions change (their count keys the cache)."""
    with open_store() as store:
        return export_zip(store, run_id, mask_pii=mask)


right.download_button("Download everything (zip)", _zipped(str(workspace()), run_id, len(snapshot.decisions), mask),
                      file_name=f"run-{run_id}-export.zip", mime="application/zip",
                      help="utterances in every format, judge_sft.jsonl, namer_sft.jsonl and the data card")

with st.form("export"):
    formats = st.multiselect("Formats of the utterance table", FORMATS, default=list(FORMATS))
    folder = st.text_input("Folder", value=str(workspace().parent / "exports" / f"run-{run_id}"))
    submitted = st.form_submit_button("Export", type="primary")
if submitted:
    with st.spinner("Writing the export…"), open_store() as store:
        written = attempt(lambda: write_export(store, run_id, Path(folder), tuple(formats), mask))
    if written:
        st.success(f"Wrote {len(written)} files to {folder}")
        st.dataframe({"file": [str(p) for p in written]}, hide_index=True)

with st.expander("Data card", expanded=True):
    st.json(card)  # not rendered as markdown: names and sources are user text, shown literally
