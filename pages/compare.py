"""Compare: two finished runs of one data set side by side (cluster counts, agreement, gold metrics)."""

from contextlib import nullcontext

import streamlit as st

from dialin_core.evaluation.compare import compare_runs
from studio.context import attempt, open_store, run_label

st.title("Compare two runs")
with open_store() as store:
    runs = store.runs()
finished = runs[runs["status"] == "finished"]
if len(finished) < 2:
    st.info("Comparing needs two finished runs: start another one on the Discover page.")
    st.stop()
ids = finished["run_id"].astype(int).tolist()[::-1]
labels = {int(r["run_id"]): run_label(r) for _, r in finished.iterrows()}
left, right = st.columns(2)
first = left.selectbox("First run", ids, format_func=labels.get, key="compare_first")
second = right.selectbox("Second run", ids, index=1, format_func=labels.get, key="compare_second")
with_goodness = st.toggle("Score goodness", key="compare_goodness",
                          help="The share of each run's clusters that a judge neither run used calls good (the cohesion "
                               "judge of another embedding model, reading a sample of each cluster). It needs no gold "
                               "intents; the first time it embeds the samples, about half a minute for 80 clusters.")
with open_store() as store, st.spinner("Scoring goodness…") if with_goodness else nullcontext():
    comparison = attempt(lambda: compare_runs(store, first, second, goodness=with_goodness))
if comparison is None:
    st.stop()

st.subheader("Each run")
st.dataframe(comparison.runs, hide_index=True)
if "acc" not in comparison.runs:
    st.caption("No gold intents in this data set: the runs are compared with each other only. Ingest it with a gold "
               "label column (a CSV's intent column, a JSONL turn's intent) to see ACC, NMI and ARI against it.")
else:
    st.caption("Against the gold intents: ACC matches each cluster to at most one intent (extra clusters count as wrong); "
               "NMI is the information the clusters share with the intents (it rewards many clusters, so read it with ACC "
               "and the cluster count); ARI counts pairs of utterances put together or apart alike.")
agreement = comparison.agreement
if with_goodness:
    st.caption("Goodness rewards fine clusters too (a fragment of an intent reads as coherent): compare it between runs "
               "with similar cluster counts.")
cells = st.columns(3)
cells[0].metric("Utterances in both", agreement["n_shared"])
cells[1].metric("Adjusted Rand index", f"{agreement['ari']:.3f}")
cells[2].metric("NMI", f"{agreement['nmi']:.3f}")
st.caption("Between the two runs: 1 means they group the shared utterances the same way, 0 no more alike than chance.")
st.subheader(f"Where the clusters of run {first} went in run {second}")
st.dataframe(comparison.overlap, hide_index=True, width="stretch",
             column_config={"share_in_best_match": st.column_config.ProgressColumn("share in best match", min_value=0.0, max_value=1.0)})
