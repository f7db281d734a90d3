"""Map: the run's utterances in 2-D, coloured by their current intent; a lasso or box selection assigns
sentences to a cluster or a new one."""

import html

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dialin_core.review import review_state
from studio.context import finished_run, move_or_split, open_store, require_analyst

MAX_POINTS = 8000  # what a browser draws smoothly; the data behind the map is never cut

st.title("Map")
with open_store() as store:
    run_id = finished_run(store, key="map_run")
    state = review_state(store, run_id)
    points = store.assignments(run_id)[["utterance_id", "text", "x", "y"]]
analyst = require_analyst()

points = points.merge(state.members, on="utterance_id")
names = state.clusters.set_index("cluster_id")["name"].fillna("unnamed")
points["intent"] = points["cluster_id"].map(names).fillna("unassigned")
if points["x"].isna().all():
    st.info("This run was made without map coordinates (with_map off).")
    st.stop()
drawn = points.sample(MAX_POINTS, random_state=0) if len(points) > MAX_POINTS else points
if len(drawn) < len(points):
    st.caption(f"Drawing {len(drawn):,} of {len(points):,} sentences, chosen at random; selections act on the drawn ones.")
codes, intents = pd.factorize(drawn["intent"])
palette = px.colors.qualitative.Alphabet
# One WebGL trace coloured per point: plotly express would make a trace per intent, seconds of work at 300.
figure = go.Figure(go.Scattergl(
    x=drawn["x"], y=drawn["y"], mode="markers", text=drawn["text"].map(html.escape),  # plotly reads tags in hover text
    marker={"color": [palette[c % len(palette)] for c in codes], "size": 5},
    customdata=np.column_stack([drawn["utterance_id"], drawn["intent"].map(html.escape)]),
    hovertemplate="%{customdata[1]}<br>%{text}<extra></extra>",
))
figure.update_layout(height=700, dragmode="lasso", margin={"l": 0, "r": 0, "t": 30, "b": 0},
                     title=f"{len(intents)} intents, coloured by intent; hover a point to read it")
event = st.plotly_chart(figure, width="stretch", on_select="rerun", selection_mode=("box", "lasso"), key="map_chart")
selected = [int(p["customdata"][0]) for p in (event.selection.points if event else []) if p.get("customdata")]

st.subheader(f"Selection: {len(selected)} sentences")
if selected:
    chosen = points[points["utterance_id"].isin(selected)]
    st.dataframe(chosen[["utterance_id", "text", "intent"]], hide_index=True, width="stretch")
    live = state.live_clusters()
    label = {int(c): f"{c} · {n}" for c, n in zip(live["cluster_id"], live["name"].fillna("unnamed"))}
    move_or_split(run_id, analyst, selected, label)
else:
    st.caption("Draw a lasso or a box around points to select them.")
