"""Export: the curated data set and the judge and namer fine-tuning sets, with a data card."""

from pathlib import Path

import streamlit as st

from dialin_core.curation.export import (
    FORMATS, Export, export_zip, load_snapshot, masked, prepare_export, utterances_csv, write_prepared,
)
from dialin_core.data.store import Store
from studio.background import Background
from studio.context import attempt, finished_run, open_store, workspace

PAGE_WAIT_SECONDS = 1.0  # a small run's export is shown at once; a large one's preparation is watched

st.title("Export")
with open_store() as store:
    run_id = finished_run(store, key="export_run")
    decisions = len(store.decisions(run_id))
mask = st.toggle("Mask personal data", value=True, key="export_mask_pii",
                 help="Emails, card, IBAN, account, phone, social security and IP numbers, dates of birth, street addresses "
                      "and names become [KIND] placeholders in everything exported and downloaded here. Off: the text as "
                      "stored leaves with the export, and the data card says so.")


@st.cache_resource(show_spinner=False, max_entries=2)
def _preparation(path: str, run_id: int, decisions: int, mask: bool) -> Background[Export]:
    """The export as the run stands, prepared once on a thread of the server, not on every redraw; remade when a
    decision is recorded (their count keys it). The run is read in a few seconds and the workspace let go; masking
    a million texts takes a minute or more, shown as it goes. Shared, never changed: every download reads the same."""
    def work(on_progress) -> Export:
        with Store(path) as store:
            snapshot = load_snapshot(store, run_id, mask_pii=False)
        return prepare_export(masked(snapshot, on_progress) if mask else snapshot)
    return Background(work)


preparation = _preparation(str(workspace()), run_id, decisions, mask)
if not preparation.finished(wait=PAGE_WAIT_SECONDS):
    @st.fragment(run_every=1.0)
    def _progress() -> None:
        if preparation.finished():
            st.rerun()
        done, total = preparation.done, preparation.total
        st.progress(done / total if total else 0.0,
                    text=f"Masking personal data: {done:,} of {total:,} sentences" if total else "Reading the run…")
    _progress()
    st.stop()
if preparation.error is not None:
    _preparation.clear()  # not kept: a busy workspace or a failed read is tried again on the next draw
prepared = attempt(preparation.outcome)
if prepared is None:
    st.stop()
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
