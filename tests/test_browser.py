"""The studio through a real Streamlit server and headless Chromium: what a user clicking sees.

The walk takes the screenshots the README shows (into tests/screenshots/; DIALIN_SCREENSHOTS=docs/screenshots
refreshes the README's). The server holds the DuckDB file
open, so the workspace is read only once the server has let go of it.
"""

import json
import re
import subprocess
import zipfile
from collections import Counter

import pytest
from playwright.sync_api import Locator, Page, expect

from dialin_core.curation.review import review_state
from dialin_core.data.store import Store
from tests.browser import (  # noqa: F401 (page and studio are fixtures)
    StudioServer,
    choose,
    choose_starting,
    go_to,
    options,
    page,
    rerun,
    screenshot,
    set_number,
    studio,
    type_analyst,
    wait_for_app,
    wait_for_text,
)

pytestmark = pytest.mark.browser

ANALYST = "Grace Hopper"
# Seconds. A two-iteration run of the sample: ~1 min on two idle cores, 3-4 min when they are shared
# (loading the embedder, embedding 1079 utterances and compiling UMAP's numba code come first, per server).
RUN_TIMEOUT = 480.0


def load_sample(page: Page) -> None:
    with rerun(page):
        page.get_by_role("button", name="Load the sample dialogues").click()
    wait_for_text(page, "Sample dialogues are data set 1.")


def start_run(page: Page, run_id: int, max_iterations: int, candidates: int | None = None, loop_clustering: str | None = None,
              k_choice: str | None = None) -> None:
    """Discover's form without an LLM (cohesion judge), then Start: the live view takes over."""
    go_to(page, "Discover")
    choose(page, "LLM back end", "none")
    choose(page, "Judge", "cohesion")
    if loop_clustering is not None:
        choose(page, "Loop clustering (dialin)", loop_clustering)
    if k_choice is not None:
        choose(page, "k choice (dialin)", k_choice)
    set_number(page, "Max iterations", max_iterations)
    if candidates is not None:
        set_number(page, "Candidate k per iteration", candidates)
    with rerun(page):
        page.get_by_role("button", name="Start the run").click()
    wait_for_text(page, f"Run {run_id} started")


def start_kmeans(page: Page, run_id: int, k: int) -> None:
    """On the Discover page: a k-means run with this k, started and waited for."""
    with rerun(page):
        choose(page, "Method", "kmeans")
    with rerun(page):
        set_number(page, "k (0: chosen by silhouette)", k)
        page.get_by_role("button", name="Start the run").click()
    wait_until_finished(page, run_id)


def wait_until_finished(page: Page, run_id: int) -> None:
    """The live view polls the run; once it ends the page redraws with the final progress."""
    wait_for_text(page, f"Run {run_id}: finished", timeout=RUN_TIMEOUT)
    wait_for_app(page)


def decide(page: Page, button: Locator, confirmation: str) -> None:
    """Click a decision's button: the page reruns twice (apply, then redraw), and the second run shows the
    confirmation as a toast. Watched for at once: a toast is gone after four seconds."""
    button.click()
    expect(page.get_by_test_id("stToast").filter(has_text=confirmation)).to_be_visible(timeout=60_000)
    wait_for_app(page)


def clusters_by_size(page: Page) -> list[str]:
    """The review's cluster labels ("12 · name (size)"), largest first, the unassigned pool left out."""
    return [o for o in options(page, "Cluster") if not o.startswith("-1 ")]


def open_cluster(page: Page, cluster: str) -> None:
    """Open a cluster in the review's picker, unless it is open already (picking it again runs nothing)."""
    if page.get_by_role("combobox", name="Cluster", exact=True).input_value() != cluster:
        with rerun(page):
            choose(page, "Cluster", cluster)


def mark_bad(page: Page, cluster: str) -> None:
    """Open the cluster and mark it bad where it is read (the review then opens the next one)."""
    open_cluster(page, cluster)
    # by its key: the button's accessible name also carries its keyboard shortcut
    decide(page, page.locator(".st-key-here_Bad button"), f"{cluster}: bad")


def cluster_id(label: str) -> int:
    return int(label.split(" · ")[0])


def set_verdict(page: Page, cluster: int, verdict: str) -> None:
    """Open cluster `cluster` by its id in the review's picker and give it `verdict` where it is read."""
    label = page.get_by_role("combobox", name="Cluster", exact=True).input_value()
    if not label.startswith(f"{cluster} · "):  # picking the open cluster again would run nothing
        with rerun(page):
            label = choose_starting(page, "Cluster", f"{cluster} · ")
    decide(page, page.locator(f".st-key-here_{verdict.capitalize()} button"), f"{label}: {verdict}")


def test_the_main_flow_from_sample_data_to_export(studio: StudioServer, page: Page) -> None:
    page.goto(studio.url)
    wait_for_text(page, "Dial-In Studio")
    wait_for_app(page)
    type_analyst(page, ANALYST)
    load_sample(page)
    screenshot(page, "home")

    start_run(page, 1, max_iterations=2)
    wait_until_finished(page, 1)
    expect(page.get_by_text("Clusters kept: ")).to_be_visible()
    run_picker = page.get_by_test_id("stSelectbox").filter(has=page.get_by_role("combobox", name="Run", exact=True))
    screenshot(page, "discover", top=run_picker)  # the live view, below the form

    go_to(page, "Review")
    wait_for_text(page, "Cluster detail")
    largest, second = clusters_by_size(page)[:2]
    mark_bad(page, largest)
    expect(page.get_by_role("combobox", name="Cluster", exact=True)).to_have_value(second)  # the next one opened
    open_cluster(page, second)
    rename = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Rename", exact=True))
    rename.get_by_label("Name", exact=True).fill("inquire-order_status")
    decide(page, rename.get_by_role("button", name="Rename", exact=True), f"Cluster {cluster_id(second)} renamed")
    expect(page.get_by_role("combobox", name="Cluster", exact=True)).to_have_value(
        f"{cluster_id(second)} · inquire-order_status ({second.rsplit('(', 1)[1]}"
    )
    screenshot(page, "review", toast=True)
    page.reload()  # mid-review: the name and the open run come back from the address, the decisions from the workspace
    wait_for_text(page, "Cluster detail")
    wait_for_app(page)
    expect(page.get_by_test_id("stSidebar").get_by_label("Your name", exact=True)).to_have_value(ANALYST)
    expect(page.get_by_role("combobox", name="Run", exact=True)).to_have_value(re.compile(r"^run 1 · "))
    expect(page.get_by_text("Read-only")).to_have_count(0)
    assert f"{cluster_id(second)} · inquire-order_status" in " ".join(clusters_by_size(page))

    # a merge of a good and a bad cluster: the card shows both verdicts and offers good, and good is what is stored
    go_to(page, "Merges")
    wait_for_text(page, "Merge proposals")
    card = page.locator(".st-key-proposal_0")
    good_id, bad_id = (int(c) for c in re.findall(r"cluster (\d+), \d+ sentences", card.inner_text())[:2])
    assert not {good_id, bad_id} & {cluster_id(largest), cluster_id(second)}, "the sample's first proposal joins clusters the walk has touched"
    go_to(page, "Review")
    wait_for_text(page, "Cluster detail")
    set_verdict(page, good_id, "good")
    set_verdict(page, bad_id, "bad")
    go_to(page, "Merges")
    wait_for_text(page, "Merge proposals")
    expect(card.get_by_text(re.compile(r"^verdict bad · "))).to_have_count(1)
    expect(card.get_by_text(re.compile(r"^verdict good · "))).to_have_count(1)
    expect(card.get_by_role("radio", name="good", exact=True)).to_be_checked()
    screenshot(page, "merges")
    decide(page, card.get_by_role("button", name="Approve the merge"), "Proposal 0 merged as")
    expect(card).to_have_count(0)  # no longer proposed: it moved to the accepted ones, with its undo
    with rerun(page):
        page.get_by_role("radiogroup", name="Show").get_by_role("radio", name="accepted", exact=True).click()
    expect(card.get_by_text(re.compile(rf"^Accepted as '.+' by {ANALYST}"))).to_be_visible()
    expect(card.get_by_role("button", name="Undo", exact=True)).to_be_visible()

    go_to(page, "Map")
    wait_for_text(page, "Selection: 0 sentences")
    screenshot(page, "map")

    go_to(page, "Export")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download everything (zip)", exact=True).click()
    archive = download.value.path()
    with zipfile.ZipFile(archive) as zipped:
        packed = {name.rsplit("/", 1)[-1] for name in zipped.namelist()}
    assert {"judge_sft.jsonl", "namer_sft.jsonl", "data_card.json"} <= packed and any(n.startswith("utterances.") for n in packed)
    with rerun(page):
        page.get_by_role("button", name="Export", exact=True).click()
    wait_for_text(page, "Wrote")
    screenshot(page, "export", top=page.get_by_test_id("stForm"))

    studio.stop()  # the server holds the DuckDB file: read the workspace only once it has let go
    with Store(studio.workspace) as store:
        (dataset,) = store.datasets()
        run = store.run(1)
        decisions = store.decisions(1)
        state = review_state(store, 1)
    assert dataset.n_dialogues == 300
    assert run.status == "finished" and run.config.llm == "none" and run.config.judge == "cohesion"
    assert decisions["action"].tolist() == ["set_verdict", "rename", "set_verdict", "set_verdict", "accept_merge"]
    assert set(decisions["analyst"]) == {ANALYST}
    live = state.live_clusters().sort_values("size", ascending=False, kind="stable")
    assert cluster_id(largest) == int(live["cluster_id"].iloc[0])
    assert state.cluster(cluster_id(largest))["verdict"] == "bad"
    assert state.cluster(cluster_id(second))["name"] == "inquire-order_status"
    merged = live[live["cluster_id"].isin([good_id, bad_id])]
    assert len(merged) == 1 and merged["verdict"].iloc[0] == "good"
    assert (studio.workspace.parent / "exports" / "run-1" / "utterances.parquet").exists()


def test_a_run_paused_resumed_and_killed_with_the_server_resumes_when_it_restarts(studio: StudioServer, page: Page) -> None:
    page.goto(studio.url)
    wait_for_text(page, "Dial-In Studio")
    wait_for_app(page)
    type_analyst(page, ANALYST)
    load_sample(page)
    start_run(page, 1, max_iterations=1, candidates=2)  # the short run 1 only has to be there, reviewed
    wait_until_finished(page, 1)
    go_to(page, "Review")
    wait_for_text(page, "Cluster detail")
    largest = clusters_by_size(page)[0]
    mark_bad(page, largest)

    # k-means fits take about 15 s of loop once the embeddings are cached (Ward cuts: ~2 s, too quick to
    # kill the server in the middle); the good/bad ratio judges 5 candidate k per iteration, one event each,
    # where the silhouette judges only the k it chose
    start_run(page, 2, max_iterations=2, loop_clustering="kmeans", k_choice="ratio")
    wait_for_text(page, "Per iteration: the k it cut at", timeout=RUN_TIMEOUT)  # a first candidate k is judged
    # paused mid-iteration from the page, then resumed: it goes on from its last stored step
    with rerun(page):
        page.get_by_role("button", name="Pause", exact=True).click()
    wait_for_text(page, "Run 2: paused", timeout=120)
    with rerun(page):
        page.get_by_role("button", name="Resume", exact=True).click()
    wait_for_text(page, "Run 2: running")
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    studio.kill()  # SIGKILL mid-run: no cleanup, nobody records how run 2 ended
    with Store(studio.workspace) as store:  # the dead server has let go of the file
        assert store.run_status(2) == "running"  # (the resumed run redoes its unfinished iteration, whose steps it dropped)

    studio.start()
    page.goto(studio.url)
    expect(page.get_by_test_id("stSidebar").get_by_text("Resumed run 2, interrupted when the server stopped.")).to_be_visible(
        timeout=60_000
    )
    go_to(page, "Discover")
    wait_until_finished(page, 2)

    studio.stop()
    with Store(studio.workspace) as store:
        decisions = store.decisions(1)
        run_2 = store.run(2)
        events = store.events(2)
    assert decisions[["action", "analyst"]].values.tolist() == [["set_verdict", ANALYST]]
    assert run_2.status == "finished"
    judged = Counter((e["role"], e["iteration"], e["k"]) for e in events if e["kind"] == "candidate_judged")
    assert judged and max(judged.values()) == 1, [key for key, n in judged.items() if n > 1]


def pixel(where: str, host: str = "tracker.invalid") -> str:
    """Markdown for an image on a stranger's server: were it rendered, the browser would fetch it."""
    return f"![{where}](http://{host}/{where}.png)"


def test_text_from_a_file_never_makes_the_browser_fetch_anything(studio: StudioServer, page: Page, tmp_path) -> None:
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))

    def nothing_fetched() -> None:
        page.wait_for_timeout(1000)  # an image is requested as soon as it is drawn
        assert not [url for url in fetched if "tracker" in url], [url for url in fetched if "tracker" in url]
    dialogues = tmp_path / "hostile.jsonl"
    dialogues.write_text("".join(json.dumps({"dialogue_id": f"{pixel('dialogue')} {i}", "turns": [
        {"speaker": pixel("speaker"), "utterance": f"{pixel('text')} I want a refund for order {i}"},
        {"speaker": "agent", "utterance": f"Sure, one moment {pixel('reply')}."},
    ]}) + "\n" for i in range(12)))
    broken = tmp_path / "![name](tracker.png).jsonl"  # a file name is shown too; a relative image is fetched from the studio
    broken.write_text('{"dialogue_id": "' + pixel("error") + '", "turns": [\n')

    page.goto(studio.url)
    wait_for_text(page, "Dial-In Studio")
    wait_for_app(page)
    type_analyst(page, ANALYST)
    upload = page.locator(".st-key-transcript_upload input[type=file]")
    with rerun(page):
        upload.set_input_files(str(broken))
    wait_for_text(page, "not valid JSON")
    nothing_fetched()
    expect(page.get_by_text("![name](tracker.png).jsonl: line 1", exact=False)).to_be_visible()  # shown as written
    with rerun(page):
        upload.set_input_files(str(dialogues))
    wait_for_text(page, "12 dialogues, 24 turns")
    nothing_fetched()
    expect(page.get_by_text(f"Dialogue {pixel('dialogue')} 0", exact=True)).to_be_visible()
    with rerun(page):
        page.get_by_role("button", name="Store this data set").click()
    wait_for_text(page, "hostile.jsonl is data set 1.")

    go_to(page, "Discover")
    start_kmeans(page, 1, k=2)
    go_to(page, "Review")
    wait_for_text(page, "Cluster detail")
    search = page.get_by_label("Sentences containing", exact=True)
    with rerun(page):
        search.fill(pixel("query"))
        search.press("Enter")
    wait_for_text(page, "sentences of this run contain")
    nothing_fetched()
    expect(page.get_by_text(f"0 sentences of this run contain '{pixel('query')}'", exact=True)).to_be_visible()


def test_a_chinese_data_set_is_read_clustered_and_named_in_chinese_in_the_browser(studio: StudioServer, page: Page, chinese_subset) -> None:
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    assert fonts.strip(), "no font for Chinese: scripts/test.sh installs fonts-wqy-zenhei"
    page.goto(studio.url)
    wait_for_text(page, "Dial-In Studio")
    wait_for_app(page)
    type_analyst(page, ANALYST)
    with rerun(page):
        page.locator(".st-key-transcript_upload input[type=file]").set_input_files(str(chinese_subset))
    wait_for_text(page, "请帮我打开uc")  # the preview shows the text as written
    with rerun(page):
        page.get_by_role("button", name="Store this data set").click()
    wait_for_text(page, "chinese_subset.csv is data set 1.")
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()

    go_to(page, "Discover")
    wait_for_text(page, "Written in Chinese (zh)")
    expect(page.get_by_role("combobox", name="Embedder", exact=True)).to_have_value("multilingual-e5-small")
    start_kmeans(page, 1, k=6)

    go_to(page, "Review")
    wait_for_text(page, "Cluster detail")
    clusters = clusters_by_size(page)
    assert len(clusters) == 6 and all(re.search("[\u4e00-\u9fff]", c) for c in clusters), clusters
    flights = next(c for c in clusters if "航班" in c)
    open_cluster(page, flights)
    # the sentences table is a canvas grid: its cells are in the DOM for screen readers, drawn on the canvas
    expect(page.get_by_text("从广州到贵阳市的航班").first).to_be_attached(timeout=60_000)
    screenshot(page, "chinese-review")
