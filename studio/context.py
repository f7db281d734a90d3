"""The session's choices every page reads: which workspace, who is deciding, which run is open."""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dialin_core.curation import review
from dialin_core.curation.review import UNASSIGNED, ReviewError
from dialin_core.data.store import Store
from dialin_core.errors import IngestError, WorkspaceBusy, WorkspaceDamaged
from dialin_core.workspace import default_workspace_path

USER_ERRORS = (IngestError, ReviewError, WorkspaceBusy, ValueError)
# What turns text into a link, an image, HTML, code or math in Streamlit's markdown.
_MARKDOWN_ACTIVE = re.compile(r"([\\\[\]<>`$])")


def literal(text: object) -> str:
    """`text` for an element that renders markdown (captions, alerts, toasts, expander labels), shown as
    written: a transcript's id, a file name, a name or an error quoting a file must not become an image that
    the analyst's browser fetches from a stranger's server, or a link. st.text and tables need none of this."""
    return _MARKDOWN_ACTIVE.sub(r"\\\1", str(text))


def workspace() -> Path:
    return Path(st.session_state.setdefault("workspace", str(default_workspace_path())))


@contextmanager
def open_store() -> Iterator[Store]:
    """The workspace for the length of one script run; a busy or damaged workspace is a message, not a traceback
    (the Workspace page still opens, to choose another file)."""
    refused = st.session_state.get("workspace_refused")
    if refused:  # another studio's workspace (app.py tried to take it): read and write nothing of it
        st.error(literal(refused))
        st.stop()
    try:
        store = Store(workspace())
    except (WorkspaceBusy, WorkspaceDamaged) as problem:
        st.error(literal(problem))
        st.stop()
    try:
        yield store
    finally:
        store.close()


def analyst() -> str:
    return st.session_state.get("analyst", "").strip()


def analyst_or_read_only() -> str:
    """Who decides on this page, or "" with a note that it is read-only until a name is given: decisions
    carry who made them, but reading needs no name, so a page never locks a reader out."""
    name = analyst()
    if not name:
        st.info("Read-only: type your name in the sidebar to make decisions (each one is recorded with it).",
                icon=":material/visibility:")
    return name


def attempt(action: Callable[[], Any], success: str | None = None) -> Any:
    """Run an analyst's action; a problem they can fix is shown as a message and nothing is stored."""
    try:
        result = action()
    except USER_ERRORS as error:
        st.error(literal(error))
        return None
    if success:
        st.toast(literal(success))
    return result


def decide(action: Callable[[Store], Any], success: str, then: Callable[[], None] | None = None) -> None:
    """Record an analyst's decision in a short write of its own, then redraw the page with it applied;
    `then` runs between the two, where the page moves on (to the next cluster, say)."""
    with open_store() as store:
        result = attempt(lambda: action(store))
    if result is not None:
        st.session_state["flash"] = success
        if then:
            then()
        st.rerun()


def show_flash() -> None:
    """The confirmation of the last decision, shown once after the rerun that applied it.

    A toast, not an alert at the top of the page: the analyst clicked far down a long page, and the rerun
    keeps the page scrolled there, so a message at the top would go unseen.
    """
    message = st.session_state.pop("flash", None)
    if message:
        st.toast(literal(message), icon=":material/check_circle:")


def run_label(row: pd.Series) -> str:
    """Enough to tell apart runs of the same settings: start time, size and review progress."""
    parts = [f"run {row['run_id']}", str(row["method"]), str(row["status"]), f"{row['created_at']:%b %d %H:%M}",
             f"data set {row['dataset_id']}"]
    if pd.notna(row.get("n_clusters")):
        parts.append(f"{int(row['n_clusters'])} clusters")
    parts.append(f"{int(row['n_decisions'])} decisions")
    return " · ".join(parts)


def choose_run(store: Store, statuses: tuple[str, ...] | None = None, key: str = "run_choice") -> int | None:
    """A run picker shared by the pages: the session's open run is preselected, the newest otherwise.

    The open run is the one the analyst last picked in a picker or started. A picker keeps its own value
    while its page is shown, so it is moved to the open run explicitly: otherwise a run started from the
    page would go on being shown as the run picked before it.
    """
    runs = store.runs()
    if statuses:
        runs = runs[runs["status"].isin(statuses)]
    if runs.empty:
        return None
    ids = runs["run_id"].astype(int).tolist()[::-1]
    labels = {int(r["run_id"]): run_label(r) for _, r in runs.iterrows()}
    current = st.session_state.get("run_id")
    if current is None and st.query_params.get("run", "").isdigit():  # a reload: the address remembers the run
        current = st.session_state["run_id"] = int(st.query_params["run"])
    if current in ids:
        st.session_state[key] = current
    elif st.session_state.get(key) not in ids:
        st.session_state.pop(key, None)  # the newest, below
    chosen = st.selectbox("Run", ids, format_func=labels.get, key=key, on_change=_open_run, args=(key,))
    st.query_params["run"] = str(chosen)
    return chosen


def _open_run(key: str) -> None:
    st.session_state["run_id"] = st.session_state[key]


def show_current_label(key: str, options: list[Any]) -> None:
    """Before a keyed selectbox: have it show its choice's label as it is now, not as it was when picked.

    The browser keeps the text of the option the analyst picked (a cluster renamed since would keep its
    old name there) until the server sends the value again, which this does; a choice no longer offered
    is dropped, so the first option is shown.
    """
    if key in st.session_state:
        if st.session_state[key] in options:
            st.session_state[key] = st.session_state[key]
        else:
            del st.session_state[key]


def finished_run(store: Store, key: str) -> int:
    """The run a review page works on; the page stops with a pointer to Discover when there is none."""
    run_id = choose_run(store, statuses=("finished",), key=key)
    if run_id is None:
        st.info("No finished run yet: start one on the Discover page.")
        st.stop()
    return run_id


def save_upload(upload) -> Path:
    """An uploaded file kept in `uploads/` beside the workspace, so what was stored can be traced to it."""
    saved = workspace().parent / "uploads" / Path(upload.name).name
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_bytes(upload.getvalue())
    return saved


def move_or_split(run_id: int, analyst: str, utterance_ids: list[int], targets: dict[int, str], key: str = "selected") -> None:
    """The two things an analyst does with selected sentences, the same wherever they were selected (a
    cluster's list, a search, the map): move them to another cluster or to unassigned, or make them a new
    cluster. `key` tells apart two such rows on one page."""
    idle = not analyst or not utterance_ids
    cells = st.columns([3, 1], vertical_alignment="bottom")
    target = cells[0].selectbox(f"Move the {len(utterance_ids)} ticked to", [UNASSIGNED, *targets],
                                format_func=lambda c: targets.get(c, "unassigned"), key=f"{key}_target")
    if cells[1].button("Move", key=f"{key}_move", disabled=idle):
        decide(lambda s: review.move(s, run_id, analyst, utterance_ids, target), f"{len(utterance_ids)} sentences moved")
    cells = st.columns([3, 1], vertical_alignment="bottom")
    name = cells[0].text_input("…or make them a new cluster named", key=f"{key}_new_name")
    if cells[1].button("New cluster", key=f"{key}_new", disabled=idle):
        decide(lambda s: review.new_cluster(s, run_id, analyst, utterance_ids, name), f"New cluster '{name}' made")


def ticked_rows(key: str) -> list[int]:
    """Positions of the rows ticked in the keyed dataframe (Streamlit's row selection); [] before any tick."""
    selection = st.session_state.get(key)
    return list(selection["selection"]["rows"]) if selection else []
