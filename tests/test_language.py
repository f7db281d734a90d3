"""Any language end to end: detected at ingest, the embedder and the judge follow it, names are written in it,
and the text comes back out exactly as it went in. Chinese (the Dial-In paper's own setting) is the real case."""

import json
import re
from dataclasses import replace
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dialin_core.config import RunConfig
from dialin_core.curation.export import write_export
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.language import detect_language, language_name
from dialin_core.data.store import Store
from dialin_core.embedding.adapted import judged_as, language_warning_for
from dialin_core.embedding.models import (
    DEFAULT_EMBEDDER,
    EMBEDDER_CHOICES,
    MULTILINGUAL_EMBEDDER,
    default_embedder,
    language_warning,
    resolve_model_path,
)
from dialin_core.evaluation.goodness import evaluator_embedder
from dialin_core.evaluation.naming import gold_name_as_text, name_score
from dialin_core.judging.cascade import CohesionJudge, LLMOnlyJudge, calibration_for
from dialin_core.judging.cohesion import load_cohesion_model
from dialin_core.judging.feedback import AnalystLabel
from dialin_core.judging.llm_tuning import analyst_language
from dialin_core.llm.cache import CachedLLM
from dialin_core.llm.local_backend import LocalBackend
from dialin_core.methods import jobs
from dialin_core.methods.baselines import run_discovery
from dialin_core.methods.dialin import build_tools, run_dialin
from dialin_core.methods.label_generation import generation_request, numbered_lines
from dialin_core.naming.keywords import keyword_names
from dialin_core.naming.names import (
    ANY_LANGUAGE,
    CHINESE,
    ENGLISH,
    NAME_PATTERN,
    LLMNamer,
    name_grammar,
    name_role,
    scheme_for,
    validate_intent_name,
)
from tests.conftest import REPO
from tests.test_studio import labelled, open_app

MAPPING = ColumnMapping(text="text", label="label")
HAN = re.compile("[\u4e00-\u9fff]")


def test_the_language_is_the_vote_of_the_utterances_and_chinese_varieties_count_as_chinese():
    chinese = ["请帮我打开微信", "明天北京的天气怎么样", "从广州到贵阳市的航班", "银耳莲子粥怎么做", "打开汽车之家"]
    english = ["my card has not arrived yet", "how do I reset my password", "I want a refund for my order"]
    assert detect_language(chinese * 3 + english) == "zh"
    assert detect_language(english * 3 + chinese) == "en"
    assert detect_language(["je voudrais annuler ma carte bancaire", "quel est le solde de mon compte"]) == "fr"
    assert detect_language([]) == detect_language(["", "  "]) == "und"
    assert language_name("zh") == "Chinese (zh)" and language_name(None) == "not detected"


def test_ingest_stores_the_language_and_an_older_data_set_gets_it_when_first_asked(tmp_path, chinese_subset):
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, chinese_subset, MAPPING)
        assert store.dataset(dataset_id).language == "zh"
        store.connection.execute("UPDATE datasets SET language = NULL")  # as a workspace of an older version holds it
        assert store.dataset(dataset_id).language is None
        assert store.dataset_language(dataset_id) == "zh"
        assert store.dataset(dataset_id).language == "zh"  # stored, not detected again


def test_the_default_embedder_follows_the_language_and_an_english_model_on_chinese_is_a_warning(tmp_path):
    assert default_embedder("en") == default_embedder("und") == default_embedder(None) == DEFAULT_EMBEDDER
    assert default_embedder("zh") == default_embedder("de") == MULTILINGUAL_EMBEDDER
    assert language_warning(MULTILINGUAL_EMBEDDER, "zh") is None and language_warning(DEFAULT_EMBEDDER, "en") is None
    warning = language_warning(DEFAULT_EMBEDDER, "zh")
    assert "reads English only" in warning and "Chinese (zh)" in warning and MULTILINGUAL_EMBEDDER in warning
    with Store(tmp_path / "w.duckdb") as store:
        custom = str(resolve_model_path(DEFAULT_EMBEDDER))  # a model folder: its languages are unknown, so no warning
        assert language_warning_for(store, custom, "zh") is None


def test_every_shipped_embedder_has_a_cohesion_judge_and_a_model_folder_without_one_is_judged_by_the_multilingual_one(tmp_path):
    for name in EMBEDDER_CHOICES:
        assert load_cohesion_model(name).embedder == name
    assert load_cohesion_model(MULTILINGUAL_EMBEDDER).training["cross_validated_auc"] > 0.7
    with Store(tmp_path / "w.duckdb") as store:
        folder = str(resolve_model_path(DEFAULT_EMBEDDER))
        assert judged_as(store, folder) == MULTILINGUAL_EMBEDDER
        assert judged_as(store, folder, cohesion_model="my-judge.json") == folder  # a judge trained for it is used
        assert judged_as(store, DEFAULT_EMBEDDER) == DEFAULT_EMBEDDER


def test_goodness_on_chinese_needs_a_second_judge_that_reads_chinese():
    assert evaluator_embedder(DEFAULT_EMBEDDER, "en") != DEFAULT_EMBEDDER
    assert evaluator_embedder(DEFAULT_EMBEDDER, "zh") == MULTILINGUAL_EMBEDDER
    assert evaluator_embedder(MULTILINGUAL_EMBEDDER, "zh") is None  # the only one that reads it: not scored, never guessed


def test_name_schemes_write_names_in_the_data_language_and_keep_the_verb_roles():
    assert scheme_for("en") is scheme_for("und") is scheme_for(None) is ENGLISH
    assert scheme_for("zh") is CHINESE and scheme_for("fr") is ANY_LANGUAGE
    assert ENGLISH.grammar() == name_grammar()  # English names are what they were
    for name in ("查询-余额", "冻结-银行卡_2", "inquire-balance", "report-lost_card_3", "inquire-solde", "block-überweisung"):
        assert validate_intent_name(name) == name
    assert CHINESE.pattern().fullmatch("查询-余额") and not CHINESE.pattern().fullmatch("inquire-balance")
    for bad in ("查询-", "查询-abc", "查-余额", "query-余额 x"):
        assert not NAME_PATTERN.fullmatch(bad)
        with pytest.raises(ValueError, match="action-objective"):
            validate_intent_name(bad)
    assert name_role("查询-余额") == "customer" and name_role("道歉-延误") == "agent" and name_role("闲聊-天气") == "other"
    assert 'word ::= [' in CHINESE.grammar() and '"查询"' in CHINESE.grammar() and '"_"' not in CHINESE.grammar()


def test_chinese_keyword_names_are_words_jieba_finds_not_characters(chinese_subset):
    frame = pd.read_csv(chinese_subset)
    labels = pd.factorize(frame["label"])[0].tolist()
    names = keyword_names(frame["text"].tolist(), labels, language="zh")
    assert len(set(names.values())) == len(names) == 6
    for name in names.values():
        words = name.split("-")
        assert all(HAN.search(w) or w.isascii() for w in words) and all(len(w) >= 2 for w in words)
    assert any("航班" in n for n in names.values())  # flight.QUERY is about flights
    assert keyword_names(frame["text"].tolist(), labels, language="en") != names  # English rules would not segment


def test_name_score_counts_utterances_whose_name_is_nearest_their_gold_intent():
    vectors = {"inquire balance": [1.0, 0.0], "balance": [0.9, 0.1], "report lost card": [0.0, 1.0], "lost card": [0.1, 0.9],
               "request help": [0.95, 0.05]}

    def embed(texts: list[str]) -> np.ndarray:
        rows = np.array([vectors[t] for t in texts])
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    assert gold_name_as_text("app.LAUNCH") == "app launch"
    gold = ["balance"] * 3 + ["lost_card"] * 2
    score = name_score([0, 0, 0, 1, 1], {0: "inquire-balance", 1: "report-lost_card"}, gold, embed)
    assert score.share == 1.0 and score.named_right == 2
    vague = name_score([0, 0, 0, 1, 1, -1], {0: "inquire-balance", 1: "request-help"}, gold + ["balance"], embed)
    assert vague.share == pytest.approx(3 / 5) and vague.named_right == 1  # the outlier is not scored


def test_the_cli_embeds_chinese_with_the_multilingual_model_and_warns_when_told_to_use_an_english_one(tmp_path, chinese_subset):
    def discover(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dialin_core", "discover", str(chinese_subset), "--label-column", "label",
                               "--method", "kmeans", "--k", "6", "--no-map", "--workspace", str(tmp_path / "w.duckdb"), *extra],
                              cwd=REPO, capture_output=True, text=True)

    chosen = discover("--out", str(tmp_path / "e5"))
    assert chosen.returncode == 0, chosen.stderr
    assert "warning" not in chosen.stderr
    summary = json.loads((tmp_path / "e5" / "summary.json").read_text())
    assert summary["embedder"] == MULTILINGUAL_EMBEDDER
    assert summary["metrics"]["acc"] > 0.8  # six Chinese intents separate with the multilingual model
    clusters = pd.read_csv(tmp_path / "e5" / "clusters.csv")
    assert all(HAN.search(n) for n in clusters["name"])  # keyword names in Chinese words
    english = discover("--out", str(tmp_path / "minilm"), "--embedder", DEFAULT_EMBEDDER)
    assert english.returncode == 0, english.stderr
    assert "warning: all-minilm-l6-v2 reads English only, and this data set is in Chinese (zh)" in english.stderr
    assert json.loads((tmp_path / "minilm" / "summary.json").read_text())["metrics"]["acc"] < summary["metrics"]["acc"]


def test_exports_keep_chinese_text_exactly_as_a_gb18030_file_had_it(tmp_path, chinese_subset):
    frame = pd.read_csv(chinese_subset)
    frame.loc[0, "text"] = "我要查询＂余额＂，谢谢！"  # full-width punctuation stays full-width
    source = tmp_path / "gb.csv"
    frame.to_csv(source, index=False, encoding="gb18030")
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, source, MAPPING)
        run = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=6, with_map=False, embedder=MULTILINGUAL_EMBEDDER))
        write_export(store, run.run_id, tmp_path / "export", ("csv", "jsonl"))
    exported_csv = pd.read_csv(tmp_path / "export" / "utterances.csv", encoding="utf-8")
    lines = (tmp_path / "export" / "utterances.jsonl").read_text(encoding="utf-8").splitlines()
    exported_jsonl = [json.loads(line)["text"] for line in lines]
    assert set(exported_csv["text"]) == set(exported_jsonl) == set(frame["text"])


@pytest.fixture(scope="module")
def local_llm(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("llm") / "w.duckdb")
    yield CachedLLM(LocalBackend(), store)
    store.close()


def test_the_real_local_model_names_a_chinese_cluster_in_chinese(local_llm):
    sentences = ["从广州到贵阳市的航班", "东营到济南的航班", "后天去大连的航班", "帮我查一下明天飞上海的飞机"]
    name = LLMNamer(local_llm, scheme=CHINESE).name(sentences)
    assert CHINESE.pattern().fullmatch(name), name
    assert HAN.search(name.split("-", 1)[1])


def test_the_real_local_model_generates_chinese_labels_line_by_line(local_llm):
    sentences = ["银耳莲子粥怎么做", "从广州到贵阳市的航班", "蛋黄焗薯条怎么做"]
    lines = numbered_lines(local_llm.chat(generation_request(sentences, [], CHINESE)).text)
    assert sorted(lines) == [1, 2, 3]
    assert all(CHINESE.pattern().fullmatch(label) for label in lines.values()), lines


def test_a_dialin_run_on_chinese_with_a_model_folder_that_has_no_judge_runs_and_names_in_chinese(tmp_path, chinese_subset):
    folder = str(resolve_model_path(DEFAULT_EMBEDDER))  # stands for any custom model: no judge was trained for it
    config = RunConfig(llm="none", judge="cohesion", with_map=False, embedder=folder)
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, chinese_subset, MAPPING)
        tools = build_tools(store, config)
        assert tools.judge_embedder is not None and tools.judge_embedder.name == MULTILINGUAL_EMBEDDER
        result = run_dialin(store, dataset_id, config, tools=tools)
    named = result.clusters[result.clusters["cluster_id"] >= 0]["name"]
    assert len(named) >= 2 and all(HAN.search(n) for n in named)


class CountingJudge:
    """A judge that counts the clusterings it was asked about and answers as `inner` does."""

    def __init__(self, inner):
        self.inner, self.asked = inner, 0

    def judge_all(self, cases, llm_allowance):
        self.asked += 1
        return self.inner.judge_all(cases, llm_allowance)


def test_the_shipped_judge_adapter_judges_english_data_only_and_other_languages_get_the_cohesion_judge_alone(tmp_path):
    with Store(tmp_path / "w.duckdb") as store:
        tools = build_tools(store, RunConfig())  # the defaults: the cascade with the shipped adapter
        asked_alone = build_tools(store, RunConfig(judge="llm"))  # the LLM judge alone, asked for
    assert tools.judge_language == "en" and tools.judge_adapter == "llm-judge-qwen2.5-coder-0.5b-instruct-q4_k_m"
    for english in ("en", "und", None):  # text nobody could tell gets the English defaults
        assert tools.judge_for(english) is tools.judge and tools.judged_with(english) == (tools.judge_adapter, None)
    assert "+llm-judge-" in tools.judge.llm_judge.llm.backend.model
    chinese = tools.judge_for("zh")
    assert isinstance(chinese, CohesionJudge) and chinese is tools.judge.cohesion and tools.judged_with("zh") == (None, "cohesion")
    assert tools.judge_for("de") is chinese  # any language the adapter was not taught on
    untuned = asked_alone.judge_for("zh")
    assert isinstance(untuned, LLMOnlyJudge) and asked_alone.judged_with("zh") == (None, "llm")
    assert untuned.llm_judge.llm is asked_alone.llm and asked_alone.llm.backend.model == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert untuned.calibration == calibration_for(asked_alone.llm.backend.model) != asked_alone.judge.calibration


def test_a_run_on_chinese_asks_the_judge_for_other_languages_and_records_that_no_adapter_judged(tmp_path, chinese_subset, banking77_subset):
    config = RunConfig(llm="none", judge="cohesion", with_map=False, embedder=MULTILINGUAL_EMBEDDER, max_iterations=1)
    with Store(tmp_path / "w.duckdb") as store:
        chinese = ingest_file(store, chinese_subset, MAPPING)
        english = ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category"))
        for dataset_id, taught_on in ((chinese, False), (english, True)):
            plain = build_tools(store, config)
            tuned, untaught = CountingJudge(plain.judge), CountingJudge(plain.judge)
            tools = replace(plain, judge=tuned, untaught_judge=untaught, untaught_kind="stand-in", judge_adapter="llm-judge-1",
                            judge_language="en")
            summary = run_dialin(store, dataset_id, config, tools=tools).summary
            assert (tuned.asked > 0, untaught.asked > 0) == (taught_on, not taught_on)
            assert (summary["llm_judge_adapter"], summary["judge_used"]) == (("llm-judge-1", "cohesion") if taught_on else (None, "stand-in"))


def test_a_judge_taught_on_the_analysts_verdicts_is_taught_in_the_language_most_of_them_were_given_in(tmp_path, chinese_subset, banking77_subset):
    with Store(tmp_path / "w.duckdb") as store:
        chinese = run_discovery(store, ingest_file(store, chinese_subset, MAPPING),
                                RunConfig(method="kmeans", k=6, with_map=False, embedder=MULTILINGUAL_EMBEDDER)).run_id
        english = run_discovery(store, ingest_file(store, banking77_subset, ColumnMapping(text="text", label="category")),
                                RunConfig(method="kmeans", k=6, with_map=False)).run_id
        verdicts = [AnalystLabel(run_id, 0, True, np.zeros(3)) for run_id in (chinese, chinese, english)]
        assert analyst_language(store, verdicts) == "zh"
        assert analyst_language(store, verdicts[1:] + [verdicts[2]]) == "en"
        assert analyst_language(store, []) == "en"


def test_the_studio_shows_the_language_preselects_the_multilingual_embedder_and_warns_against_an_english_one(tmp_path, chinese_subset):
    workspace = tmp_path / "w.duckdb"
    with Store(workspace) as store:
        ingest_file(store, chinese_subset, MAPPING)
    app = open_app(workspace)
    (table,) = app.dataframe
    assert table.value["language"].tolist() == ["Chinese (zh)"]
    app.switch_page("pages/discover.py").run()
    assert not app.exception, app.exception
    assert any("Written in Chinese (zh)" in c.value for c in app.caption)
    embedder = labelled(app.selectbox, "Embedder")
    assert embedder.value == MULTILINGUAL_EMBEDDER
    labelled(app.selectbox, "Method").set_value("kmeans").run()
    labelled(app.selectbox, "Embedder").set_value(DEFAULT_EMBEDDER)
    labelled(app.number_input, "k (0: chosen by silhouette)").set_value(6)
    labelled(app.button, "Start the run").click().run()
    assert not app.exception, app.exception
    assert any("reads English only, and this data set is in Chinese (zh)" in w.value for w in app.warning)
    assert jobs.wait(workspace, app.session_state["run_id"], timeout=300)  # warned, and started as the analyst chose
