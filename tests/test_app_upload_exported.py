"""Uploading the files hospitals export: DICOM, aECG/Philips/MUSE XML, CODE-15% HDF5 and zips of them.

Handlers without a browser on a real store, and the upload button in Chromium: a CODE-15% file offers
its exams, a DICOM file shows the cart's reading beside the tracing, and no identifier reaches the page.
"""

from __future__ import annotations

import zipfile

import pytest

from app import handlers, present
from app.main import build_demo, launch_kwargs, make_context
from gem_core.errors import GemError
from gem_core.samples import synthetic_ecg
from gem_core.settings import get_settings
from tests.conftest import free_port
from tests.ecg_exports import (
    at_400_hz,
    identifier_strings,
    write_aecg,
    write_code15,
    write_dicom,
    write_muse,
    write_philips,
)

TIMEOUT = 60_000


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    data = tmp_path_factory.mktemp("app-data")
    return make_context(get_settings(data_dir=data, allow_anonymous_rating=True, auth_file=""))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    ecg = synthetic_ecg(heart_rate=75, duration_s=10, fs=500)
    out = {
        "dicom": write_dicom(folder / "rest.dcm", ecg),
        "aecg": write_aecg(folder / "trial.xml", ecg),
        "philips": write_philips(folder / "pagewriter.xml", ecg),
        "muse": write_muse(folder / "muse.xml", ecg),
        "code15": write_code15(
            folder / "exams.hdf5",
            {
                3301: at_400_hz(ecg),
                3302: at_400_hz(synthetic_ecg(heart_rate=100, duration_s=10, fs=500)),
            },
        ),
    }
    archive = folder / "exports.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for key in ("dicom", "muse"):
            zf.write(out[key], out[key].name)
    out["zip"] = archive
    out["pacs"] = folder / "IM000001"  # PACS exports name DICOM files without an extension
    out["pacs"].write_bytes(out["dicom"].read_bytes())
    return out


@pytest.mark.parametrize("kind", ["dicom", "aecg", "philips", "muse"])
def test_upload_of_each_exported_format(ctx, files, kind):
    session = handlers.load_upload(ctx, [str(files[kind])])
    assert session.ecg.n_samples == 5000 and session.ecg.fs == 500.0
    assert session.records == []  # one record: nothing to choose
    info = present.record_info(session)
    assert "**Cart's reading**" in info and "Sinus rhythm; Normal ECG" in info and "QTc 424 ms" in info
    assert not [s for s in identifier_strings() if s.lower() in info.lower()]
    handlers.registered(ctx, session)
    assert session.case_id is not None  # stored as a case


def test_code15_upload_offers_its_exams(ctx, files):
    session = handlers.load_upload(ctx, [str(files["code15"])])
    assert session.records == ["3301", "3302"] and session.ecg.record_id == "exams-3301"
    other = handlers.load_record_in_upload(ctx, session, "3302")
    assert other.ecg.record_id == "exams-3302" and other.records == ["3302", "3301"]
    hr = handlers.measured(other).measurements.global_values["heart_rate_bpm"]
    assert hr == pytest.approx(100, abs=2)
    with pytest.raises(GemError, match="no record '9999' in the uploaded file"):
        handlers.load_record_in_upload(ctx, session, "9999")


def test_zip_of_exported_files_offers_its_members(ctx, files):
    session = handlers.load_upload(ctx, [str(files["zip"])])
    assert session.records == ["muse.xml", "rest.dcm"]
    assert session.ecg.report["source_format"] == "ge-muse-xml"
    other = handlers.load_record_in_upload(ctx, session, "rest.dcm")
    assert other.ecg.report["source_format"] == "dicom"


def test_a_dicom_without_an_extension_is_taken_and_other_files_are_refused_clearly(ctx, files, tmp_path):
    session = handlers.load_upload(ctx, [str(files["pacs"])])
    assert session.ecg.report["source_format"] == "dicom" and session.ecg.n_samples == 5000
    junk = tmp_path / "notes"
    junk.write_text("not an ECG\n")
    with pytest.raises(GemError, match="unsupported file type '\\(no extension\\)' for notes; use .hea"):
        handlers.load_upload(ctx, [str(junk)])
    # the upload button filters nothing, so the browser hands such files over (see the Chromium test)
    demo = build_demo(get_settings(data_dir=tmp_path, auth_file=""), ctx)
    button = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "upload-btn")
    assert button.file_types is None


def test_source_reading_line_escapes_file_text():
    line = present.source_reading_md(
        {"system": "GE MUSE", "statements": ["<b>AF</b> *fast*"], "measurements": {"heart_rate_bpm": 140}}
    )
    assert "<b>" not in line and "\\*fast\\*" in line and "HR 140 bpm" in line
    assert present.source_reading_md(None) == "" and present.source_reading_md({"statements": []}) == ""


# ------------------------------------------------------------------------------------------ in Chromium


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("browser-data")
    settings = get_settings(data_dir=data, port=free_port(), auth_file="", allow_anonymous_rating=True)
    context = make_context(settings)
    demo = build_demo(settings, context)
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(context))
    yield demo.local_url
    demo.close()


@pytest.mark.browser
def test_browser_upload_code15_pick_an_exam_then_a_dicom(browser, served, files):
    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    page.goto(served)
    page.wait_for_selector("#upload-btn", timeout=TIMEOUT)
    file_input = page.locator("#upload-btn").locator("xpath=..").locator("input[type=file]")
    shown = "document.querySelector('#ecg-plot .js-plotly-plot')?.layout.meta.gem_viewer.record_id"

    file_input.set_input_files([str(files["code15"])])
    page.wait_for_function(f"{shown} === 'exams-3301'", timeout=TIMEOUT, polling=100)
    picker = page.locator("#record-in-file")
    assert picker.is_visible()
    picker.locator("input").click()
    page.locator("ul[role=listbox] li", has_text="3302").first.click()
    page.wait_for_function(f"{shown} === 'exams-3302'", timeout=TIMEOUT, polling=100)
    assert "trimmed CODE-15% zero padding" in page.locator("#record-info").inner_text()

    file_input.set_input_files([str(files["dicom"])])
    page.wait_for_function(f"{shown} === 'rest'", timeout=TIMEOUT, polling=100)
    info = page.locator("#record-info").inner_text()
    assert "Cart's reading" in info and "Sinus rhythm; Normal ECG" in info
    page.wait_for_function(
        "!document.querySelector('#record-in-file') || "
        "document.querySelector('#record-in-file').offsetParent === null",
        timeout=TIMEOUT,
    )
    html = page.content().lower()
    assert not [s for s in identifier_strings() if s.lower() in html]

    # a DICOM file as PACS exports it, with no extension: the button takes it, load_ecg reads it
    file_input.set_input_files([str(files["pacs"])])
    page.wait_for_function(f"{shown} === 'IM000001'", timeout=TIMEOUT, polling=100)
    assert "Cart's reading" in page.locator("#record-info").inner_text()
    page.context.close()
