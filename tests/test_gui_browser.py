"""Browser tests of the labelling and review pages, in a real headless Chromium driven by Playwright.

They use Debian's ``/usr/bin/chromium`` (installed by ``.ci/run``) and never download a browser. Screenshots of
both pages are written to ``$MOUSEFEAR_TEST_ARTIFACTS`` (default: a temporary folder) for a person to look at.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from _gui_helpers import BEHAVIORS, RUN, VIDEO, add_motion_run, read_index

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM.is_file():
    pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (pip install "
                                                              "'mousefear[test]')")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = os.environ.get("MOUSEFEAR_TEST_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for the whole module, with a fresh profile."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    outside: list[str] = []
    page.on("request", lambda req: None if req.url.startswith("http://127.0.0.1:") else outside.append(req.url))
    yield page
    page.close()
    assert not errors, f"errors in the page: {errors}"
    assert not outside, f"the page asked for something outside the local server: {outside}"


# The pages forbid eval (Content-Security-Policy), so the tests wait with locators, never with JavaScript
# strings (page.wait_for_function / page.evaluate would be refused).
def wait_saved(page) -> None:
    sync_api.expect(page.locator("body")).to_have_attribute("data-pending", "0", timeout=10000)


def frames_shown(page, n: int = 6, every_ms: int = 150) -> set[str]:
    """The sources the frame image showed in ``n`` looks ``every_ms`` apart."""
    seen = set()
    for _ in range(n):
        seen.add(page.get_attribute("#frame", "src"))
        page.wait_for_timeout(every_ms)
    return seen


def check_player_controls(page) -> None:
    """The play button pauses and resumes the loop, the speed menu applies; both give the keys back to the page."""
    expect = sync_api.expect
    expect(page.locator("#play")).to_have_text("pause")
    page.click("#play")
    expect(page.locator("#play")).to_have_text("play")
    expect(page.locator("#play")).not_to_be_focused()
    page.wait_for_timeout(100)
    assert len(frames_shown(page)) == 1  # paused: the same frame
    page.select_option("#speed", "2")
    expect(page.locator("#speed")).not_to_be_focused()
    assert len(frames_shown(page)) == 1  # a new speed does not start a paused loop
    page.keyboard.press(" ")  # space: the play button again
    expect(page.locator("#play")).to_have_text("pause")
    assert len(frames_shown(page)) > 1


def test_label_exemplars_with_keys_and_resume(page, proj, artifacts):
    from mousefear.gui import start_labelling
    from mousefear.gui.labelling import read_state

    index0 = read_index(proj)
    ids = [r["id"] for r in index0]
    server = start_labelling(proj)
    try:
        page.goto(server.url)
        page.wait_for_selector("body[data-ready='1']")
        assert page.inner_text("#progress-text") == f"0 / {len(ids)} answered"
        assert page.inner_text("#candidate-title").startswith(f"Candidate 1 of {len(ids)}: {VIDEO}")
        # buttons show their keys and every behaviour of config.yaml
        keys = page.locator("button.answer .key").all_inner_texts()
        names = page.locator("button.answer .name").all_inner_texts()
        assert names == [*BEHAVIORS, "skip", "unsure"] and keys == ["1", "2", "3", "4", "5", "s", "u"]
        assert "Still without an example: " + ", ".join(BEHAVIORS) == page.inner_text("#missing")
        # the window plays: the frame image cycles through the candidate's frames
        seen = set()
        for _ in range(20):
            seen.add(page.get_attribute("#frame", "src"))
            if len(seen) > 1:
                break
            page.wait_for_timeout(100)
        assert len(seen) > 1
        page.screenshot(path=str(artifacts / "label-page-start.png"), full_page=True)
        check_player_controls(page)

        for key in ("1", "5", "s", "2"):
            page.keyboard.press(key)
        wait_saved(page)
        sync_api.expect(page.locator("#progress-text")).to_have_text(f"4 / {len(ids)} answered")
        assert page.inner_text("#candidate-title").startswith(f"Candidate 5 of {len(ids)}")
        page.screenshot(path=str(artifacts / "label-page.png"), full_page=True)

        expected = {ids[0]: "freezing", ids[1]: "fleeing", ids[3]: "exploring"}
        index = read_index(proj)
        for before, after in zip(index0, index, strict=True):
            want = dict(before)
            if before["id"] in expected:
                want.update(label=expected[before["id"]], label_source="person")
            assert after == want
        state = read_state(proj.parent / "exemplars" / "labelling_state.csv")
        assert {k: v["answer"] for k, v in state.items()} == {**expected, ids[2]: "skip"}

        # reload: progress kept, opens at the first candidate without an answer
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.inner_text("#progress-text") == f"4 / {len(ids)} answered"
        assert page.inner_text("#candidate-title").startswith(f"Candidate 5 of {len(ids)}")
        counts = page.locator("button.answer .count").all_inner_texts()
        assert counts == ["1", "1", "0", "0", "1"]
        assert page.inner_text("#missing") == "Still without an example: grooming, rearing"
        # clicking a button answers too
        page.click("button.answer[data-answer='grooming']")
        wait_saved(page)
        assert read_index(proj)[4]["label"] == "grooming"
    finally:
        server.stop()


def test_review_correct_one_window(page, proj, artifacts):
    from mousefear.formats.labels import read_label_file
    from mousefear.gui import start_review
    from mousefear.gui.review import read_corrections

    server = start_review(proj, run=RUN, video=VIDEO)
    try:
        page.goto(server.url)
        page.wait_for_selector("body[data-ready='1']")
        # the ethogram has one predicted window per second and a probability line per behaviour
        assert page.locator("#ethogram rect[fill-opacity]").count() == 35  # 36 windows, one without answer
        # the colours of the report and the plots (pipeline/plots.behavior_colors), not a palette of its own
        from mousefear.pipeline.plots import behavior_colors

        fills = {page.locator("#ethogram rect[fill-opacity]").nth(i).get_attribute("fill") for i in range(35)}
        assert fills and fills <= {c.lower() for c in behavior_colors(BEHAVIORS).values()} | set(
            behavior_colors(BEHAVIORS).values())
        assert page.locator("#ethogram polyline").count() >= len(BEHAVIORS)
        # least certain first: the window without an answer, then the lowest top probability
        first = page.locator("#uncertain button").first
        assert first.get_attribute("data-window") == "3"
        # click the moment at 2.5 s (frame 75): window [60, 90) plays
        box = page.locator("#ethogram").bounding_box()
        width = float(page.get_attribute("#ethogram", "width"))
        left, right = 84, 12
        x = left + (75 / 1080) * (width - left - right)
        with page.expect_response(lambda r: "/api/review/frame?" in r.url and "frame=60" in r.url) as resp:
            page.mouse.click(box["x"] + x, box["y"] + 30)
        sync_api.expect(page.locator("#window-title")).to_contain_text("frames 60–89")
        assert resp.value.status == 200 and resp.value.header_value("content-type") == "image/jpeg"
        img = cv2.imdecode(np.frombuffer(resp.value.body(), np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (200, 240, 3)  # the crop box of the video
        shown = int(re.search(r"frame=(\d+)", page.get_attribute("#frame", "src")).group(1))
        assert 60 <= shown < 90  # a frame of the window clicked
        check_player_controls(page)
        page.screenshot(path=str(artifacts / "review-page-before.png"), full_page=True)

        page.keyboard.press("4")  # rearing
        sync_api.expect(page.locator("#status")).to_contain_text("Saved rearing")
        page.wait_for_selector("#ethogram rect.correction")
        assert page.locator("#ethogram rect.human-bout").count() == 1
        page.screenshot(path=str(artifacts / "review-page.png"), full_page=True)
    finally:
        server.stop()
    labels = read_label_file(proj.parent / "labels" / f"{VIDEO}.csv", BEHAVIORS, n_frames=1080)
    expected = np.full(1080, "", dtype=object)
    expected[60:90] = "rearing"
    assert list(labels) == list(expected)
    rows = read_corrections(proj.parent / "labels" / f"{VIDEO}.corrections.csv")
    assert [(r["start_frame"], r["end_frame"], r["behavior"], r["run"], r["predicted"]) for r in rows] == [
        (60, 90, "rearing", RUN, "grooming")]


def test_review_lists_seconds_to_score_next_and_opens_them(page, proj, artifacts):
    from mousefear.gui import start_review
    from mousefear.pipeline.suggest import suggest_seconds

    run = add_motion_run(proj)  # the motion run stores its measurements; the first 15 s are scored
    expected = suggest_seconds(proj, 20, measure=False)
    server = start_review(proj, run=run, video=VIDEO)
    try:
        page.goto(server.url)
        page.wait_for_selector("body[data-ready='1']")
        items = page.locator("#suggest button")
        assert items.count() == len(expected) > 0
        sync_api.expect(page.locator("#suggest-summary")).to_contain_text("15 s scored")
        second = expected.iloc[1]
        with page.expect_response(lambda r: "/api/review/frame?" in r.url and f"frame={second.start_frame}" in r.url):
            items.nth(1).click()
        sync_api.expect(page.locator("#window-title")).to_contain_text(
            f"frames {second.start_frame}–{second.end_frame - 1}")
        assert items.nth(1).get_attribute("title") == second.reason
        page.screenshot(path=str(artifacts / "review-page-suggestions.png"), full_page=True)
        page.keyboard.press("1")  # score it: freezing, saved into labels/ at once
        sync_api.expect(page.locator("#status")).to_contain_text("Saved freezing")
        with page.expect_response(lambda r: "/api/review/suggest" in r.url):
            page.click("#suggest-refresh")
        sync_api.expect(page.locator("#suggest-summary")).to_contain_text("16 s scored")
    finally:
        server.stop()
