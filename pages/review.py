"""Review: the clusters of a finished run, filtered and judged by the analyst; every action is a decision."""

from collections.abc import Callable

import plotly.express as px
import streamlit as st

from dialin_core import jobs, review
from dialin_core.review import UNASSIGNED, review_state
from dialin_core.role_split import derived_roles, has_speaker_roles, names_by_utterance, role_counts, splittable
from studio.context import attempt, decide, finished_run, move_or_split, open_store, require_analyst, show_current_label, workspace

st.title("Review clusters")
with open_store() as store:
    run_id = finished_run(store, key="review_run")
    state = review_state(store, run_id)
    utterances = store.assignments(run_id).set_index("utterance_id")
    decisions = store.decisions(run_id)
    speaker_roles = has_speaker_roles(store.utterances(store.run(run_id)["dataset_id"])["roles"])
analyst = require_analyst()


def start_and_watch(start: Callable[[], int]) -> None:
    """Start a run in the background and open Discover on it, where it is watched live."""
    started = attempt(start)
    if started is not None:
        st.session_state["run_id"] = started
        st.switch_page("pages/discover.py")


clusters = state.clusters.sort_values("size", ascending=False)
live = state.live_clusters()
counts = st.columns(5)
counts[0].metric("Clusters", len(live))
counts[1].metric("Approved", int((live["status"] == "approved").sum()))
counts[2].metric("Marked bad", int((live["verdict"] == "bad").sum()))
counts[3].metric("Unassigned sentences", int(clusters.loc[clusters["cluster_id"] == UNASSIGNED, "size"].sum()))
counts[4].metric("Decisions", len(review.active_decisions(decisions)))

with st.expander("Filters", expanded=False):
    cells = st.columns(4)
    contains = cells[0].text_input("Name contains")
    verdicts = cells[1].multiselect("Verdict", ["good", "bad"], default=[])
    statuses = cells[2].multiselect("Status", ["open", "approved"], default=[])
    min_size = cells[3].number_input("Minimum size", 0, 100_000, 1)
shown = clusters[clusters["size"] >= min_size]
if contains:
    shown = shown[shown["name"].fillna("").str.contains(contains, case=False, regex=False)]
if verdicts:
    shown = shown[shown["verdict"].isin(verdicts)]
if statuses:
    shown = shown[shown["status"].isin(statuses)]

label = {int(c): f"{c} · {n} ({s})" for c, n, s in zip(clusters["cluster_id"], clusters["name"].fillna("unnamed"), clusters["size"])}
table = shown[["cluster_id", "name", "size", "verdict", "probability", "status", "role", "iteration", "auto_name", "origin"]]
st.dataframe(table, hide_index=True, width="stretch",
             column_config={"probability": st.column_config.ProgressColumn("p(good)", min_value=0.0, max_value=1.0)})
sizes = px.bar(shown[shown["cluster_id"] != UNASSIGNED].head(60), x="name", y="size", color="verdict",
               color_discrete_map={"good": "#2a9d8f", "bad": "#e76f51"}, title="Cluster sizes (largest 60 shown)")
st.plotly_chart(sizes, width="stretch")

st.subheader("Bulk actions")
selected = st.multiselect("Selected clusters", shown["cluster_id"].astype(int).tolist(), format_func=label.get, key="bulk_selection")
actions = st.columns(5)
bulk = [
    ("Mark good", lambda s: review.set_verdict(s, run_id, analyst, selected, "good")),
    ("Mark bad", lambda s: review.set_verdict(s, run_id, analyst, selected, "bad")),
    ("Approve", lambda s: review.set_status(s, run_id, analyst, selected, "approved")),
    ("Reopen", lambda s: review.set_status(s, run_id, analyst, selected, "open")),
    ("Undo the last decision", lambda s: review.undo(s, run_id, analyst)),
]
for cell, (caption, action) in zip(actions, bulk):
    if cell.button(caption, key=f"bulk_{caption}"):
        decide(action, f"{caption}: done")

st.subheader("Cluster detail")
ids = shown["cluster_id"].astype(int).tolist()
if not ids:
    st.info("No cluster matches the filters.")
    st.stop()
show_current_label("detail_cluster", ids)  # a renamed cluster shows its new name in the picker
cluster_id = st.selectbox("Cluster", ids, format_func=label.get, key="detail_cluster")
cluster = state.cluster(cluster_id)
st.caption(f"Engine's name: {cluster['auto_name']} · verdict {cluster['verdict']} (engine: {cluster['auto_verdict']}) · "
           f"status {cluster['status']}")
if cluster_id != UNASSIGNED:
    with st.form("rename"):
        new_name = st.text_input("Name", value=cluster["name"] or "")
        if st.form_submit_button("Rename"):
            decide(lambda s: review.rename(s, run_id, analyst, cluster_id, new_name), f"Cluster {cluster_id} renamed")

member_ids = state.members.loc[state.members["cluster_id"] == cluster_id, "utterance_id"].tolist()
sentences = utterances.loc[member_ids, ["text", "frequency", "gold_label"]].reset_index()
st.dataframe(sentences, hide_index=True, width="stretch")
text_of = dict(zip(sentences["utterance_id"], sentences["text"]))
chosen = st.multiselect("Selected sentences", member_ids, format_func=lambda u: text_of[u][:120], key="sentence_selection")
move_or_split(run_id, analyst, chosen, {c: label[c] for c in live["cluster_id"].astype(int) if c != cluster_id})

context_of = st.selectbox("Read a sentence in its dialogue", member_ids, format_func=lambda u: text_of[u][:120], key="context_sentence")
if st.button("Show the dialogue"):
    with open_store() as store:
        turns = store.dialogue_context(run_id, context_of)
    for dialogue_id, dialogue in turns.groupby("dialogue_id", sort=False):
        st.caption(f"Dialogue {dialogue_id}")
        for turn in dialogue.itertuples():
            with st.chat_message("assistant" if turn.role == "agent" else "user"):
                st.text(("▶ " if turn.is_it else "") + f"{turn.speaker or turn.role}: {turn.text}")

st.subheader("Refine")
standing = live[(live["status"] == "approved") | (live["verdict"] == "good")]
back = int(live.loc[~live.index.isin(standing.index), "size"].sum()) + int(clusters.loc[clusters["cluster_id"] == UNASSIGNED, "size"].sum())
st.caption(f"A refined run keeps the {len(standing)} approved or good clusters as they stand now (names, moves and "
           f"merges included) and clusters the other {back} sentences again.")
if st.button("Start a refined run", disabled=back == 0):
    start_and_watch(lambda: jobs.start_refinement(workspace(), run_id))

if not speaker_roles:  # with roles from ingest, runs split customer and agent already
    st.subheader("Split by role")
    by_role = role_counts(derived_roles(names_by_utterance(state)))
    st.caption(f"This data has no speaker roles. The cluster names give {by_role['agent']} sentences to the agent "
               f"(greet-, ask-, provide-, …) and {by_role['customer']} to the customer; the other {by_role['other']} "
               "(unassigned, or named without a role verb) join the customer side. A new run clusters each side again.")
    if st.button("Split by role and re-cluster", disabled=not splittable(by_role)):
        start_and_watch(lambda: jobs.start_role_split(workspace(), run_id))

with st.expander("Decisions (audit trail)"):
    st.dataframe(decisions.drop(columns=["run_id"]), hide_index=True, width="stretch")
