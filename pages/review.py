"""Review: the clusters of a finished run, read and judged at labelling-tool speed; every action is a decision."""

import json
from collections.abc import Callable

import plotly.express as px
import streamlit as st

from dialin_core.curation import review
from dialin_core.curation.audit import run_audit_trail
from dialin_core.curation.review import UNASSIGNED, review_state
from dialin_core.embedding.adapted import adapted_embedders, judged_as
from dialin_core.methods import jobs
from dialin_core.methods.role_split import cluster_role_counts, splittable
from studio.context import (
    analyst_or_read_only,
    attempt,
    decide,
    finished_run,
    literal,
    move_or_split,
    open_store,
    show_current_label,
    ticked_rows,
    workspace,
)

SENTENCES_PER_PAGE = 2_000
SEARCH_HITS_SHOWN = 500

st.title("Review clusters")
with open_store() as store:
    run_id = finished_run(store, key="review_run")
    decisions = store.decisions(run_id)
    state = review_state(store, run_id, decisions)
    trail = run_audit_trail(store, run_id, state, decisions)
    engine_size = store.clusters(run_id).set_index("cluster_id")["size"]
    speaker_roles = store.has_speaker_roles(store.run(run_id).dataset_id)
    run_embedder = store.run(run_id).config.embedder
    judged_base = attempt(lambda: judged_as(store, run_embedder)) or run_embedder
analyst = analyst_or_read_only()
read_only = not analyst


def start_and_watch(start: Callable[[], int]) -> None:
    """Start a run in the background and open Discover on it, where it is watched live."""
    started = attempt(start)
    if started is not None:
        st.session_state["run_id"] = started
        st.switch_page("pages/discover.py")


# In the engine's order (largest first, the analyst's new clusters last): a move changes sizes, never the order,
# so the next cluster stays the next one.
clusters = state.clusters.assign(_order=state.clusters["cluster_id"].map(engine_size)).sort_values(
    ["_order", "cluster_id"], ascending=[False, True], na_position="last", kind="stable").drop(columns="_order")
live = state.live_clusters()
counts = st.columns(5)
counts[0].metric("Clusters", len(live))
counts[1].metric("Approved", int((live["status"] == "approved").sum()))
counts[2].metric("Marked bad", int((live["verdict"] == "bad").sum()))
counts[3].metric("Unassigned sentences", int(clusters.loc[clusters["cluster_id"] == UNASSIGNED, "size"].sum()))
counts[4].metric("Decisions", int(trail["active"].sum()))

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
shown = shown.reset_index(drop=True)

label = {int(c): f"{c} · {n} ({s})" for c, n, s in zip(clusters["cluster_id"], clusters["name"].fillna("unnamed"), clusters["size"])}
table = shown[["cluster_id", "name", "size", "verdict", "probability", "status", "role", "iteration", "auto_name", "origin"]]
st.caption("Tick clusters to act on them together; open one below to read it.")
# Keyed by the filter and the number of decisions, so that a tick never points at a row another filter or a
# decision (a new cluster, one emptied by moves) put there: ticks clear once acted on.
version = len(trail)
table_key = "cluster_table:" + json.dumps([run_id, version, contains, sorted(verdicts), sorted(statuses), int(min_size)])
st.dataframe(table, hide_index=True, width="stretch", key=table_key, on_select="rerun", selection_mode="multi-row",
             column_config={"probability": st.column_config.ProgressColumn("p(good)", min_value=0.0, max_value=1.0)})
ticked = [int(shown["cluster_id"].iloc[i]) for i in ticked_rows(table_key) if i < len(shown)]
bulk = [
    ("Mark good", lambda s: review.set_verdict(s, run_id, analyst, ticked, "good")),
    ("Mark bad", lambda s: review.set_verdict(s, run_id, analyst, ticked, "bad")),
    ("Approve them", lambda s: review.set_status(s, run_id, analyst, ticked, "approved")),
    ("Reopen them", lambda s: review.set_status(s, run_id, analyst, ticked, "open")),
]
cells = st.columns([2, 1, 1, 1, 1], vertical_alignment="center")
cells[0].markdown(f"**{len(ticked)} ticked**" if ticked else "No cluster ticked")
for cell, (caption, action) in zip(cells[1:], bulk):
    if cell.button(caption, key=f"bulk_{caption}", disabled=read_only or not ticked):
        decide(action, f"{caption}: {len(ticked)} clusters")
if st.toggle("Cluster sizes as a chart", key="review_size_chart"):  # drawn only when asked: it costs every rerun
    sizes = px.bar(shown[shown["cluster_id"] != UNASSIGNED].head(60), x="name", y="size", color="verdict",
                   color_discrete_map={"good": "#2a9d8f", "bad": "#e76f51"}, title="Cluster sizes (largest 60 shown)")
    st.plotly_chart(sizes, width="stretch")

st.subheader("Cluster detail")
ids = shown["cluster_id"].astype(int).tolist()
if not ids:
    st.info("No cluster matches the filters.")
    st.stop()
show_current_label("detail_cluster", ids)  # a renamed cluster shows its new name in the picker


def step(offset: int, key: str = "detail_cluster") -> None:
    """Open the cluster `offset` places on in the list as shown (the engine's order, filtered)."""
    current = st.session_state.get("detail_cluster", ids[0])
    position = ids.index(current) if current in ids else 0
    st.session_state[key] = ids[(position + offset) % len(ids)]


if "detail_next" in st.session_state:  # set after a decision, when the picker was already drawn
    st.session_state["detail_cluster"] = st.session_state.pop("detail_next")


cells = st.columns([6, 1, 1], vertical_alignment="bottom")
cluster_id = cells[0].selectbox("Cluster", ids, format_func=label.get, key="detail_cluster")
cells[1].button("Previous", on_click=step, args=(-1,), shortcut="P", width="stretch")
cells[2].button("Next", on_click=step, args=(1,), shortcut="N", width="stretch")
cluster = state.cluster(cluster_id)
st.caption(f"Cluster {ids.index(cluster_id) + 1} of {len(ids)} · engine's name: {literal(cluster['auto_name'])} · verdict "
           f"{cluster['verdict']} (engine: {cluster['auto_verdict']}) · status {cluster['status']}")
if cluster_id != UNASSIGNED:
    advance = st.toggle("Open the next cluster after a verdict or approval", value=True, key="review_advance")
    then = (lambda: step(1, key="detail_next")) if advance else None
    acts = st.columns(4)
    here = [
        ("Good", "G", lambda s: review.set_verdict(s, run_id, analyst, [cluster_id], "good")),
        ("Bad", "B", lambda s: review.set_verdict(s, run_id, analyst, [cluster_id], "bad")),
        ("Approve", "A", lambda s: review.set_status(s, run_id, analyst, [cluster_id], "approved")),
        ("Reopen", "O", lambda s: review.set_status(s, run_id, analyst, [cluster_id], "open")),
    ]
    for cell, (caption, key, action) in zip(acts, here):
        if cell.button(caption, key=f"here_{caption}", shortcut=key, disabled=read_only, width="stretch"):
            decide(action, f"{label[cluster_id]}: {caption.lower()}", then=then)
    with st.form("rename"):
        cells = st.columns([5, 1], vertical_alignment="bottom")
        new_name = cells[0].text_input("Name", value=cluster["name"] or "")
        if cells[1].form_submit_button("Rename", disabled=read_only, width="stretch"):
            decide(lambda s: review.rename(s, run_id, analyst, cluster_id, new_name), f"Cluster {cluster_id} renamed")

member_ids = state.members.loc[state.members["cluster_id"] == cluster_id, "utterance_id"].tolist()
pages = max(1, -(-len(member_ids) // SENTENCES_PER_PAGE))
page = 1
if pages > 1:  # a cluster of a million-utterance run can hold tens of thousands: read and sent a page at a time
    page = int(st.number_input(f"Page of {pages} ({SENTENCES_PER_PAGE:,} sentences each; search below finds any)", 1, pages, 1,
                               key=f"sentence_page:{run_id}:{cluster_id}"))
with open_store() as store:
    sentences = store.sentences(run_id, member_ids[(page - 1) * SENTENCES_PER_PAGE:page * SENTENCES_PER_PAGE])
sentence_key = "sentences:" + json.dumps([run_id, version, cluster_id, page])
st.caption("Tick sentences to move them, or to make them a cluster of their own.")
st.dataframe(sentences, hide_index=True, width="stretch", key=sentence_key, on_select="rerun", selection_mode="multi-row")
chosen = [int(sentences["utterance_id"].iloc[i]) for i in ticked_rows(sentence_key) if i < len(sentences)]
targets = {c: label[c] for c in live["cluster_id"].astype(int) if c != cluster_id}
move_or_split(run_id, analyst, chosen, targets, key="cluster_sentences")

text_of = dict(zip(sentences["utterance_id"], sentences["text"]))
if chosen:
    with st.expander(f"The first ticked sentence in its dialogue: {literal(text_of[chosen[0]][:80])}"):
        with open_store() as store:
            turns = store.dialogue_context(run_id, chosen[0])
        for dialogue_id, dialogue in turns.groupby("dialogue_id", sort=False):
            st.caption(f"Dialogue {literal(dialogue_id)}")
            for turn in dialogue.itertuples():
                with st.chat_message("assistant" if turn.role == "agent" else "user"):
                    st.text(("▶ " if turn.is_it else "") + f"{turn.speaker or turn.role}: {turn.text}")

st.subheader("Search all sentences")
query = st.text_input("Sentences containing", key="sentence_search", placeholder="e.g. refund")
if query:
    with open_store() as store:
        found, n_found = store.search_sentences(run_id, query, limit=SEARCH_HITS_SHOWN)
    current = state.members.set_index("utterance_id")["cluster_id"]
    hits = found.assign(cluster=[label.get(int(current[u]), "unassigned") for u in found["utterance_id"]])
    st.caption(f"{n_found} sentence{'' if n_found == 1 else 's'} of this run contain '{literal(query)}'"
               + (f" (the first {SEARCH_HITS_SHOWN} shown)" if n_found > SEARCH_HITS_SHOWN else ""))
    search_key = "search:" + json.dumps([run_id, version, query])
    st.dataframe(hits, hide_index=True, width="stretch", key=search_key, on_select="rerun", selection_mode="multi-row")
    found_ids = [int(hits["utterance_id"].iloc[i]) for i in ticked_rows(search_key) if i < len(hits)]
    move_or_split(run_id, analyst, found_ids, {int(c): label[int(c)] for c in live["cluster_id"]}, key="search_hits")

st.subheader("Refine")
standing = live[(live["status"] == "approved") | (live["verdict"] == "good")]
back = int(live.loc[~live.index.isin(standing.index), "size"].sum()) + int(clusters.loc[clusters["cluster_id"] == UNASSIGNED, "size"].sum())
st.caption(f"A refined run keeps the {len(standing)} approved or good clusters as they stand now (names, moves and "
           f"merges included) and clusters the other {back} sentences again.")
taught = [a for a in adapted_embedders(workspace()) if a.base == judged_base]
refine_embedder = st.selectbox(
    "Embedder of the refined run", [run_embedder, *[a.name for a in taught if a.name != run_embedder]],
    format_func=lambda name: next((a.describe() for a in taught if a.name == name), f"{name} (this run's)"),
    help="An embedder taught by a review (below) pulls together what the analyst kept together and apart what they kept apart.")
if st.button("Start a refined run", disabled=back == 0):
    start_and_watch(lambda: jobs.start_refinement(workspace(), run_id, embedder=refine_embedder))

st.subheader("Teach the embedder")
st.caption("Fine-tune this run's embedder on your review: sentences of a cluster you approved, made or set good are pulled "
           "together, and apart from the nearest other such clusters; a sentence you moved is pulled to its new cluster and "
           "away from its old one; a merge you rejected keeps its two sides apart. Clusters you marked bad teach nothing, and "
           "neither do the judge's own verdicts. Takes a few minutes on the CPU; the studio stays usable.")


def _watch_teaching() -> None:
    record = jobs.training(workspace())
    if record is None or record.run_id != run_id:
        return
    if record.working:
        st.progress(record.steps_done / record.steps if record.steps else 0.0,
                    text=f"Teaching {record.name} on {record.pairs} sentence pairs: step {record.steps_done} of {record.steps or '…'}")
    elif record.error:
        st.error(f"Teaching {record.name} failed: {literal(record.error)}")
    else:
        st.success(f"{record.name} is ready: choose it for a refined run above, or on the Discover page.")


record = jobs.training(workspace())
teaching = record is not None and record.working
if st.button("Teach the embedder from this review", disabled=read_only or teaching):
    if attempt(lambda: jobs.start_teaching(workspace(), run_id)) is not None:
        st.rerun()
st.fragment(run_every=2.0 if teaching else None)(_watch_teaching)()

if not speaker_roles:  # with roles from ingest, runs split customer and agent already
    st.subheader("Split by role")
    by_role = cluster_role_counts(state)
    st.caption(f"This data has no speaker roles. The cluster names give {by_role['agent']} sentences to the agent "
               f"(greet-, ask-, provide-, …) and {by_role['customer']} to the customer; the other {by_role['other']} "
               "(unassigned, or named without a role verb) join the customer side. A new run clusters each side again.")
    if st.button("Split by role and re-cluster", disabled=not splittable(by_role)):
        start_and_watch(lambda: jobs.start_role_split(workspace(), run_id))

st.subheader("Decisions")
if trail.empty:
    st.caption("No decision yet on this run.")
else:
    st.dataframe(trail.iloc[::-1], hide_index=True, width="stretch",
                 column_config={"decision": st.column_config.TextColumn("decision", width="large"),
                                "active": st.column_config.CheckboxColumn("counts", help="not taken back by an undo")})
    undoable = trail[trail["active"]].iloc[::-1]
    words = dict(zip(undoable["decision_id"], undoable["analyst"] + " " + undoable["decision"]))
    cells = st.columns([5, 1, 1], vertical_alignment="bottom")
    chosen_decision = cells[0].selectbox("Take back a decision", list(words), format_func=lambda d: f"{d} · {words[d]}",
                                         key="undo_choice", disabled=not words)
    if cells[1].button("Undo it", disabled=read_only or not words, width="stretch"):
        decide(lambda s: review.undo(s, run_id, analyst, int(chosen_decision)), f"Took back decision {chosen_decision}")
    if cells[2].button("Undo the last", shortcut="U", disabled=read_only or not words, width="stretch"):
        decide(lambda s: review.undo(s, run_id, analyst), "Took back the last decision")
