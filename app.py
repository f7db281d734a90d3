"""Dial-In Studio: the entry file routes to the pages, asks who the analyst is, and resumes interrupted runs."""

import streamlit as st

from dialin_core.data.studio_lock import hold_for_studio
from dialin_core.errors import WorkspaceBusy
from studio.context import USER_ERRORS, show_flash, workspace


@st.cache_resource(show_spinner="Resuming the run the last server left unfinished…")
def _resume_interrupted(path: str) -> list[int]:
    """Once per server process and workspace: a server killed mid-run left it marked running with no worker.
    The run machinery is imported here, not at the top: the page list and the first page draw before it loads."""
    from dialin_core.methods import jobs

    return jobs.resume_interrupted(path)


def _remember_analyst() -> None:
    st.session_state["analyst"] = st.session_state["analyst_input"].strip()


st.set_page_config(page_title="Dial-In Studio", layout="wide")
# The page list first: Streamlit shows its raw file list until st.navigation runs.
navigation = st.navigation([
    st.Page("pages/home.py", title="Workspace", icon=":material/folder_open:", default=True),
    st.Page("pages/discover.py", title="Discover", icon=":material/manage_search:"),
    st.Page("pages/review.py", title="Review", icon=":material/rule:"),
    st.Page("pages/merges.py", title="Merges", icon=":material/merge:"),
    st.Page("pages/map.py", title="Map", icon=":material/scatter_plot:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
    st.Page("pages/judge.py", title="Judge", icon=":material/gavel:"),
    st.Page("pages/namer.py", title="Namer", icon=":material/label:"),
    st.Page("pages/classify.py", title="Classify", icon=":material/alt_route:"),
])
# Who the analyst is lives in the page's address too (?analyst=...), so a reload, a bookmark or a restarted
# server finds it again: session state alone dies with the browser tab's session.
if not st.session_state.get("analyst") and st.query_params.get("analyst", "").strip():
    st.session_state["analyst"] = st.query_params["analyst"].strip()
if st.session_state.get("analyst"):
    st.query_params["analyst"] = st.session_state["analyst"]
elif "analyst" in st.query_params:
    del st.query_params["analyst"]
with st.sidebar:
    # The name lives under a key no widget owns: Streamlit drops a widget's state when the page changes.
    st.session_state["analyst_input"] = st.session_state.get("analyst", "")
    st.text_input("Your name", key="analyst_input", on_change=_remember_analyst,
                  help="Every decision you make is recorded with it.")
try:
    hold_for_studio(workspace())  # while this server is up it alone writes the workspace
    st.session_state.pop("workspace_refused", None)
    resumed = _resume_interrupted(str(workspace()))
except USER_ERRORS as problem:  # another studio holds the workspace, or the file is damaged: every page says so
    st.session_state["workspace_refused"] = str(problem) if isinstance(problem, WorkspaceBusy) else None
    resumed = []
if resumed:
    st.sidebar.info(f"Resumed run {', '.join(map(str, resumed))}, interrupted when the server stopped.")
show_flash()
navigation.run()
