"""The app in Chromium (Playwright): Review with claim highlights, uploads, Rate, Compare, a campaign round, escaping.

The app is launched once for the module (measure backend, SQLite store, two accounts). Screenshots go
to tests/artifacts/. With ../shared present, Review uses a real CPSC 2018 record; otherwise a synthetic one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from app import auth, rating
from app.main import build_demo, launch_kwargs, make_context
from app.present import PER_LEAD_FEATURES
from gem_core.settings import get_settings
from tests.conftest import REPO, SHARED_ECG, free_port

ADMIN = ("dr.admin", "admin password 1")
RATER = ("dr.rater", "rater password 1")
XSS = '<img src=x onerror=alert(1)> <script>alert("x")</script>'
TIMEOUT = 60_000
REAL_FOLDER = SHARED_ECG / "cpsc2018"
DOCS = REPO / "docs"  # the README's screenshots, refreshed by these tests


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app with the measure backend and a second, distinct interpreter: an OpenAI-compatible server
    on 127.0.0.1 (Compare needs two different readings)."""
    from tests.test_backend_openai import ChatServer

    chat = ChatServer()
    data = tmp_path_factory.mktemp("browser-data")
    users = data / "users.csv"
    auth.add_user(str(users), *ADMIN, role="admin")
    auth.add_user(str(users), *RATER)
    samples_dir = str(REAL_FOLDER) if REAL_FOLDER.is_dir() else ""
    settings = get_settings(
        data_dir=data,
        auth_file=str(users),
        port=free_port(),
        samples_dir=samples_dir,
        openai_base_url=chat.url,
        openai_model="general-vlm",
    )
    ctx = make_context(settings)
    demo = build_demo(settings, ctx)
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(ctx))
    yield demo.local_url, ctx
    demo.close()
    chat.close()


def open_app(browser, url: str, who=RATER):
    """A fresh page signed in as ``who``; alert dialogs are recorded (and dismissed) in ``page.dialogs``."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.get_by_label("username").fill(who[0])
    page.get_by_label("password").fill(who[1])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#sample-picker input", timeout=TIMEOUT)
    return page


def pick_sample(page, text: str) -> None:
    box = page.locator("#sample-picker input")
    box.click()
    box.fill(text)
    page.locator("ul[role=listbox] li", has_text=text).first.click()
    page.wait_for_selector("#ecg-plot .main-svg", timeout=TIMEOUT)


def interpret(page) -> None:
    page.click("#interpret-btn")
    wait_text(page, "#status", "Done")


def wait_text(page, selector: str, text: str) -> None:
    """Wait until ``selector``'s text contains ``text``; on timeout keep a screenshot of the page."""
    from tests.conftest import ARTIFACTS

    script = f"document.querySelector({json.dumps(selector)})?.innerText.includes({json.dumps(text)})"
    try:
        page.wait_for_function(script, timeout=TIMEOUT, polling=100)
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        raise


def upload(page, *paths) -> None:
    """Upload files with the Review tab's upload button (as the file picker would)."""
    page.locator("#upload-btn").locator("xpath=..").locator("input[type=file]").set_input_files(
        [str(p) for p in paths]
    )


def svg_texts(page, selector: str) -> list[str]:
    """The text of SVG elements (``inner_text`` is for HTML)."""
    return page.evaluate(f"[...document.querySelectorAll({json.dumps(selector)})].map((e) => e.textContent)")


def pick_option(page, elem_id: str, text: str) -> None:
    """Choose the option containing ``text`` in the dropdown ``elem_id``."""
    page.locator(f"#{elem_id} input").click()
    page.locator("ul[role=listbox] li", has_text=text).first.click()


def choose(page, elem_id: str, label: str) -> None:
    page.locator(f"#{elem_id} label", has_text=label).first.click()


def highlight_count(page) -> int:
    return page.locator("#ecg-plot .shapelayer path").count()


@pytest.fixture(scope="module")
def review_page(browser, served):
    """A page with a record loaded and interpreted (shared by the Review and Rate tests)."""
    url, _ = served
    page = open_app(browser, url)
    pick_sample(page, "A0003" if REAL_FOLDER.is_dir() else "Synthetic: Atrial fibrillation")
    interpret(page)
    yield page
    page.context.close()


def test_review_selecting_a_claim_draws_its_highlight(review_page, artifacts_dir):
    page = review_page
    assert highlight_count(page) == 0
    # a claim picked in the highlighted text itself: its evidence appears
    page.locator("#reading span.text", has_text="QRS duration").first.click()
    page.wait_for_function(
        "document.querySelectorAll('#ecg-plot .shapelayer path').length > 0", timeout=TIMEOUT, polling=100
    )
    feature = page.locator("#evidence-table [role=gridcell][data-col='3']")
    assert feature.count() >= 1 and "qrs" in feature.first.inner_text().lower()
    # the claim's close-up: its leads by name, time in seconds, the paper settings
    view = "document.querySelector('#ecg-plot .js-plotly-plot').layout.meta.gem_viewer"
    page.wait_for_function(f"{view}.view === 'claim'", timeout=TIMEOUT, polling=100)
    leads = page.evaluate(f"{view}.leads")
    assert 1 <= len(leads) <= 12
    notes = svg_texts(page, "#ecg-plot .annotation-text")
    assert set(leads) <= set(notes) and any("25 mm/s" in n and "10 mm/mV" in n for n in notes)
    ticks = svg_texts(page, "#ecg-plot .xtick text")
    labelled = [t for t in ticks if t]
    assert len(labelled) >= 3 and all(t.replace(".", "").isdigit() for t in labelled)
    assert page.locator("#ecg-plot .g-xtitle", has_text="time (s)").count() == 1
    page.screenshot(path=str(artifacts_dir / "claim-view.png"), full_page=True)
    page.locator("#ecg-plot").screenshot(path=str(DOCS / "claim-view.png"))
    cells = page.locator("#claims-table [role=gridcell][data-col='2']")
    assert cells.count() >= 3
    cells.filter(has_text="ST").first.click() if cells.filter(has_text="ST").count() else cells.nth(1).click()
    page.wait_for_timeout(500)
    page.wait_for_function(
        "document.querySelectorAll('#ecg-plot .shapelayer path').length > 0", timeout=TIMEOUT, polling=100
    )
    assert page.locator("#reading").inner_text().count("selected claim") == 1  # legend entry
    evidence_rows = page.locator("#evidence-table [role=gridcell][data-col='0']")
    assert evidence_rows.count() >= 1
    page.screenshot(path=str(artifacts_dir / "review.png"), full_page=True)
    page.screenshot(path=str(DOCS / "review.png"), full_page=True)

    choose(page, "layout-radio", "3x4+II")  # the highlight survives a layout switch
    page.wait_for_timeout(800)
    page.wait_for_function(
        "document.querySelectorAll('#ecg-plot .shapelayer path').length > 0", timeout=TIMEOUT, polling=100
    )
    assert page.evaluate(f"{view}.layout") == "3x4+II"  # another layout: the whole ECG again
    page.screenshot(path=str(artifacts_dir / "review-3x4.png"), full_page=True)
    choose(page, "layout-radio", "12x1")
    page.wait_for_function(f"{view}.layout === '12x1'", timeout=TIMEOUT, polling=100)
    cells.nth(0).click()  # a claim's close-up again, then "Whole ECG"
    page.wait_for_function(f"{view}.view === 'claim'", timeout=TIMEOUT, polling=100)
    page.click("#whole-btn")
    page.wait_for_function(f"{view}.layout === '12x1'", timeout=TIMEOUT, polling=100)
    assert highlight_count(page) > 0  # the claim stays highlighted on the whole tracing
    page.locator("#beats-box input").check()  # beat markers come with their legend
    page.wait_for_function(
        "document.querySelectorAll('#ecg-plot .legend .legendtext').length >= 3", timeout=TIMEOUT, polling=100
    )
    legend = " ".join(svg_texts(page, "#ecg-plot .legend text"))
    page.locator("#ecg-plot").screenshot(path=str(artifacts_dir / "beat-markers.png"))
    assert all(w in legend for w in ("Beat markers", "QRS onset", "T offset")), legend  # AF: no P
    page.locator("#beats-box input").uncheck()
    assert page.dialogs == []


def test_a_bad_upload_keeps_the_tracing_and_a_good_one_replaces_it(
    browser, served, synthetic, tmp_path, artifacts_dir
):
    url, _ = served
    page = open_app(browser, url)
    pick_sample(page, "Synthetic")
    wait_text(page, "#status", "Measured")
    shown = "document.querySelector('#ecg-plot .js-plotly-plot').layout.meta.gem_viewer.record_id"
    before, info = page.evaluate(shown), page.locator("#record-info").inner_text()

    bad = tmp_path / "five_leads.npy"
    np.save(bad, np.zeros((5, 100), dtype=np.float32))
    upload(page, bad)
    toast = page.locator(".toast-body", has_text="five_leads.npy has shape (5, 100)")
    toast.wait_for(timeout=TIMEOUT)
    assert "expected (12, N)" in toast.inner_text() and "Traceback" not in toast.inner_text()
    page.wait_for_timeout(300)  # a late redraw would have replaced the tracing by now
    assert page.evaluate(shown) == before and info in page.locator("#record-info").inner_text()
    page.screenshot(path=str(artifacts_dir / "upload-error.png"), full_page=True)

    leads = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]  # III, aVR, aVL, aVF are derived
    ecg = synthetic(heart_rate=64, duration_s=10)
    good = tmp_path / "eight_leads.csv"
    np.savetxt(
        good,
        np.stack([ecg.lead(n) for n in leads], axis=1),
        delimiter=",",
        header=",".join(leads),
        comments="",
    )
    upload(page, good)
    wait_text(page, "#record-info", "derived III, aVR, aVL, aVF")  # the loader's warning is on screen
    page.wait_for_function(f"{shown} === 'eight_leads'", timeout=TIMEOUT, polling=100)
    interpret(page)  # the app is still usable
    assert page.dialogs == []
    page.context.close()


@pytest.mark.skipif(not REAL_FOLDER.is_dir(), reason="needs the 15 s CPSC record A0001 in ../shared")
def test_a_long_record_is_paged(browser, served):
    url, _ = served
    page = open_app(browser, url)
    pick_sample(page, "A0001")
    wait_text(page, "#status", "Measured")
    start = "document.querySelector('#ecg-plot .js-plotly-plot').layout.meta.gem_viewer.start_ms"
    assert page.locator("#page-start").is_visible() and page.evaluate(start) == 0
    slider = page.locator("#page-start input[type=range]")
    slider.fill("5")  # the last page: 5-15 s
    slider.dispatch_event("pointerup")
    page.wait_for_function(f"{start} === 5000", timeout=TIMEOUT, polling=100)
    page.context.close()


def test_rate_submits_and_reopens_the_previous_rating(review_page, served, artifacts_dir):
    page, (_, ctx) = review_page, served
    page.get_by_role("tab", name="Rate").click()
    wait_text(page, "#rate-which", "on ")
    for name, score in zip(rating.metrics(), ["5", "4", "4", "3", "2", "4", "4"], strict=True):
        choose(page, f"rate-{name.name}", score)
    page.locator("#rate-comment textarea").fill(XSS)
    page.click("#rate-submit")
    wait_text(page, "#rate-status", "Saved")
    mine = ctx.store.my_ratings(auth.find_rater(ctx, RATER[0]))
    assert mine[-1].comment == XSS and mine[-1].scores["findings_novelty"] == 2

    page.get_by_role("tab", name="Review").click()
    page.get_by_role("tab", name="Rate").click()
    wait_text(page, "#rate-which", "version 1")
    assert page.locator("#rate-findings_novelty input[type=radio]:checked").get_attribute("value") == "2"
    assert page.locator("#rate-comment textarea").input_value() == XSS  # shown as text, not markup
    # the rater sees what they rate: the tracing, with the reading's evidence highlighted
    assert page.locator("#rate-plot .main-svg").count() >= 1
    page.wait_for_function(
        "document.querySelectorAll('#rate-plot .shapelayer path').length > 0", timeout=TIMEOUT, polling=100
    )
    page.screenshot(path=str(artifacts_dir / "rate.png"), full_page=True)
    page.screenshot(path=str(DOCS / "rate.png"), full_page=True)
    assert page.dialogs == [] and page.locator("img[src=x]").count() == 0


def test_compare_blind_pair_and_preference(browser, served, artifacts_dir):
    url, ctx = served
    page = open_app(browser, url)
    pick_sample(page, "Synthetic")
    page.get_by_role("tab", name="Compare").click()
    # the same deterministic interpreter twice gives one text twice: no pair is offered
    pick_option(page, "compare-second", "measurement-based")
    before = ctx.store.counts()["preferences"]
    page.click("#compare-generate")
    wait_text(page, "#compare-status", "No pair to compare")
    assert page.locator("#compare-a").inner_text().strip() in ("", "A")
    choose(page, "compare-choice", "A is better")
    page.click("#compare-submit")
    page.locator(".toast-body", has_text="generate both").first.wait_for(timeout=TIMEOUT)
    assert ctx.store.counts()["preferences"] == before
    # two different interpreters: a blind pair, the tracing with A's evidence, then B's
    pick_option(page, "compare-second", "OpenAI-compatible")
    page.click("#compare-generate")
    wait_text(page, "#compare-status", "Choose")
    page.wait_for_function(
        "document.querySelectorAll('#compare-plot .shapelayer path').length > 0", timeout=TIMEOUT, polling=100
    )
    a_text, b_text = page.locator("#compare-a").inner_text(), page.locator("#compare-b").inner_text()
    assert a_text != b_text
    # what the highlights draw (each shape's outline), not only how many: A's and B's may count alike
    shapes = "Array.from(document.querySelectorAll('#compare-plot .shapelayer path'), p => p.getAttribute('d')).join('|')"
    page.wait_for_timeout(300)  # let Plotly finish drawing A's figure before reading it
    shown_a = page.evaluate(shapes)
    choose(page, "compare-shown", "B")
    page.wait_for_function(f"{shapes} !== {json.dumps(shown_a)}", timeout=TIMEOUT, polling=100)
    assert "measure" not in page.locator("#compare-a").inner_text().lower()  # labels are blind
    before = ctx.store.counts()["preferences"]
    choose(page, "compare-choice", "Tie")
    page.locator("#compare-rationale textarea").fill("Same reading " + XSS)
    page.click("#compare-submit")
    wait_text(page, "#compare-status", "Saved")
    assert ctx.store.counts()["preferences"] == before + 1
    page.screenshot(path=str(artifacts_dir / "compare.png"), full_page=True)
    page.screenshot(path=str(DOCS / "compare.png"), full_page=True)

    page.click("#compare-rate-b")  # optionally rate one side in full, still blind
    wait_text(page, "#compare-status", "ready on the Rate tab")
    page.get_by_role("tab", name="Rate").click()
    wait_text(page, "#rate-which", "Interpretation B (blind)")
    assert "measure" not in page.locator("#rate-which").inner_text()
    assert page.dialogs == []
    page.context.close()


def test_campaign_round_with_escaped_model_text(browser, served, tmp_path, artifacts_dir):
    url, ctx = served
    admin = auth.ensure_rater(ctx, ADMIN[0], ADMIN[0], "admin")
    auth.ensure_rater(ctx, RATER[0], RATER[0])
    lines = [
        {"case": "synthetic:60bpm", "interpretations": [{"model": "gem", "text": "Sinus rhythm. " + XSS}]},
        {
            "case": "synthetic:100bpm",
            "interpretations": [{"model": "gem", "text": "Sinus tachycardia at 100 bpm. " + XSS}],
        },
    ]
    path = tmp_path / "round.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    rating.import_campaign(ctx, admin, str(path), "browser-round", "Rate each reading **blind**.", "rate", 1)

    page = open_app(browser, url)
    page.get_by_role("tab", name="Campaign").click()
    page.wait_for_timeout(1500)  # the tab's select event refreshes the campaign list
    box = page.locator("#camp-name input")
    box.click()
    page.locator("ul[role=listbox] li", has_text="browser-round").first.click()
    page.click("#camp-start")
    wait_text(page, "#camp-progress", "of 2")
    first = page.locator("#camp-progress").inner_text()
    assert "0 of 2 done" in first
    assert "gem" not in page.locator("#camp-label").inner_text()  # blind model name
    first_text = page.locator("#camp-text").inner_text()
    for m in rating.metrics():
        choose(page, f"camp-{m.name}", "3")
    page.click("#camp-submit")
    wait_text(page, "#camp-status", "1 of 2")
    page.click("#camp-next")
    wait_text(page, "#camp-progress", "1 of 2 done")
    # the second item's own text, and an empty form: no score is carried over from the first item
    page.wait_for_function(
        f"document.querySelector('#camp-text').innerText !== {json.dumps(first_text)}", timeout=TIMEOUT
    )
    page.wait_for_function("document.querySelectorAll('[id^=camp-] input[type=radio]:checked').length <= 1")
    checked = page.locator("[id^=camp-] input[type=radio]:checked")
    assert checked.count() <= 1  # at most the blind-label choice, never a score
    assert all(
        checked.nth(i).get_attribute("value") not in {"1", "2", "3", "4", "5"} for i in range(checked.count())
    )
    page.wait_for_selector("#camp-plot .main-svg", timeout=TIMEOUT)  # the item's tracing
    page.screenshot(path=str(artifacts_dir / "campaign.png"), full_page=True)
    page.click("#camp-prev")  # back to the first item (both items' texts carry the payload)
    wait_text(page, "#camp-text", "onerror")
    page.wait_for_timeout(500)
    assert page.dialogs == [] and page.locator("img[src=x]").count() == 0
    assert page.locator("#camp-text script").count() == 0
    page.context.close()


def test_admin_tab_refuses_a_rater(browser, served):
    url, _ = served
    page = open_app(browser, url)
    page.get_by_role("tab", name="Admin").click()
    wait_text(page, "#adm-summary-head", "not an admin")  # the summary opens with the tab: no numbers
    assert "(n =" not in page.locator("#adm-table").inner_text()  # no model columns were sent
    page.get_by_role("tab", name="Export").click()
    page.click("#adm-export")
    page.wait_for_selector("text=not an admin >> visible=true", timeout=TIMEOUT)  # the error message
    page.context.close()


def test_admin_imports_a_campaign_reads_its_summary_and_downloads_an_export(
    browser, served, tmp_path, artifacts_dir
):
    import csv

    url, ctx = served
    first, second = auth.find_rater(ctx, RATER[0]), auth.ensure_rater(ctx, "dr.second", "dr.second")
    lines = [
        {
            "case": f"synthetic:{hr}bpm",
            "interpretations": [
                {"model": "gem-7b", "text": f"Sinus rhythm at {hr} bpm."},
                {"model": "baseline", "text": "Normal ECG."},
            ],
        }
        for hr in (60, 100)  # the campaign round's cases: loaded once per process
    ]
    path = tmp_path / "admin-study.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))

    page = open_app(browser, url, who=ADMIN)
    page.get_by_role("tab", name="Admin").click()
    wait_text(page, "#adm-summary-head", "All ratings")  # the summary opens with the tab
    page.get_by_role("tab", name="Import campaign").click()
    page.locator("#adm-file input[type=file]").set_input_files(str(path))
    page.locator("#adm-file", has_text="admin-study.jsonl").wait_for(timeout=TIMEOUT)
    page.click("#adm-import")
    wait_text(page, "#adm-import-status", "Imported campaign admin-study: 2 cases")

    # two raters rate every case (both models, varied scores) and choose A or B
    for n, who in enumerate((first, second)):
        while (item := ctx.store.next_item(who, "admin-study")) is not None:
            for it in item.interpretations:
                gem = ctx.store.interpretation(it["id"])["model"] == "gem-7b"
                scores = {
                    m.name: min(5, 3 + gem + (k + n + item.item_id) % 2)
                    for k, m in enumerate(rating.metrics())
                }
                ctx.store.submit_rating(
                    who,
                    it["id"],
                    scores,
                    "",
                    10.0,
                    idempotency_key=rating_key(it, n),
                    assignment_id=item.assignment_id,
                )
            a, b = (it["id"] for it in item.interpretations)
            ctx.store.submit_preference(who, a, b, "a", "", 5.0, idempotency_key=f"adm-pref-{n}-{a}")

    page.get_by_role("tab", name="Summary").click()
    page.locator("#adm-camp input").click()
    page.locator("ul[role=listbox] li", has_text="admin-study").first.click()
    # the campaign's own headline (the tab's "All ratings" refresh may still arrive first)
    wait_text(
        page, "#adm-summary-head", "admin-study: 8 ratings of 2 models and 4 A/B choices, from 2 raters"
    )
    assert "4 of 4 done" in page.locator("#adm-summary-head").inner_text()
    table = page.locator("#adm-table")
    assert "gem-7b (n = 4)" in table.inner_text() and "Overall Satisfaction" in table.inner_text()
    assert page.locator("#adm-agreement").inner_text().count("0.") >= 7  # alpha to 3 decimals per metric
    page.wait_for_function("document.querySelectorAll('#adm-chart .errorbar').length === 14", timeout=TIMEOUT)
    page.screenshot(path=str(artifacts_dir / "admin-summary.png"), full_page=True)

    page.get_by_role("tab", name="Export").click()
    choose(page, "adm-format", "CSV")
    page.locator("#adm-exp-camp input").click()
    page.locator("ul[role=listbox] li", has_text="admin-study").first.click()
    page.click("#adm-export")
    wait_text(page, "#adm-export-status", "Exported 8 ratings (campaign admin-study)")
    with page.expect_download() as download:
        page.locator("#adm-download a[download]").first.click()
    with open(download.value.path(), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {r["model"] for r in rows} == {"gem-7b", "baseline"}
    assert {r["rater"] for r in rows} == {first.pseudonym, second.pseudonym}  # pseudonyms, not usernames
    page.screenshot(path=str(artifacts_dir / "admin-export.png"), full_page=True)
    assert page.dialogs == []
    page.context.close()


def rating_key(interp: dict, n: int) -> str:
    return f"adm-rating-{n}-{interp['id']}"


def test_readings_wrap_between_words_and_gallery_captions_are_whole(browser, served, artifacts_dir):
    url, ctx = served
    page = open_app(browser, url)
    page.get_by_role("tab", name="Samples").click()
    page.wait_for_selector("#sample-gallery .caption-label", timeout=TIMEOUT)
    captions = page.evaluate(
        """[...document.querySelectorAll('#sample-gallery .caption-label')].map((e) => ({
             text: e.textContent.trim(), cut: e.scrollWidth > e.clientWidth + 1,
             style: getComputedStyle(e).textOverflow}))"""
    )
    titles = {s["caption"] for s in present_samples(ctx)}
    assert captions and all(c["text"] in titles and not c["cut"] for c in captions), captions
    assert any(c["text"] == "Synthetic sinus rhythm, 75 bpm" for c in captions)
    page.locator("#sample-gallery").screenshot(path=str(artifacts_dir / "gallery.png"))

    pick_sample(page, "Synthetic")
    interpret(page)
    # a narrow reading column: every line ends between words
    page.set_viewport_size({"width": 900, "height": 1000})
    page.wait_for_timeout(300)
    style = page.evaluate("getComputedStyle(document.querySelector('#reading .textfield')).wordBreak")
    assert style != "break-all"
    broken = page.evaluate(
        """(() => {
          // a word split over two lines has its characters at two different heights
          const out = [];
          for (const span of document.querySelectorAll('#reading .textfield span')) {
            const walker = document.createTreeWalker(span, NodeFilter.SHOW_TEXT);
            let node;
            while ((node = walker.nextNode())) {
              for (const m of node.textContent.matchAll(/[A-Za-z]{4,}/g)) {
                const r = document.createRange();
                r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
                if (r.getClientRects().length > 1) out.push(m[0]);
              }
            }
          }
          return out;
        })()"""
    )
    assert broken == [], broken
    page.context.close()


def present_samples(ctx):
    from app import present

    return present.samples(ctx)


CLIPPED_CELLS = """(id) => {
  // every cell of the table, with whether its text shows whole: its right edge inside the component,
  // the topmost element there is the cell itself, and its text does not overflow the cell
  const table = document.getElementById(id);
  table.scrollIntoView({block: 'start'});
  const box = table.getBoundingClientRect();
  return [...table.querySelectorAll('[role=gridcell]')].map((cell) => {
    const r = cell.getBoundingClientRect();
    const wrap = cell.querySelector('.cell-wrap') || cell;
    const top = document.elementFromPoint(r.right - 2, (r.top + r.bottom) / 2);
    const whole = r.right <= box.right + 1 && cell.contains(top) && wrap.scrollWidth <= wrap.clientWidth + 1;
    return {col: cell.dataset.col, text: cell.innerText.trim(), whole};
  });
}"""


def test_measurement_tables_show_every_value_whole(browser, served, artifacts_dir):
    # The Measurements tab once cut off the global table's value column (and the per-lead table's last
    # columns) behind a horizontal scroll: every value must be readable as the page opens.
    url, _ = served
    page = open_app(browser, url)
    pick_sample(page, "A0003" if REAL_FOLDER.is_dir() else "Synthetic: Atrial fibrillation")
    wait_text(page, "#status", "Measured")
    page.get_by_role("tab", name="Measurements").click()
    wait_text(page, "#global-table", "Heart rate")
    # global rows: 14, or 15 where the rate's QTc is not Bazett's and both are listed; one row per lead
    for table, columns, rows in (
        ("global-table", 2, (14, 15)),
        ("lead-table", 2 + len(PER_LEAD_FEATURES), (12,)),
    ):
        cells = page.evaluate(CLIPPED_CELLS, table)
        assert len(cells) in [n * columns for n in rows], (table, len(cells))
        assert {c["col"] for c in cells} == {str(i) for i in range(columns)}
        assert [c for c in cells if not c["whole"]] == [], table
    values = [c["text"] for c in page.evaluate(CLIPPED_CELLS, "global-table") if c["col"] == "1"]
    assert values[0].endswith(" bpm") and values[0][0].isdigit()  # heart rate, with its unit
    page.locator("#global-table").screenshot(path=str(artifacts_dir / "measurements.png"))
    page.context.close()
