"""Classify: train the multi-turn intent classifier on curated labels, read its held-out evaluation, and
talk to it turn by turn to watch the routing live."""

from collections.abc import Callable
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from dialin_core.classify.data import Dialogue, dialogues_from_file, dialogues_from_run, label_coverage, recent_context
from dialin_core.classify.model import ClassifierSettings, IntentClassifier
from dialin_core.classify.routing import DEFAULT_TAU, DEFAULT_TOP_K, HybridRouter, LLMChooser
from dialin_core.classify.workbench import (
    confusion,
    evaluation,
    predictions,
    saved_classifiers,
    train_and_evaluate,
    workspace_classifiers,
)
from dialin_core.llm.backends import open_backend
from dialin_core.llm.cache import CachedLLM
from studio.context import attempt, choose_run, literal, open_store, save_upload, workspace

SAMPLE_DIALOGUES = Path(__file__).resolve().parent.parent / "sample_data" / "dialogues.jsonl"
SOURCES = ("A reviewed run of this workspace", "The sample dialogues (gold intents)", "Upload labelled dialogues (JSONL)")


@st.cache_resource(show_spinner="Loading the classifier…")
def _model(folder: str, saved_at: float) -> IntentClassifier:
    return IntentClassifier.load(folder)


@st.cache_resource(show_spinner="Loading the local LLM…")
def _local_llm():
    return open_backend("local")


def _training_dialogues(source: str) -> tuple[str, int, Callable[[], list[Dialogue]]] | None:
    """The labelled dialogues the analyst chose, as (where from, how many, how to read them), or None while the choice
    is incomplete or the file is refused. A run's dialogues are read when training starts, not on every draw: a
    million utterances take minutes to turn into labelled dialogues."""
    if source == SOURCES[0]:
        with open_store() as store:
            run_id = choose_run(store, ("finished",), key="classify_run")
            if run_id is None:
                return None
            coverage = attempt(lambda: label_coverage(store, run_id))
            if coverage is None:
                return None
            st.caption(coverage.sentence())
            n_dialogues = store.dataset(store.run(run_id).dataset_id).n_dialogues

        def read_run() -> list[Dialogue]:
            with open_store() as store:
                return dialogues_from_run(store, run_id)
        return f"run {run_id}", n_dialogues, read_run
    if source == SOURCES[1]:
        dialogues = dialogues_from_file(SAMPLE_DIALOGUES)
        return "sample dialogues", len(dialogues), lambda: dialogues
    upload = st.file_uploader("Dialogues whose turns carry an `intent` or `active_intents`", type=["jsonl", "json"])
    if upload is None:
        return None
    path = save_upload(upload)
    uploaded = attempt(lambda: dialogues_from_file(path))
    return None if uploaded is None else (upload.name, len(uploaded), lambda: uploaded)


def _train() -> None:
    with st.expander("Train a classifier", expanded=not saved_classifiers(workspace_classifiers(workspace()))):
        source = st.radio("Training data", SOURCES, horizontal=True)
        chosen = _training_dialogues(source)
        left, middle, right = st.columns(3)
        use_context = left.checkbox("Read the dialogue context", value=True,
                                    help="The turn and the merged turns before it (Building Multi-turn Intent Classification with LLM-based Labeling); off: the turn alone.")
        context_turns = middle.number_input("Context turns", 1, 20, ClassifierSettings.context_turns, disabled=not use_context)
        test_share = right.slider("Held out for evaluation", 0.1, 0.5, 0.2, 0.05, help="Whole dialogues, seeded.")
        if chosen is None:
            return
        label, n_dialogues, read = chosen
        st.caption(f"{n_dialogues} dialogues from {literal(label)}.")
        if st.button("Train and evaluate", type="primary"):
            settings = ClassifierSettings(use_context=use_context, context_turns=int(context_turns))
            with st.spinner("Reading the dialogues, embedding the turns, fitting, evaluating on the held-out dialogues…"):
                folder = attempt(lambda: train_and_evaluate(
                    read(), settings, workspace_classifiers(workspace()), source=label, test_share=test_share))
            if folder is not None:
                st.session_state["classifier"] = folder.name
                st.session_state["flash"] = f"Trained {folder.name}."
                st.rerun()


def _show_evaluation(folder: Path) -> None:
    report = evaluation(folder)
    if "accuracy" not in report:
        st.info("This classifier was trained on every dialogue: there is no held-out evaluation.")
        return
    columns = st.columns(5)
    columns[0].metric("Turn accuracy", f"{report['accuracy']:.1%}")
    columns[1].metric("Macro-F1", f"{report['macro_f1']:.3f}")
    columns[2].metric("Latency P50", f"{report['latency_ms']['p50']:.1f} ms")
    columns[3].metric("Latency P99", f"{report['latency_ms']['p99']:.1f} ms")
    columns[4].metric(f"Unsure (< {report['tau']})", f"{report['deferred_share']:.1%}",
                      help="The share a hybrid deployment sends to the LLM.")
    st.caption(f"Trained on {report['train_dialogues']} dialogues of {report['source']} ({report['train_examples']} turns); "
               f"evaluated on {report['n_turns']} turns of {report['test_dialogues']} held-out dialogues.")
    curve, matrix = st.columns(2)
    rows = [r for r in report["tau_curve"] if r["coverage"] is not None]
    figure = go.Figure([
        go.Scatter(x=[r["tau"] for r in rows], y=[r["coverage"] for r in rows], name="answered by the classifier"),
        go.Scatter(x=[r["tau"] for r in rows], y=[r["accuracy_kept"] for r in rows], name="its accuracy on them"),
    ])
    figure.update_layout(title="Choosing tau", xaxis_title="tau", yaxis_title="share", yaxis_range=[0, 1.02], height=420)
    curve.plotly_chart(figure, use_container_width=True)
    table = confusion(predictions(folder))
    heat = go.Figure(go.Heatmap(z=table.values, x=list(table.columns), y=list(table.index), colorscale="Blues"))
    heat.update_layout(title="Confusion (most frequent intents)", xaxis_title="predicted", yaxis_title="gold",
                       yaxis_autorange="reversed", height=420)
    matrix.plotly_chart(heat, use_container_width=True)


def _reset_chat() -> None:
    st.session_state["classify_chat"] = []
    st.session_state.pop("classify_session", None)


def _live(folder: Path, model: IntentClassifier) -> None:
    st.subheader("Try it")
    st.caption("Type a conversation turn by turn. Customer turns are classified with what was said before; "
               "agent turns are context.")
    if st.session_state.get("classify_session_model") != str(folder):
        _reset_chat()
        st.session_state["classify_session_model"] = str(folder)
    session = st.session_state.setdefault("classify_session", model.session())
    left, right = st.columns(2)
    hybrid = left.checkbox("Ask the local LLM when the classifier is unsure", help="It chooses among the top K; a few seconds a turn.")
    tau = right.slider("tau", 0.0, 1.0, DEFAULT_TAU, 0.05, help="Below this top probability the classifier is unsure: "
                       "the turn goes to the LLM when it is asked, else it is marked unsure.")
    for turn in st.session_state.setdefault("classify_chat", []):
        with st.chat_message("user" if turn["speaker"] == "customer" else "assistant"):
            st.text(turn["text"])
            if turn.get("top"):
                st.caption(literal(f"{turn['label']} · {turn['path']} · " + ", ".join(f"{label} {p:.2f}" for label, p in turn["top"])))
    with st.form("turn", clear_on_submit=True):
        speaker_column, text_column = st.columns([1, 4])
        speaker = speaker_column.selectbox("Speaker", ("customer", "agent"))
        text = text_column.text_input("Turn")
        sent = st.form_submit_button("Send")
    if sent and text.strip():
        turn = {"speaker": speaker, "text": text.strip()}
        if speaker == "agent":
            session.observe(speaker, turn["text"])
        else:
            context = session.history
            prediction = session.classify(speaker, turn["text"], DEFAULT_TOP_K)
            top_probability = float(prediction.probabilities[0])
            unsure = top_probability < tau
            turn |= {"label": prediction.label,
                     "path": f"classifier, unsure ({top_probability:.2f} < tau {tau:.2f}): would go to the LLM" if unsure else "classifier",
                     "top": list(zip(prediction.labels, map(float, prediction.probabilities)))}
            if hybrid:
                with st.spinner("Asking the local LLM…"), open_store() as store:
                    router = HybridRouter(LLMChooser(CachedLLM(_local_llm(), store)), tau, DEFAULT_TOP_K)
                    routed = router.route(prediction, recent_context(context, model.settings.context_turns), speaker, turn["text"])
                turn |= {"label": routed.label, "path": routed.path}
        st.session_state["classify_chat"].append(turn)
        st.rerun()
    st.button("New conversation", on_click=_reset_chat)


st.title("Classify")
st.caption("A fast multi-turn intent classifier trained on your curated intents, for routing live conversations.")
_train()
folders = saved_classifiers(workspace_classifiers(workspace()))
if not folders:
    st.info("No classifier yet: train one above, on a reviewed run or on the sample dialogues.")
    st.stop()
names = [f.name for f in folders]
name = st.selectbox("Classifier", names, index=names.index(st.session_state["classifier"]) if st.session_state.get("classifier") in names else 0)
folder = folders[names.index(name)]
_show_evaluation(folder)
_live(folder, _model(str(folder), (folder / "classifier.json").stat().st_mtime))
