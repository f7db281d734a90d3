"""The Classify page through AppTest: train on the sample dialogues, read the held-out evaluation, talk to
the model turn by turn (with the real local LLM for an unsure turn), refuse unlabelled uploads."""

import json

from dialin_core.classify.model import IntentClassifier
from dialin_core.classify.workbench import saved_classifiers, workspace_classifiers
from tests.test_studio import labelled, open_app


def send(app, speaker: str, text: str) -> None:
    labelled(app.selectbox, "Speaker").set_value(speaker)
    labelled(app.text_input, "Turn").set_value(text)
    labelled(app.button, "Send").click().run()
    assert not app.exception, app.exception


def test_a_classifier_is_trained_evaluated_and_talked_to(tmp_path):
    workspace = tmp_path / "w.duckdb"
    app = open_app(workspace)
    app.switch_page("pages/classify.py").run()
    assert "No classifier yet" in app.info[0].value
    labelled(app.radio, "Training data").set_value("The sample dialogues (gold intents)").run()
    labelled(app.button, "Train and evaluate").click().run()
    assert not app.exception, app.exception
    (folder,) = saved_classifiers(workspace_classifiers(workspace))
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert evaluation["source"] == "sample dialogues" and evaluation["test_dialogues"] > 0
    assert evaluation["accuracy"] > 0.5  # ~25 intents: chance is ~4%
    shown = {m.label: m.value for m in app.metric}
    assert shown["Turn accuracy"] == f"{evaluation['accuracy']:.1%}"
    assert len(app.get("plotly_chart")) == 2  # the tau curve and the confusion matrix

    send(app, "agent", "Hi, you've reached Skyline Mobile support. What can I do for you?")
    send(app, "customer", "I want to check how much data I have used this month")
    agent_turn, customer_turn = app.session_state["classify_chat"]
    assert agent_turn == {"speaker": "agent", "text": "Hi, you've reached Skyline Mobile support. What can I do for you?"}
    labels = IntentClassifier.load(folder).labels_
    assert customer_turn["path"] == "classifier" and customer_turn["label"] in labels
    assert customer_turn["label"] == customer_turn["top"][0][0] and len(customer_turn["top"]) == 3
    assert "data" in customer_turn["label"]  # the sample's check_data_usage, or its closest kin
    assert any(customer_turn["label"] in c.value for c in app.caption)

    labelled(app.checkbox, "Ask the local LLM when the classifier is unsure").check().run()
    labelled(app.slider, "tau").set_value(1.0).run()  # every turn is unsure: the real LLM chooses
    send(app, "customer", "yes, and can you also tell me my balance?")
    routed = app.session_state["classify_chat"][-1]
    assert routed["path"] == "llm" and routed["label"] in [label for label, _ in routed["top"]]

    labelled(app.button, "New conversation").click().run()
    assert app.session_state["classify_chat"] == []


def test_an_upload_without_intents_is_a_message_and_trains_nothing(tmp_path):
    workspace = tmp_path / "w.duckdb"
    app = open_app(workspace)
    app.switch_page("pages/classify.py").run()
    labelled(app.radio, "Training data").set_value("Upload labelled dialogues (JSONL)").run()
    unlabelled = json.dumps({"dialogue_id": "x", "turns": [{"speaker": "customer", "utterance": "hello"}]}) + "\n"
    app.file_uploader[0].set_value(("plain.jsonl", unlabelled.encode(), "application/json")).run()
    assert not app.exception, app.exception
    assert "no turn has an intent" in app.error[0].value
    assert not [b for b in app.button if b.label == "Train and evaluate"]
    assert saved_classifiers(workspace_classifiers(workspace)) == []
