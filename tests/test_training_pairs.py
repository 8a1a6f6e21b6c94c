"""``training.pairs``: verifier-made preference pairs, sampled from the ``openai`` backend pointed at a
real chat-completions server on 127.0.0.1 (``ChatServer`` of the backend tests) with canned answers."""

from __future__ import annotations

import json
import threading
import uuid

import numpy as np
import pytest

from annotations.exports import ROW_FIELDS, check_row
from gem_core.errors import GemError
from tests.conftest import free_port
from tests.test_backend_openai import ChatServer
from training.pairs import Scored, choose, main, make_pairs

NEUTRAL = "The tracing was reviewed."
NEUTRAL_2 = "Leads were recorded for ten seconds."
WRONG_1 = "The heart rate is 300 bpm."  # no real record has this rate: one contradicted claim
WRONG_2 = "The heart rate is 300 bpm. The QRS duration is 400 ms."  # two contradicted claims
RECORDS = ("cpsc2018/A0001", "cpsc2018/A0002", "cinc2021_torch_ecg/E07500")


class CannedServer(ChatServer):
    """The backend tests' server, answering request n with ``replies[n % len(replies)]`` (one chunk)."""

    replies: list[str] = []

    @property
    def words(self) -> list[str]:  # read once per request by the handler
        with self.served_lock:
            reply = self.replies[self.served % len(self.replies)]
            self.served += 1
        return [reply]

    @words.setter
    def words(self, value) -> None:  # ChatServer.reset sets its default words; the replies rule instead
        self.served_lock, self.served = threading.Lock(), 0


@pytest.fixture(scope="module")
def server():
    srv = CannedServer()
    yield srv
    srv.close()


@pytest.fixture
def records(shared_ecg_dir, tmp_path):
    """Three real records (links, not copies) and one file that is no ECG."""
    folder = tmp_path / "records"
    folder.mkdir()
    for rec in RECORDS:
        for f in (shared_ecg_dir / rec).parent.glob((shared_ecg_dir / rec).name + ".*"):
            (folder / f.name).symlink_to(f)
    (folder / "notes.csv").write_text("patient,comment\nx,not a signal\n")
    return folder


def backend(url):
    from gem_core.backends.openai_compat import OpenAIInterpreter

    return OpenAIInterpreter(url, model="general-model", timeout_s=10)


def test_choose_prefers_more_supported_and_fewer_contradicted():
    a, b, c = Scored("a", 3, 0), Scored("b", 3, 2), Scored("c", 0, 0)
    assert choose([a, b, c]) == (a, c, 3)  # scores 3, 1, 0
    assert choose([a, b]) == (a, b, 2)
    assert choose([Scored("x", 1, 0), Scored("y", 2, 1)]) is None  # equal scores: no preference
    assert choose([a, Scored(" a ", 0, 5)]) is None  # the same text twice is no pair
    assert choose([a]) is None


def test_contradicted_answer_is_always_rejected(server, records, tmp_path):
    server.replies = [NEUTRAL, WRONG_2, WRONG_1, NEUTRAL_2]  # k=3: each record sees a different rotation
    server.reset()
    server.requests.clear()
    out = tmp_path / "verifier.jsonl"
    result = make_pairs(records, backend(server.url), 3, out, progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.rows == len(rows) == 3 and result.records == 4
    assert list(result.skipped) == ["notes.csv"] and result.skipped["notes.csv"].startswith("unreadable")
    # record 1 saw NEUTRAL, WRONG_2, WRONG_1; record 2 NEUTRAL_2, NEUTRAL, WRONG_2; record 3 WRONG_1, NEUTRAL_2, NEUTRAL
    expected = {
        "A0001.hea": (NEUTRAL, WRONG_2, 2),
        "A0002.hea": (NEUTRAL_2, WRONG_2, 2),
        "E07500.hea": (NEUTRAL_2, WRONG_1, 1),
    }
    from gem_core.ecg import load_ecg

    record_of = {load_ecg(records / name).content_hash: name for name in expected}
    for row in rows:
        check_row(row, "dpo")
        name = record_of[row["case"]]
        chosen, rejected, margin = expected[name]
        assert row["chosen"][0]["content"] == chosen and row["rejected"][0]["content"] == rejected
        assert row["margin"] == margin and row["source"] == "verifier" and row["raters"] == []
        counts = result.pairs[name]
        assert counts["rejected"]["contradicted"] == margin and counts["chosen"]["contradicted"] == 0
        assert np.load(row["ecg"]).shape == (12, 5000)
        assert row["images"][0].endswith(".png") and (tmp_path / "verifier_images").is_dir()
    assert {r["case"] for r in rows} and len({r["ecg"] for r in rows}) == 3
    # sampled: temperature 0.7, seeds 0..k-1 per record, the record's image in every request
    assert len(server.requests) == 9
    assert [r["seed"] for r in server.requests] == [0, 1, 2] * 3
    assert {r["temperature"] for r in server.requests} == {0.7}


def test_verifier_rows_mix_with_the_rated_export(server, records, tmp_path):
    """One training file from a store export and verifier pairs: same fields, ``datasets`` loads both."""
    import datasets

    from annotations.store import Store
    from gem_core.ecg import load_ecg

    server.replies = [NEUTRAL, WRONG_1]
    server.reset()
    make_pairs(records, backend(server.url), 2, tmp_path / "verifier.jsonl", progress=False)
    store = Store(f"sqlite:///{tmp_path / 'mix.sqlite3'}")
    admin = store.create_rater("admin", "admin-password", role="admin")
    doc = store.create_rater("doc", "doctor-password", actor=admin)
    case = store.add_case(load_ecg(records / "A0001.hea"))
    a = store.add_interpretation(case, "gem", "Sinus rhythm.")
    b = store.add_interpretation(case, "other", "Atrial flutter.")
    store.submit_preference(doc, a, b, "a", idempotency_key=str(uuid.uuid4()))
    store.export(admin, "dpo", tmp_path / "rated.jsonl")
    mixed = datasets.load_dataset(
        "json", data_files=[str(tmp_path / "rated.jsonl"), str(tmp_path / "verifier.jsonl")], split="train"
    )
    assert len(mixed) == 4 and set(ROW_FIELDS["dpo"]) <= set(mixed.column_names)
    rated_keys = json.loads((tmp_path / "rated.jsonl").read_text().splitlines()[0]).keys()
    assert list(rated_keys) == list(json.loads((tmp_path / "verifier.jsonl").read_text().splitlines()[0]))
    assert sorted(mixed["source"]) == ["preference", "verifier", "verifier", "verifier"]
    # the same ECG has the same case hash and the same signal in both
    rated = mixed.filter(lambda r: r["source"] == "preference")[0]
    (verifier,) = [r for r in mixed if r["source"] == "verifier" and r["case"] == rated["case"]]
    np.testing.assert_array_equal(np.load(rated["ecg"]), np.load(verifier["ecg"]))


def test_identical_answers_give_no_pair_and_are_counted(server, records, tmp_path):
    server.replies = [NEUTRAL]
    server.reset()
    result = make_pairs(records, backend(server.url), 2, tmp_path / "same.jsonl", progress=False)
    assert result.rows == 0 and (tmp_path / "same.jsonl").read_text() == ""
    assert sum(why == "identical answers" for why in result.skipped.values()) == 3
    server.replies = [NEUTRAL, NEUTRAL_2]  # different texts, both without claims: equally grounded
    server.reset()
    result = make_pairs(records, backend(server.url), 2, tmp_path / "tie.jsonl", progress=False)
    assert result.rows == 0 and sum(w == "answers grounded equally" for w in result.skipped.values()) == 3
    assert "0 verifier pairs from 4 records (skipped: 3 answers grounded equally; 1 unreadable" in (
        result.summary()
    )


def test_bad_input(records, tmp_path):
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    out = tmp_path / "down.jsonl"
    with pytest.raises(GemError):
        make_pairs(records, backend(down), 2, out, progress=False)
    assert not out.exists() and not list(tmp_path.glob("down.jsonl*"))  # nothing half-written
    with pytest.raises(GemError, match="at least 2"):
        make_pairs(records, backend(down), 1, out, progress=False)
    with pytest.raises(GemError, match="does not exist"):
        make_pairs(tmp_path / "nope", backend(down), 2, out, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GemError, match="no ECG records"):
        make_pairs(empty, backend(down), 2, out, progress=False)


def test_command_line(server, records, tmp_path, capsys):
    server.replies = [WRONG_1, NEUTRAL]
    server.reset()
    out = tmp_path / "cli.jsonl"
    argv = ["--records", str(records), "--backend", "openai", "--base-url", server.url]
    argv += ["--model", "general-model", "--samples", "2", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("3 verifier pairs from 4 records") and printed.endswith(str(out))
    assert all(json.loads(x)["rejected"][0]["content"] == WRONG_1 for x in out.read_text().splitlines())
    config = json.loads(out.with_suffix(".config.json").read_text())
    assert config["step"] == "training.pairs" and config["settings"]["samples"] == 2
    assert config["results"]["rows"] == 3 and "notes.csv" in config["results"]["skipped"]
    assert config["commit"] is None or len(config["commit"].split("+")[0]) == 40

    down = f"http://127.0.0.1:{free_port()}/v1"
    code = main([*argv[:4], "--base-url", down, *argv[6:]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error:") and "Traceback" not in "\n".join(err)
