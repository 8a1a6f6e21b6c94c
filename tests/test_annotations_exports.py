"""Exports and summaries: DPO JSONL that `datasets` loads and TRL's DPOTrainer prepares (and trains one
step on) with a tiny offline model; KTO, CSV and `datasets` on disk; pair rules; the summary table with
bootstrap CIs and Krippendorff's alpha; the command line."""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from annotations.exports import Data, Interp, dpo_pairs, preference_pairs, rating_pairs
from annotations.metrics import METRIC_NAMES
from annotations.store import Store
from annotations.summary import bootstrap_ci, format_table
from gem_core.ecg import ECG
from gem_core.errors import GemError
from tests.conftest import REPO

QUESTION = "Interpret this ECG."


def s(v, **over):
    return {m: over.get(m, v) for m in METRIC_NAMES}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Three raters, three cases with a good (gem) and a poor (baseline) reading, plus preferences."""
    folder = tmp_path_factory.mktemp("study")
    store = Store(f"sqlite:///{folder / 'study.sqlite3'}")
    admin = store.create_rater("admin", "admin-password", role="admin")
    raters = [store.create_rater(f"doc{i}", "doctor-password", actor=admin) for i in range(3)]
    interps = []
    for c in range(3):
        ecg = ECG(signal=np.random.default_rng(c).normal(0, 0.3, (12, 5000)), fs=500.0, record_id=f"c{c}")
        case = store.add_case(ecg, source=f"case{c}")
        good = store.add_interpretation(
            case, "gem", f"Sinus rhythm, case {c}; PR 160 ms in lead II.", question=QUESTION
        )
        poor = store.add_interpretation(case, "baseline", f"Abnormal ECG, case {c}.", question=QUESTION)
        interps.append((case, good, poor))
    for r_i, r in enumerate(raters):
        for c, (_case, good, poor) in enumerate(interps):
            store.submit_rating(r, good, s(4 + (r_i + c) % 2), idempotency_key=str(uuid.uuid4()))
            store.submit_rating(r, poor, s(2 + (r_i == 2 and c == 2) * 2), idempotency_key=str(uuid.uuid4()))
    # case 0: two explicit votes for the baseline (overrides the rating gap), one tie
    _, good0, poor0 = interps[0]
    store.submit_preference(raters[0], good0, poor0, "b", idempotency_key=str(uuid.uuid4()))
    store.submit_preference(raters[1], poor0, good0, "a", idempotency_key=str(uuid.uuid4()))
    store.submit_preference(raters[2], good0, poor0, "tie", idempotency_key=str(uuid.uuid4()))
    # case 1: both bad only -> no preference pair, the rating gap decides
    _, good1, poor1 = interps[1]
    store.submit_preference(raters[0], good1, poor1, "both_bad", idempotency_key=str(uuid.uuid4()))
    return store, admin, raters, interps, folder


def test_dpo_export_loads_with_datasets_and_carries_metadata(study):
    import datasets

    store, admin, raters, interps, folder = study
    out = folder / "pairs.jsonl"
    res = store.export(admin, "dpo", out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert res.rows == len(rows) == 3
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert len(ds) == 3 and {"prompt", "chosen", "rejected", "images", "case", "raters", "margin"} <= set(
        ds.column_names
    )
    by_source = {r["source"]: r for r in rows}
    pref = by_source["preference"]
    assert pref["chosen"][0]["content"].startswith("Abnormal ECG, case 0") and pref["margin"] == 2.0
    assert (
        pref["prompt"] == [{"role": "user", "content": QUESTION}] and pref["chosen"][0]["role"] == "assistant"
    )
    gaps = [r for r in rows if r["source"] == "rating"]
    assert (
        len(gaps) == 2
        and all(r["chosen_model"] == "gem" for r in gaps)
        and all(r["margin"] >= 1 for r in gaps)
    )
    pseudonyms = {r.pseudonym for r in raters}
    for r in rows:
        assert set(r["raters"]) <= pseudonyms and r["raters"]
        assert "doc0" not in json.dumps(r) and "admin" not in json.dumps(r)  # pseudonyms only
    from PIL import Image

    assert res.images == 3 and res.notes == []  # the ECG image the model sees, rendered next to the export
    for r in rows:
        assert len(r["images"]) == 1 and r["images"][0].endswith(".png")
        assert Path(r["images"][0]).parent == folder / "pairs_images"
        with Image.open(r["images"][0]) as im:
            assert im.format == "PNG" and im.size[0] > 100


def test_dpo_and_kto_rows_point_to_the_signal_gem_reads(study, tmp_path):
    """Each row names a .npy of the case's model input (12 x 5000, 500 Hz), written beside the images."""
    import datasets

    from annotations.exports import ROW_VERSION, check_row
    from gem_core.ecg import load_ecg, to_model_input

    store, admin, _raters, interps, _folder = study
    res = store.export(admin, "dpo", tmp_path / "pairs.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert res.signals == 3 and res.notes == []
    by_case = {store.case_ecg(case).record_id: case for case, _, _ in interps}
    for r in rows:
        assert r["version"] == ROW_VERSION == 2
        check_row(r, "dpo")
        path = Path(r["ecg"])
        assert path.parent == tmp_path / "pairs_ecg" and path.suffix == ".npy"
        signal = np.load(path)
        assert signal.shape == (12, 5000) and signal.dtype == np.float32
        # the one case whose chosen answer mentions it ("case N") is the case the signal comes from
        n = int(r["chosen"][0]["content"].split("case ")[1][0])
        expected, _ = to_model_input(store.case_ecg(by_case[f"c{n}"]))
        np.testing.assert_array_equal(signal, expected)
        # the project's own loader reads it back as a 12-lead ECG in canonical order
        back = load_ecg(path)
        assert back.fs == 500.0 and back.signal.shape == (12, 5000)
        np.testing.assert_array_equal(back.signal, signal)
    assert len({r["ecg"] for r in rows}) == 3  # one file per case
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "pairs.jsonl"), split="train")
    assert ds["ecg"] == [r["ecg"] for r in rows] and ds["version"] == [2, 2, 2]

    kto = store.export(admin, "kto", tmp_path / "kto.jsonl", image_root=tmp_path)
    krows = [json.loads(line) for line in (tmp_path / "kto.jsonl").read_text().splitlines()]
    assert kto.signals == 3 and len(krows) == kto.rows > 0
    for r in krows:
        check_row(r, "kto")
        # relative to image_root, as the images are
        assert r["ecg"].startswith("kto_ecg/") and r["images"][0].startswith("kto_images/")
        assert np.load(tmp_path / r["ecg"]).shape == (12, 5000)

    # --no-signals: no column, no folder
    store.export(admin, "dpo", tmp_path / "plain.jsonl", signals=False, images=False)
    plain = json.loads((tmp_path / "plain.jsonl").read_text().splitlines()[0])
    assert "ecg" not in plain and not (tmp_path / "plain_ecg").exists()


def test_case_without_stored_samples_gets_a_null_ecg_and_a_note(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'nosig.sqlite3'}")
    admin = store.create_rater("admin", "admin-password", role="admin")
    doc = store.create_rater("doc", "doctor-password", actor=admin)
    ecg = ECG(signal=np.random.default_rng(5).normal(0, 0.3, (12, 5000)), fs=500.0, record_id="x")
    case = store.add_case(ecg, keep_signal=False)
    a = store.add_interpretation(case, "gem", "Sinus rhythm.", question=QUESTION)
    b = store.add_interpretation(case, "other", "Atrial fibrillation.", question=QUESTION)
    store.submit_preference(doc, a, b, "a", idempotency_key=str(uuid.uuid4()))
    res = store.export(admin, "dpo", tmp_path / "p.jsonl", images=False)
    row = json.loads((tmp_path / "p.jsonl").read_text())
    assert res.rows == 1 and res.signals == 0 and row["ecg"] is None
    assert res.notes == [f"case {case} has no stored samples: its rows have no ecg"]


def test_check_row_names_the_expected_fields():
    from annotations.exports import ROW_FIELDS, check_row

    good = {f: None for f in ROW_FIELDS["dpo"]} | {"version": 2}
    check_row(good, "dpo")
    old = {k: v for k, v in good.items() if k not in ("version", "ecg")}  # a version-1 export
    with pytest.raises(GemError) as err:
        check_row(old, "dpo", where="pairs.jsonl:1")
    msg = str(err.value)
    assert msg.startswith("pairs.jsonl:1: export rows of version 2 are expected, found no version key")
    assert "version, prompt, chosen, rejected, ecg, case, margin, source" in msg
    assert "re-export" in msg
    with pytest.raises(GemError, match="found 7; a kto row needs the fields version, prompt, completion"):
        check_row({"version": 7}, "kto")
    with pytest.raises(GemError, match="missing: ecg"):
        check_row({k: v for k, v in good.items() if k != "ecg"}, "dpo")


def tiny_tokenizer(texts: list[str]):
    """A word-level tokenizer built here (no download) with a simple chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        texts + ["USER: ASSISTANT:"], trainers.WordLevelTrainer(special_tokens=["<unk>", "<pad>", "</s>"])
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="</s>"
    )
    fast.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'user' %}USER: {{ m['content'] }} "
        "{% else %}ASSISTANT: {{ m['content'] }}</s>{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )
    return fast


def test_dpo_export_passes_trl_dataset_preparation_and_trains_a_step(study, tmp_path):
    import datasets
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import DPOConfig, DPOTrainer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    store, admin, *_, folder = study
    out = tmp_path / "dpo.jsonl"
    store.export(admin, "dpo", out, images=False)  # a text-only model: TRL refuses image columns for it
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert "images" not in ds.column_names and is_conversational(ds[0])
    texts = [m["content"] for row in ds for key in ("prompt", "chosen", "rejected") for m in row[key]]
    tok = tiny_tokenizer(texts)
    templated = maybe_apply_chat_template(ds[0], tok)
    assert templated["prompt"].endswith("ASSISTANT:") and templated["chosen"].strip().endswith("</s>")

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tok.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    args = DPOConfig(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=3,
        max_steps=1,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        max_length=64,
    )
    model = LlamaForCausalLM(config)
    ref = copy.deepcopy(model)  # given, so TRL does not try to load the reference from the hub
    trainer = DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=ds, processing_class=tok)
    prepared = trainer.train_dataset
    assert {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(prepared.column_names)
    for row, src in zip(prepared, ds, strict=True):  # the completion tokens are the exported texts
        for side in ("chosen", "rejected"):
            text_ids = tok(src[side][0]["content"], add_special_tokens=False)["input_ids"]
            assert row[f"{side}_ids"][: len(text_ids)] == text_ids, tok.decode(row[f"{side}_ids"])
            assert row[f"{side}_ids"][-1] == tok.eos_token_id
        assert row["prompt_ids"] == tok(f"USER: {QUESTION} ASSISTANT:", add_special_tokens=False)["input_ids"]
    assert all(len(r["chosen_ids"]) > 0 and len(r["rejected_ids"]) > 0 for r in prepared)
    result = trainer.train()
    assert np.isfinite(result.training_loss)

    # the KTO export is TRL's unpaired preference format too
    store.export(admin, "kto", tmp_path / "kto.jsonl")
    kto = datasets.load_dataset("json", data_files=str(tmp_path / "kto.jsonl"), split="train")
    kto_row = {k: kto[0][k] for k in ("prompt", "completion", "label")}
    assert is_conversational(kto_row)
    templated = maybe_apply_chat_template(kto_row, tok)
    assert templated["prompt"].endswith("ASSISTANT:") and templated["completion"].endswith("</s>")


def test_kto_csv_and_hf_exports(study, tmp_path):
    import datasets

    store, admin, raters, interps, _ = study
    kto = store.export(admin, "kto", tmp_path / "kto.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "kto.jsonl").read_text().splitlines()]
    assert kto.rows == len(rows) and {r["label"] for r in rows} == {True, False}
    assert all({"prompt", "completion", "label"} <= set(r) for r in rows)
    assert all(r["label"] == (r["mean_score"] >= 4) for r in rows)

    res = store.export(admin, "csv", tmp_path / "all.csv")
    with open(tmp_path / "all.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert res.rows == len(table) == 18 and set(METRIC_NAMES) <= set(table[0])
    assert {r["rater"] for r in table} == {r.pseudonym for r in raters}
    assert "doc0" not in (tmp_path / "all.csv").read_text()

    store.export(admin, "hf", tmp_path / "hf_ds", images=False)
    loaded = datasets.load_from_disk(str(tmp_path / "hf_ds"))
    assert len(loaded) == 3 and "chosen" in loaded.column_names

    with pytest.raises(GemError, match="format must be"):
        store.export(admin, "parquet", tmp_path / "x")
    with pytest.raises(GemError, match="does not exist"):
        store.export(admin, "csv", tmp_path / "missing" / "x.csv")
    with pytest.raises(GemError, match="min margin"):
        store.export(admin, "dpo", tmp_path / "x.jsonl", min_margin=0)
    with pytest.raises(GemError, match="unknown metric"):
        store.export(admin, "dpo", tmp_path / "x.jsonl", metric_name="speed")


def data_of(ratings, preferences=()):
    """A ``Data`` for pair rules: interpretations 1, 2 (case 1) and 3 (case 2)."""
    interps = {i: Interp(i, 1 if i < 3 else 2, f"m{i}", "", "q", f"text {i}") for i in (1, 2, 3)}
    rows = [
        (n, rater, interp, *s(v).values(), "", None, 1, None, None)
        for n, (rater, interp, v) in enumerate(ratings)
    ]
    prefs = [(rater, 1, a, b, choice, None, n) for n, (rater, a, b, choice) in enumerate(preferences)]
    return Data(interps, {1: "h1", 2: "h2"}, rows, prefs)


def test_pair_rules():
    # gap = mean over raters who rated both: r1 +2, r2 0 -> 1.0 (kept at margin 1, dropped at 1.5)
    data = data_of([("r1", 1, 5), ("r1", 2, 3), ("r2", 1, 3), ("r2", 2, 3), ("r3", 1, 1), ("r1", 3, 1)])
    pairs = rating_pairs(data, "overall_satisfaction", 1.0)
    assert pairs == [{"chosen": 1, "rejected": 2, "margin": 1.0, "raters": ["r1", "r2"], "source": "rating"}]
    assert rating_pairs(data, "overall_satisfaction", 1.5) == []
    # explicit votes: later choice of the same rater wins; ties and both_bad carry no vote; even split -> none
    prefs = [
        ("r1", 1, 2, "b"),
        ("r1", 1, 2, "a"),
        ("r2", 2, 1, "b"),
        ("r3", 1, 2, "tie"),
        ("r4", 1, 2, "both_bad"),
    ]
    got = preference_pairs(data_of([], prefs))
    assert got == [
        {"chosen": 1, "rejected": 2, "margin": 2.0, "raters": ["r1", "r2"], "source": "preference"}
    ]
    assert preference_pairs(data_of([], [("r1", 1, 2, "a"), ("r2", 1, 2, "b")])) == []
    assert preference_pairs(data_of([], [("r1", 1, 2, "tie"), ("r2", 2, 1, "both_bad")])) == []
    # a preference covers its pair: the rating gap for the same pair is not added again
    both = dpo_pairs(data_of([("r1", 1, 5), ("r1", 2, 1)], [("r2", 1, 2, "b")]))
    assert [(p["chosen"], p["source"]) for p in both] == [(2, "preference")]
    assert [
        p["source"]
        for p in dpo_pairs(data_of([("r1", 1, 5), ("r1", 2, 1)], [("r2", 1, 2, "b")]), sources="ratings")
    ] == ["rating"]


def test_rating_pairs_follow_the_chosen_metric_and_one_question():
    # overall satisfaction ties, clinical value differs by 3: only --metric clinical_value makes a pair
    col = 3 + METRIC_NAMES.index("clinical_value")
    data = data_of([("r1", 1, 3), ("r1", 2, 3)])
    data.ratings[0] = (*data.ratings[0][:col], 5, *data.ratings[0][col + 1 :])
    data.ratings[1] = (*data.ratings[1][:col], 2, *data.ratings[1][col + 1 :])
    assert rating_pairs(data, "overall_satisfaction", 1.0) == []
    assert [(p["chosen"], p["margin"]) for p in rating_pairs(data, "clinical_value", 1.0)] == [(1, 3.0)]
    # answers to different questions about the same ECG share no prompt: never a pair
    data = data_of([("r1", 1, 5), ("r1", 2, 1)])
    data.interps[2] = Interp(2, 1, "m2", "", "What is the heart rate?", "text 2")
    assert rating_pairs(data, "overall_satisfaction", 1.0) == []


def test_summary_table_ci_and_agreement(study):
    store, admin, raters, *_ = study
    summary = store.summary(admin)
    gem = summary["models"]["gem"]["overall_satisfaction"]
    assert gem["n"] == 9 and 4 <= gem["mean"] <= 5 and gem["sd"] > 0
    lo, hi = gem["ci95"]
    assert lo <= gem["mean"] <= hi and hi - lo < 1.5
    assert summary["raters"] == {
        r.pseudonym: {"ratings": 6, "preferences": p} for r, p in zip(raters, (2, 1, 1), strict=True)
    }
    alpha = summary["agreement"]["overall_satisfaction"]
    assert alpha["units"] == 6 and alpha["raters"] == 3 and 0 < alpha["alpha"] <= 1
    # the package's ordinal alpha of the raters x interpretations matrix the fixture wrote
    import krippendorff

    matrix = [[v for c in range(3) for v in (4 + (r + c) % 2, 2 + 2 * (r == 2 and c == 2))] for r in range(3)]
    expected = krippendorff.alpha(
        reliability_data=matrix, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]
    )
    assert alpha["alpha"] == pytest.approx(expected)  # 0.72; nominal would be 0.35, transposed -0.12
    # latest choice per rater and pair: doc0 and doc1 chose the baseline on case 0, doc2 tie; case 1 both bad
    assert summary["preferences"] == [
        {"models": ["baseline", "gem"], "baseline wins": 2, "gem wins": 0, "tie": 1, "both_bad": 1}
    ]
    text = format_table(summary)
    assert "preferences baseline vs gem: baseline wins 2" in text
    assert "Overall Satisfaction" in text and "gem" in text and "baseline" in text


def test_bootstrap_ci_matches_plain_resampling():
    values = np.random.default_rng(1).integers(1, 6, 300)
    lo, hi = bootstrap_ci(values, n_boot=4000)
    rng = np.random.default_rng(2)
    means = values[rng.integers(0, len(values), (4000, len(values)))].mean(axis=1)
    ref_lo, ref_hi = np.percentile(means, [2.5, 97.5])
    assert abs(lo - ref_lo) < 0.03 and abs(hi - ref_hi) < 0.03
    assert bootstrap_ci(np.array([4])) is None


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``python -m annotations ARGS`` in this process (the module's own ``main``)."""
    from annotations.__main__ import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_command_line(tmp_path, capsys, monkeypatch):
    import datasets

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(0, 0.2, (12, 1000)).astype(np.float32))
    study = tmp_path / "study.jsonl"
    line = {
        "case": "a.npy",
        "interpretations": [{"model": "gem", "text": "Sinus."}, {"model": "b", "text": "AF."}],
    }
    study.write_text(json.dumps(line) + "\n")
    monkeypatch.setenv("GEM_NEW_PASSWORD", "doctor-password")
    monkeypatch.setenv("GEM_AUTH_FILE", str(tmp_path / "cli-users.csv"))
    code, out, err = cli(capsys, "create-rater", "doc", "--db", url)
    assert code == 0, err
    assert json.loads(out)["pseudonym"].startswith("R-")
    code, out, err = cli(
        capsys, "import-campaign", str(study), "--db", url, "--name", "pilot", "--k", "1", "--assign"
    )
    assert code == 0, err
    assert json.loads(out) == {
        "campaign": "pilot",
        "items": 1,
        "models": {"gem": "Model A", "b": "Model B"},
        "assigned": 1,
    }
    assert "loading cases 1/1" in err
    bad_line = study.with_name("bad.jsonl")
    bad_line.write_text(json.dumps(line) + "\n" + json.dumps({**line, "case": "nope.npy"}) + "\n")
    code, _, err = cli(capsys, "import-campaign", str(bad_line), "--db", url)
    assert code == 2 and err.splitlines()[-1].startswith("error: bad.jsonl:2:"), err  # a line of its own
    with Store(url) as st:
        doc = st.authenticate("doc", "doctor-password")
        item = st.next_item(doc, "pilot")
        for i in item.interpretations:
            score = s(5 if i["label"] == "Model A" else 2)
            st.submit_rating(
                doc, i["id"], score, idempotency_key=str(uuid.uuid4()), assignment_id=item.assignment_id
            )
    code, out, err = cli(
        capsys, "export", "--db", url, "--format", "dpo", "--out", str(tmp_path / "p.jsonl"), "--no-images"
    )
    assert code == 0 and json.loads(out)["rows"] == 1, err
    assert json.loads(out)["signals"] == 1 and np.load(
        tmp_path / "p_ecg" / os.listdir(tmp_path / "p_ecg")[0]
    ).shape == (
        12,
        5000,
    )
    code, out, err = cli(
        capsys,
        "export",
        "--db",
        url,
        "--format",
        "dpo",
        "--out",
        str(tmp_path / "q.jsonl"),
        "--no-images",
        "--no-signals",
    )
    assert code == 0 and json.loads(out)["signals"] == 0 and "ecg" not in (tmp_path / "q.jsonl").read_text()
    for fmt, rows in (("kto", 2), ("csv", 2), ("hf", 1)):
        path = str(tmp_path / f"out-{fmt}")
        code, out, err = cli(capsys, "export", "--db", url, "--format", fmt, "--out", path, "--no-images")
        assert code == 0 and json.loads(out)["rows"] == rows, (fmt, err)
    assert len(datasets.load_from_disk(str(tmp_path / "out-hf"))) == 1
    code, out, _ = cli(capsys, "campaigns", "--db", url)
    assert code == 0 and out.split("\t")[1:] == ["pilot", "rate", "items=1", "k=1\n"]
    code, out, _ = cli(capsys, "assign", "pilot", "--db", url)
    assert code == 0 and json.loads(out) == {"assigned": 0}  # already assigned: nothing added
    code, out, _ = cli(capsys, "summary", "--db", url, "--json")
    assert code == 0 and json.loads(out)["n_ratings"] == 2
    code, out, _ = cli(capsys, "summary", "--db", url)
    assert "Overall Satisfaction" in out
    code, out, _ = cli(capsys, "progress", "pilot", "--db", url)
    assert json.loads(out)["total"]["done"] == 1
    code, out, _ = cli(capsys, "hash-password")
    assert code == 0 and out.startswith("scrypt$")
    users = tmp_path / "users.csv"
    code, out, err = cli(capsys, "add-user", str(users), "dr.cli", "--role", "admin")
    assert code == 0, err
    from annotations.store import read_auth_file

    assert read_auth_file(users)["dr.cli"].role == "admin" and "doctor-password" not in users.read_text()
    # a real `python -m annotations` process: bad input is one error line and status 2, no traceback
    bad = subprocess.run(
        [sys.executable, "-m", "annotations", "import-campaign", str(tmp_path / "nope.jsonl"), "--db", url],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_rating_pairs_properties():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    triples = st.lists(
        st.tuples(st.sampled_from(["r1", "r2", "r3"]), st.sampled_from([1, 2, 3]), st.integers(1, 5)),
        max_size=12,
    )

    @settings(max_examples=150, deadline=None)
    @given(triples, st.sampled_from([0.5, 1.0, 2.0]))
    def check(ratings, min_margin):
        latest = {(r, i): v for r, i, v in ratings}  # one rating per rater and interpretation
        data = data_of([(r, i, v) for (r, i), v in latest.items()])
        for p in rating_pairs(data, "overall_satisfaction", min_margin):
            assert data.interps[p["chosen"]].case_id == data.interps[p["rejected"]].case_id
            gaps = [latest[(r, p["chosen"])] - latest[(r, p["rejected"])] for r in p["raters"]]
            assert sum(gaps) / len(gaps) == pytest.approx(p["margin"], abs=1e-4) and p["margin"] >= min_margin
        # and nothing is missed: interpretations 1 and 2 share case 1; 3 is alone in case 2
        common = [r for r in ("r1", "r2", "r3") if (r, 1) in latest and (r, 2) in latest]
        gap = sum(latest[(r, 1)] - latest[(r, 2)] for r in common) / len(common) if common else 0
        expected = [] if abs(gap) < min_margin else [(1, 2) if gap > 0 else (2, 1)]
        got = [(p["chosen"], p["rejected"]) for p in rating_pairs(data, "overall_satisfaction", min_margin)]
        assert got == expected

    check()


def test_identical_texts_never_make_a_pair_and_the_export_says_how_many(tmp_path):
    """An A/B choice or a rating gap between two answers with the same text is no preference data."""
    store = Store(f"sqlite:///{tmp_path / 'same.sqlite3'}")
    admin = store.create_rater("admin", "admin-password", role="admin")
    rater = store.create_rater("doc", "doctor-password", actor=admin)
    ecg = ECG(signal=np.random.default_rng(7).normal(0, 0.3, (12, 5000)), fs=500.0, record_id="same")
    case = store.add_case(ecg, source="same")
    one = store.add_interpretation(case, "measure", "Sinus rhythm at 75 bpm.", question=QUESTION)
    two = store.add_interpretation(case, "measure", "Sinus rhythm at 75 bpm. ", question=QUESTION)
    other = store.add_interpretation(case, "gem", "Atrial fibrillation.", question=QUESTION)
    store.submit_preference(rater, one, two, "a", idempotency_key=str(uuid.uuid4()))
    store.submit_rating(rater, one, s(5), idempotency_key=str(uuid.uuid4()))
    store.submit_rating(rater, two, s(2), idempotency_key=str(uuid.uuid4()))
    store.submit_rating(rater, other, s(3), idempotency_key=str(uuid.uuid4()))

    res = store.export(admin, "dpo", tmp_path / "pairs.jsonl", images=False)
    rows = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert all(r["chosen"] != r["rejected"] for r in rows)
    # pairs left: each copy against the distinct answer (gaps 2 and 1), never the copies (gap 3)
    assert sorted((r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows) == [
        ("Atrial fibrillation.", "Sinus rhythm at 75 bpm. "),
        ("Sinus rhythm at 75 bpm.", "Atrial fibrillation."),
    ]
    assert res.rows == 2
    assert "left out 1 A/B choice between identical texts" in res.notes
    assert "left out 1 rating gap between identical texts" in res.notes

    summary = store.summary(admin)
    assert summary["n_preferences"] == 0 and summary["identical_preferences"] == 1
    assert summary["preferences"] == []
    assert "left out: 1 A/B choices between identical texts" in format_table(summary)


def test_hf_export_carries_the_ecg_images_as_images(study, tmp_path):
    """The ``images`` column is ``datasets.Image()``: the pictures are inside the dataset, so it loads
    (and ``push_to_hub`` uploads it) without the PNG folder beside it."""
    import shutil

    import datasets
    from PIL import Image

    store, admin, *_ = study
    (tmp_path / "hf_img").mkdir()
    res = store.export(admin, "hf", tmp_path / "hf_img" / "ds", image_root=tmp_path / "hf_img")
    assert res.rows == 3 and res.images == 3
    shutil.rmtree(tmp_path / "hf_img" / "ds_images")  # the pictures must not be needed any more
    moved = tmp_path / "elsewhere"
    shutil.move(tmp_path / "hf_img" / "ds", moved)
    loaded = datasets.load_from_disk(str(moved))
    assert loaded.features["images"] == datasets.List(datasets.Image())
    picture = loaded[0]["images"][0]
    assert isinstance(picture, Image.Image) and picture.width > 500 and picture.height > 300
    assert "chosen" in loaded.column_names and loaded[0]["chosen"][0]["role"] == "assistant"
