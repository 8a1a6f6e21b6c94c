"""training.make_data against a real HTTP server on 127.0.0.1 speaking the OpenAI chat API, on real records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gem_core.errors import GemError
from tests.conftest import free_port
from tests.test_backend_openai import ChatServer
from training.make_data import MakeDataConfig, main, make_data

RECORDS = ("cinc2021_torch_ecg/E07500", "cinc2021_torch_ecg/E07512", "cinc2021_torch_ecg/HR06004")
CONTRADICTED = "Sinus tachycardia at 150 bpm. The QRS duration is 200 ms."


@pytest.fixture(scope="module")
def server():
    srv = ChatServer()
    yield srv
    srv.close()


@pytest.fixture
def chat(server):
    server.reset()
    return server


def records_dir(shared_ecg_dir: Path, folder: Path, names=RECORDS) -> Path:
    """A --records folder holding links to real records (as a user's folder of ECGs)."""
    for name in names:
        for src in (shared_ecg_dir / name).parent.glob(Path(name).name + ".*"):
            dst = folder / Path(name).parent.name / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)
    return folder


@pytest.fixture(scope="module")
def measured_e07500(shared_ecg_dir):
    from gem_core.ecg import load_ecg
    from gem_core.features import machine_measurements_text, measure

    return machine_measurements_text(measure(load_ecg(shared_ecg_dir / "cinc2021_torch_ecg" / "E07500.hea")))


@pytest.fixture(scope="module")
def supported(measured_e07500) -> str:
    """An answer that grounding supports on E07500: its label and its own measured rate and QRS."""
    import re

    line = next(x for x in measured_e07500.splitlines() if x.startswith("Global:"))
    hr, qrs = re.search(r"heart rate (\d+) bpm", line).group(1), re.search(r"QRS (\d+) ms", line).group(1)
    assert int(hr) < 60  # E07500 is labelled sinus bradycardia (SNOMED CT 426177001)
    return f"Sinus bradycardia at {hr} bpm. The QRS duration is {qrs} ms."


def cfg(records, out, url, **kw) -> MakeDataConfig:
    return MakeDataConfig(
        records=str(records), out=str(out), base_url=url, model="writer", backoff_s=0.01, progress=False, **kw
    )


def test_prompt_holds_measurements_and_a_contradicted_answer_is_asked_again(
    chat, shared_ecg_dir, tmp_path, measured_e07500, supported
):
    records = records_dir(shared_ecg_dir, tmp_path / "ecgs", RECORDS[:1])
    chat.answers = [CONTRADICTED, supported]
    result = make_data(cfg(records, tmp_path / "data.json", chat.url))
    assert result.written == 1 and result.dropped == [] and result.requests == 2
    first = chat.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["model"] == "writer" and not first.get("stream")
    user = first["messages"][1]["content"]
    assert measured_e07500 in user  # every measured value of the record, as gem_core writes them
    assert "Global: heart rate " in user and " bpm; " in user and "; QRS " in user
    assert "sinus bradycardia" in user  # its header label (SNOMED CT 426177001), by name
    data = json.loads((tmp_path / "data.json").read_text())
    assert [r["id"] for r in data] == ["E07500"] and data[0]["ecg"] == "cinc2021_torch_ecg/E07500"
    assert data[0]["conversations"][1] == {"from": "gpt", "value": supported}
    assert data[0]["conversations"][0]["value"].startswith("<image>\n")
    # SFT reads it as it is, with --ecg-root = --records
    from gem_core.model.tiny import build_tiny
    from training.data import SftDataset, read_records

    ds = SftDataset(read_records(tmp_path / "data.json"), build_tiny().processor, records, progress=False)
    assert len(ds) == 1 and ds[0]["ecg_values"].shape == (12, 5000)
    run = json.loads((tmp_path / "data.json.run.json").read_text())
    assert run["status"] == "finished" and run["written"] == 1 and run["requests"] == 2


def test_an_answer_that_stays_contradicted_is_dropped_and_logged(chat, shared_ecg_dir, tmp_path):
    records = records_dir(shared_ecg_dir, tmp_path / "ecgs", RECORDS[:1])
    chat.answers = [CONTRADICTED]
    result = make_data(cfg(records, tmp_path / "data.json", chat.url, attempts=3))
    assert result.written == 0 and result.requests == 3
    assert [d["id"] for d in result.dropped] == ["E07500"]
    assert (
        "contradicted claims after 3 answers" in result.dropped[0]["reason"]
        and "150 bpm" in result.dropped[0]["reason"]
    )
    assert not (tmp_path / "data.json").exists()
    assert "1 dropped (E07500: contradicted" in result.summary()
    assert json.loads((tmp_path / "data.json.run.json").read_text())["dropped"] == result.dropped


def test_rerun_skips_finished_ids_and_requests_run_concurrently(chat, shared_ecg_dir, tmp_path):
    records = records_dir(shared_ecg_dir, tmp_path / "ecgs")
    out = tmp_path / "data.json"
    chat.answers = ["Sinus rhythm."]
    first = make_data(cfg(records, out, chat.url, limit=1))
    assert first.written == 1 and len(chat.requests) == 1
    done = json.loads(out.read_text())
    chat.delay_s = 0.5
    second = make_data(cfg(records, out, chat.url, concurrency=2))
    assert second.already == 1 and second.written == 2 and len(chat.requests) == 3
    data = json.loads(out.read_text())
    assert data[0] == done[0] and sorted(r["id"] for r in data) == ["E07500", "E07512", "HR06004"]
    assert chat.max_in_flight == 2  # both new records were asked at once
    third = make_data(cfg(records, out, chat.url))
    assert third.written == 0 and third.already == 3 and len(chat.requests) == 3  # nothing left to ask


def test_transient_server_errors_are_retried_with_backoff(chat, shared_ecg_dir, tmp_path, supported):
    records = records_dir(shared_ecg_dir, tmp_path / "ecgs", RECORDS[:1])
    chat.statuses = [503, 429]
    chat.answers = [supported]
    result = make_data(cfg(records, tmp_path / "data.json", chat.url, retries=2))
    assert result.written == 1 and result.requests == 3


def test_server_down_is_a_clear_error_and_leaves_no_file(chat, shared_ecg_dir, tmp_path):
    records = records_dir(shared_ecg_dir, tmp_path / "ecgs", RECORDS[:1])
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    out = tmp_path / "data.json"
    with pytest.raises(
        GemError,
        match=r"cannot get an answer from .* after 2 tries .*is the server running\?; nothing was written",
    ):
        make_data(cfg(records, out, down, retries=1))
    assert not out.exists() and not list(tmp_path.glob("data.json*"))
    # a server that keeps failing: the same, with what was kept
    chat.status = 500
    with pytest.raises(GemError, match="HTTP 500"):
        make_data(cfg(records, out, chat.url, retries=1))
    assert not out.exists()
    chat.status = 404  # not transient (e.g. a wrong model name): no retries
    with pytest.raises(GemError, match="refused the request"):
        make_data(cfg(records, out, chat.url, retries=3))
    assert len(chat.requests) == 2 + 1


def test_cli_dry_run_help_and_bad_input(chat, shared_ecg_dir, tmp_path, capsys, measured_e07500, supported):
    records = records_dir(shared_ecg_dir, tmp_path / "ecgs", RECORDS[:1])
    base = [
        "--records",
        str(records),
        "--out",
        str(tmp_path / "d.json"),
        "--base-url",
        chat.url,
        "--model",
        "m",
    ]
    assert main([*base, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "# record E07500" in printed and measured_e07500 in printed and chat.requests == []
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "--concurrency" in capsys.readouterr().out
    assert main([*base[:1], str(tmp_path / "none"), *base[2:]]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --records")
    bad = tmp_path / "d.json"
    bad.write_text('[{"id": "E07500",')
    assert main(base) == 2  # an existing output that is not valid JSON is never overwritten
    assert "d.json:1: not valid JSON" in capsys.readouterr().err and bad.read_text() == '[{"id": "E07500",'
    chat.answers = [supported]
    bad.unlink()
    assert main([*base, "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("make_data: 1 records written, 0 already done, 0 dropped")


def test_an_unreadable_record_is_dropped_and_the_others_written(chat, shared_ecg_dir, tmp_path, supported):
    records = records_dir(shared_ecg_dir, tmp_path / "ecgs", RECORDS[:1])
    header = (shared_ecg_dir / "cpsc2018" / "A0002.hea").read_text().replace("A0002", "broken")
    (records / "broken.hea").write_text(header)
    (records / "broken.mat").write_bytes(b"\x00\x01garbage")
    chat.answers = [supported]
    result = make_data(cfg(records, tmp_path / "data.json", chat.url))
    assert result.written == 1 and len(chat.requests) == 1  # nothing was asked for the broken record
    assert [d["id"] for d in result.dropped] == ["broken"]
    assert result.dropped[0]["reason"].startswith("unreadable record")
    assert [r["id"] for r in json.loads((tmp_path / "data.json").read_text())] == ["E07500"]
