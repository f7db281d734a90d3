"""Judge: how well the cohesion judge agrees with the analyst's verdicts, and a judge re-fitted on them."""

from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from dialin_core.embedding.models import EMBEDDER_CHOICES, load_embedder
from dialin_core.judging.cohesion import CohesionModel, default_model_path
from dialin_core.judging.feedback import agreement, analyst_labels, refit_judge, trained_on, workspace_judges
from studio.context import attempt, open_store, workspace


def _judges(embedder: str) -> dict[str, Path]:
    """The shipped judge for the embedder, then the workspace's re-fitted ones, newest first."""
    found = {"shipped": default_model_path(embedder)} if default_model_path(embedder).is_file() else {}
    for path in sorted(workspace_judges(workspace()).glob(f"cohesion-{embedder}-*.json"), reverse=True):
        found[path.stem] = path
    return found


st.title("Judge")
st.caption("Every verdict you set, every cluster you approve or make, is a labelled example for the cohesion judge.")
embedder = st.selectbox("Embedder", EMBEDDER_CHOICES)
with st.spinner("Reading your verdicts…"), open_store() as store:
    labels = analyst_labels(store, load_embedder(embedder))
if not labels:
    st.info("No analyst verdict yet for runs with this embedder: mark clusters good or bad, or approve them, on the Review page.")
    st.stop()
MIN_VERDICTS = 25  # measured (BENCHMARKS.md, the judge learning from the analyst): kappa moves only from about 25 labels
if len(labels) < MIN_VERDICTS:
    st.warning(f"Only {len(labels)} labelled clusters: below {MIN_VERDICTS}, agreement and kappa swing with every verdict "
               "and a re-fit learns little. Keep reviewing before you trust these figures.")
st.caption("Agreement: the share of your verdicts the judge gives too. Cohen's kappa: that agreement beyond what chance "
           "would give with the same shares of good and bad (0 is chance, 1 is perfect).")
judges = _judges(embedder)
models = {name: CohesionModel.load(path) for name, path in judges.items()}
rows = [{"judge": name, **agreement(model, labels), "trained on": trained_on(model)} for name, model in models.items()]
st.dataframe(pd.DataFrame(rows), hide_index=True,
             column_config={"agreement": st.column_config.ProgressColumn("agreement", min_value=0.0, max_value=1.0)})
st.caption(f"{len(labels)} labelled clusters ({sum(label.good for label in labels)} good). A re-fitted judge's agreement "
           "is measured on the verdicts it was fitted to, so it flatters it; the shipped judge's is an honest figure.")
if st.button("Re-fit the judge on these verdicts", type="primary"):
    model = attempt(lambda: refit_judge(embedder, labels))
    if model is not None:
        folder = workspace_judges(workspace())
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"cohesion-{embedder}-{datetime.now():%Y%m%d-%H%M%S}.json"
        model.save(path)
        st.session_state["flash"] = f"Saved {path.name}; choose it as the cohesion judge of your next run on the Discover page."
        st.rerun()
