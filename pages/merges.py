"""Merges: the engine's proposals to fold near-duplicate intents, with their evidence side by side."""

import json

import streamlit as st

from dialin_core.curation import review
from dialin_core.curation.review import review_state
from studio.context import analyst_or_read_only, decide, finished_run, open_store

st.title("Merge proposals")
with open_store() as store:
    run_id = finished_run(store, key="merges_run")
    decisions = store.decisions(run_id)
    state = review_state(store, run_id, decisions)
analyst = analyst_or_read_only()
# The decision that accepted or rejected each proposal, so the card can take it back.
active = review.active_decisions(decisions)
decided_by = {int(t.removeprefix("proposal:")): (int(d), a) for d, t, a in
              zip(active["decision_id"], active["target"], active["analyst"]) if t.startswith("proposal:")}

proposals = state.proposals
if proposals.empty:
    st.info("This run has no merge proposal: no two intents were named alike enough.")
    st.stop()
status = st.segmented_control("Show", ["proposed", "accepted", "rejected", "all"], default="proposed", key="merge_filter")
if status and status != "all":
    proposals = proposals[proposals["status"] == status]
st.caption(f"{len(state.proposals)} proposal{'' if len(state.proposals) == 1 else 's'}: "
           + ", ".join(f"{n} {s}" for s, n in state.proposals["status"].value_counts().items()))
if proposals.empty:
    st.info(f"No {status} proposal.")

current = state.clusters.set_index("cluster_id")
st.caption("Approving a merge makes its clusters one intent under the merged name. Its verdict is yours to choose; "
           "by default it is good when any part is good, bad only when every part is.")
for proposal in proposals.itertuples():
    evidence = json.loads(proposal.evidence)
    with st.container(border=True, key=f"proposal_{proposal.proposal_id}"):
        st.markdown(f"**Proposal {proposal.proposal_id}** · {proposal.status}")
        members = [int(c) for c in proposal.cluster_ids]
        columns = st.columns(len(members))
        for cell, cluster_id in zip(columns, members):
            with cell:
                if cluster_id in current.index:
                    row = current.loc[cluster_id]
                    st.text(f"{row['name']}  ·  cluster {cluster_id}, {row['size']} sentences")
                    st.text(f"verdict {row['verdict'] if isinstance(row['verdict'], str) else '—'} · {row['status']}")
                else:
                    st.text(f"cluster {cluster_id} (merged away)")
                for sentence in evidence.get("samples", {}).get(str(cluster_id), []):
                    st.text(f"• {sentence}")
        for edge in evidence.get("edges", []):
            st.caption(f"Label distance {edge.get('distance', float('nan')):.3f} · same-intent probability "
                       f"{edge.get('probability', float('nan')):.3f}")
        if evidence.get("same_name"):
            st.caption("The namer gave these clusters the same name.")
        if proposal.status == "proposed":
            with st.form(f"merge_{proposal.proposal_id}"):
                merged = st.text_input("Merged name", value=proposal.merged_name or "", key=f"merged_name_{proposal.proposal_id}")
                parts = [current.loc[c, "verdict"] for c in members if c in current.index]
                default = review.merged_verdict([v if isinstance(v, str) else None for v in parts])
                verdict = st.radio("Verdict of the merged cluster", review.VERDICTS, index=review.VERDICTS.index(default),
                                   horizontal=True, key=f"merged_verdict_{proposal.proposal_id}")
                accept, reject = st.columns(2)
                if accept.form_submit_button("Approve the merge", type="primary", disabled=not analyst):
                    decide(lambda s, p=proposal.proposal_id, n=merged, v=verdict: review.decide_merge(s, run_id, analyst, p, True, n, v),
                           f"Proposal {proposal.proposal_id} merged as '{merged}' ({verdict})")
                if reject.form_submit_button("Reject", disabled=not analyst):
                    decide(lambda s, p=proposal.proposal_id: review.decide_merge(s, run_id, analyst, p, False),
                           f"Proposal {proposal.proposal_id} rejected")
        elif proposal.proposal_id in decided_by:
            decision_id, by = decided_by[proposal.proposal_id]
            cells = st.columns([4, 1], vertical_alignment="center")
            merged_as = f" as '{proposal.merged_name}'" if proposal.status == "accepted" else ""
            cells[0].caption(f"{proposal.status.capitalize()}{merged_as} by {by} (decision {decision_id}).")
            if cells[1].button("Undo", key=f"undo_merge_{proposal.proposal_id}", disabled=not analyst):
                decide(lambda s, d=decision_id: review.undo(s, run_id, analyst, d),
                       f"Proposal {proposal.proposal_id} is open again")
