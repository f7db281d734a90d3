"""Workspace: open a workspace, load the sample dialogues or upload transcripts, see data sets and runs."""

from pathlib import Path

import streamlit as st

from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping, Turn, csv_columns, preview_transcripts, suggest_mapping
from dialin_core.data.language import language_name
from studio.context import USER_ERRORS, attempt, literal, open_store, save_upload, workspace

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data" / "dialogues.jsonl"
NONE = "(none)"
PREVIEW_DIALOGUES = 3


@st.cache_data(show_spinner="Reading the top of the file…", max_entries=4)
def _preview(path: str, mapping: ColumnMapping | None, mask_pii: bool) -> tuple[list[Turn], bool]:
    return preview_transcripts(path, mapping, mask_pii=mask_pii)


def _show_dialogues(turns: list[Turn]) -> None:
    """Roles as chat bubbles (customer left as the user, agent as the assistant); text shown literally."""
    dialogues = list(dict.fromkeys(t.dialogue_id for t in turns))[:PREVIEW_DIALOGUES]
    for dialogue_id in dialogues:
        st.caption(f"Dialogue {literal(dialogue_id)}")
        for turn in (t for t in turns if t.dialogue_id == dialogue_id):
            with st.chat_message("assistant" if turn.role == "agent" else "user"):
                st.text(f"{turn.speaker or turn.role}: {turn.clean_text}")


def _mapping_form(path: Path) -> ColumnMapping | None:
    columns = csv_columns(path)
    guesses = suggest_mapping(columns)
    choose = lambda label, field: st.selectbox(  # noqa: E731
        label, [NONE, *columns], index=columns.index(guesses[field]) + 1 if guesses[field] else 0, key=f"map_{label}"
    )
    cells = st.columns(5)
    with cells[0]:
        text = choose("Text", "text")
    with cells[1]:
        dialogue = choose("Dialogue id", "dialogue_id")
    with cells[2]:
        turn = choose("Turn index", "turn_index")
    with cells[3]:
        speaker = choose("Speaker", "speaker")
    with cells[4]:
        label = choose("Gold label (optional)", "label")
    if text == NONE:
        st.warning("Choose the column that holds the utterances' text.")
        return None
    pick = lambda column: None if column == NONE else column  # noqa: E731
    return ColumnMapping(text=text, dialogue_id=pick(dialogue), turn_index=pick(turn), speaker=pick(speaker), label=pick(label))


st.title("Dial-In Studio")
st.caption("Discover the intents in your customer-service conversations.")

path_text = st.text_input("Workspace file", value=str(workspace()), help="One DuckDB file holds a workspace; a new path creates one.")
if path_text.strip() and path_text.strip() != str(workspace()):
    st.session_state["workspace"] = path_text.strip()
    st.session_state.pop("run_id", None)
    st.rerun()

with open_store() as store:
    if st.button("Load the sample dialogues", type="primary"):
        with st.spinner("Reading and storing the sample dialogues…"):
            dataset_id = ingest_file(store, SAMPLE_DATA)
        st.success(f"Sample dialogues are data set {dataset_id}.")

    # A section, not an expander: an expander folded itself away on the rerun that choosing a file causes.
    st.subheader("Upload transcripts")
    upload = st.file_uploader("Transcript file (CSV, JSONL dialogues, plain text)", type=["csv", "tsv", "jsonl", "json", "txt"],
                              key="transcript_upload")
    if upload is not None:
        saved = save_upload(upload)
        mask_pii = st.checkbox("Mask personal data before storing",
                               help="Emails, card, IBAN, account, phone, social security and IP numbers, dates of birth, street "
                                    "addresses and names become [KIND] placeholders in the stored text, the original included.")
        try:
            mapping = _mapping_form(saved) if saved.suffix.lower() in (".csv", ".tsv") else None
            turns, whole = _preview(str(saved), mapping, mask_pii) if mapping or saved.suffix.lower() not in (".csv", ".tsv") else ([], True)
        except USER_ERRORS as error:
            st.error(literal(error))
            turns = []
        if turns:
            counts = f"{len({t.dialogue_id for t in turns})} dialogues, {len(turns)} turns"
            st.write(f"{counts}. The first ones:" if whole else
                     f"A large file: its first {counts} read so far (the rest is read when it is stored). The first ones:")
            _show_dialogues(turns)
            if st.button("Store this data set"):
                with st.spinner("Reading and storing the file…"):
                    dataset_id = attempt(lambda: ingest_file(store, saved, mapping, mask_pii=mask_pii, name=upload.name))
                if dataset_id is not None:
                    st.success(f"{literal(upload.name)} is data set {dataset_id}.")

    datasets = store.datasets()
    if any(d.language is None for d in datasets):  # stored by an older version: detected once, then stored
        for d in datasets:
            store.dataset_language(d.dataset_id)
        datasets = store.datasets()
    runs = store.runs()

st.subheader("Data sets")
if datasets:
    st.dataframe(
        [
            {"id": d.dataset_id, "name": d.name, "format": d.format, "language": language_name(d.language), "dialogues": d.n_dialogues,
             "turns": d.n_turns, "unique utterances": d.n_utterances}
            for d in datasets
        ],
        hide_index=True,
    )
else:
    st.info("No data set yet: load the sample dialogues above, or upload a file.")

st.subheader("Runs")
if len(runs):
    st.dataframe(runs, hide_index=True)
else:
    st.info("No discovery run yet: start one on the Discover page.")
