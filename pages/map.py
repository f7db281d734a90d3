"""Map: the run's utterances in 2-D, coloured by their current intent; a lasso or box selection assigns
sentences to a cluster or a new one."""

import html

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dialin_core.curation.review import review_state
from studio.context import analyst_or_read_only, finished_run, move_or_split, open_store

MAX_POINTS = 8000  # what a browser draws smoothly; the data behind the map is never cut

st.title("Map")
with open_store() as store:
    run_id = finished_run(store, key="map_run")
    state = review_state(store, run_id)
    drawn, placed = store.map_points(run_id, MAX_POINTS)  # a run places at most MAP_POINTS on the map
analyst = analyst_or_read_only()

if not placed:
    st.info("This run was made without map coordinates (with_map off).")
    st.stop()
drawn = drawn.merge(state.members, on="utterance_id")
names = state.clusters.set_index("cluster_id")["name"].fillna("unnamed")
drawn["intent"] = drawn["cluster_id"].map(names).fillna("unassigned")
if len(drawn) < len(state.members):
    st.caption(f"Drawing {len(drawn):,} of {len(state.members):,} sentences, chosen at random from the {placed:,} the run "
               "placed on the map; selections act on the drawn ones.")
palette = px.colors.qualitative.Alphabet
colour_of = lambda cluster_id: "#9e9e9e" if cluster_id < 0 else palette[cluster_id % len(palette)]  # noqa: E731
# A cluster keeps its colour across decisions (by id, not by position), so a move does not repaint the map.
colours = drawn["cluster_id"].map(colour_of)
sizes = drawn.groupby("intent").size().sort_values(ascending=False)
highlight = st.selectbox("Highlight an intent (type to search)", [None, *sizes.index], key="map_highlight",
                         format_func=lambda i: "none" if i is None else f"{i} ({sizes[i]})")
if highlight is not None:
    lit = (drawn["intent"] == highlight).to_numpy()
    colours = np.where(lit, colours, "#d9d9d9")
    point_size = np.where(lit, 8, 4)
else:
    point_size = 5
# One WebGL trace coloured per point: plotly express would make a trace per intent, seconds of work at 300.
figure = go.Figure(go.Scattergl(
    x=drawn["x"], y=drawn["y"], mode="markers", text=drawn["text"].map(html.escape),  # plotly reads tags in hover text
    marker={"color": list(colours), "size": point_size},
    customdata=np.column_stack([drawn["utterance_id"], drawn["intent"].map(html.escape)]),
    hovertemplate="%{customdata[1]}<br>%{text}<extra></extra>",
))
# Axes span the middle 99% of the points (padded), so one far outlier does not squeeze the rest into a blob;
# uirevision keeps the analyst's zoom while decisions redraw the map.
ranges = {axis: np.nanquantile(drawn[axis], [0.005, 0.995]) for axis in ("x", "y")}
pad = {axis: 0.05 * (high - low or 1.0) for axis, (low, high) in ranges.items()}
figure.update_layout(height=700, dragmode="lasso", margin={"l": 0, "r": 0, "t": 30, "b": 0}, uirevision=f"map-{run_id}",
                     xaxis={"range": [ranges["x"][0] - pad["x"], ranges["x"][1] + pad["x"]]},
                     yaxis={"range": [ranges["y"][0] - pad["y"], ranges["y"][1] + pad["y"]]},
                     title=f"{len(sizes)} intents, coloured by intent; hover a point to read it; Autoscale shows far outliers")
event = st.plotly_chart(figure, width="stretch", on_select="rerun", selection_mode=("box", "lasso"), key="map_chart")
selected = [int(p["customdata"][0]) for p in (event.selection.points if event else []) if p.get("customdata")]

st.subheader(f"Selection: {len(selected)} sentences")
if selected:
    chosen = drawn[drawn["utterance_id"].isin(selected)]
    st.dataframe(chosen[["utterance_id", "text", "intent"]], hide_index=True, width="stretch")
    live = state.live_clusters()
    label = {int(c): f"{c} · {n}" for c, n in zip(live["cluster_id"], live["name"].fillna("unnamed"))}
    move_or_split(run_id, analyst, selected, label, key="map_selection")
else:
    st.caption("Draw a lasso or a box around points to select them.")
