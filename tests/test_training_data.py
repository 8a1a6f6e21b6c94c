"""training.data on real records: reading GEM's JSON/JSONL, signals as GEM trains, images, skipped records."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import wfdb

from gem_core.errors import GemError
from gem_core.model import GEM_LEAD_ORDER, IGNORE_INDEX, build_example
from gem_core.model.tiny import build_tiny
from tests.grounding_records import grounding_records, write_records
from training.data import GemCollator, MediaLoader, SftDataset, SkipRecord, read_records, read_signal


@pytest.fixture(scope="module")
def processor():
    return build_tiny(seed=0).processor


@pytest.fixture(scope="module")
def records(shared_ecg_dir):
    return grounding_records(shared_ecg_dir, 8)


# --- files ----------------------------------------------------------------------------------------------


def test_reads_json_list_and_jsonl_alike_and_keeps_extra_keys(tmp_path, records):
    a = read_records(write_records(records, tmp_path / "a.json"))
    b = read_records(write_records(records, tmp_path / "b.jsonl", jsonl=True))
    assert a == b == records and a[0]["machine_measurements"]["source"]


def test_malformed_line_names_file_and_line(tmp_path, records):
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(r) for r in records[:3]]
    lines[1] = lines[1][:-5]  # cut off the end of the second record
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GemError, match=rf"{path}:2: not valid JSON"):
        read_records(path)
    listed = tmp_path / "bad.json"
    listed.write_text(json.dumps(records[:2], indent=1).replace('"id"', "id", 1))
    with pytest.raises(GemError, match=rf"{listed}:3: not valid JSON"):
        read_records(listed)
    (tmp_path / "num.jsonl").write_text('{"id": 1}\n[1, 2]\n')
    with pytest.raises(GemError, match=r"num.jsonl:2: a record must be a JSON object"):
        read_records(tmp_path / "num.jsonl")
    with pytest.raises(GemError, match="not found"):
        read_records(tmp_path / "nowhere.json")


# --- signals --------------------------------------------------------------------------------------------


def test_signal_is_rdsamp_cut_to_5000_in_the_models_lead_order(shared_ecg_dir):
    path = shared_ecg_dir / "cpsc2018" / "A0006"  # 7000 samples at 500 Hz
    raw, fields = wfdb.rdsamp(str(path))
    values = read_signal(path, GEM_LEAD_ORDER)
    assert values.shape == (12, 5000) and values.dtype == np.float32 and raw.shape[0] == 7000
    for row, lead in enumerate(GEM_LEAD_ORDER):
        column = fields["sig_name"].index(lead)
        np.testing.assert_allclose(values[row], raw[:5000, column], atol=1e-6)  # raw mV, no normalisation
    assert GEM_LEAD_ORDER[4] == "aVF" and not np.allclose(values[4], values[5])


def test_short_signal_zero_padded_and_nan_zeroed(tmp_path):
    rng = np.random.default_rng(0)
    sig = rng.normal(0, 0.3, (3000, 12))
    sig[100:200, 2] = np.nan
    names = [
        "I",
        "II",
        "III",
        "AVR",
        "AVL",
        "AVF",
        "V1",
        "V2",
        "V3",
        "V4",
        "V5",
        "V6",
    ]  # upper-case spellings
    wfdb.wrsamp(
        "short",
        fs=500,
        units=["mV"] * 12,
        sig_name=names,
        p_signal=sig,
        fmt=["16"] * 12,
        write_dir=str(tmp_path),
    )
    values = read_signal(tmp_path / "short", GEM_LEAD_ORDER)
    assert (values[:, 3000:] == 0).all() and np.isfinite(values).all()
    assert (values[2, 100:200] == 0).all() and np.abs(values[2, :100]).max() > 0
    np.testing.assert_allclose(values[0, :3000], sig[:, 0], atol=1e-3)  # 16-bit quantisation


def test_unusable_signals_say_why(shared_ecg_dir, tmp_path):
    with pytest.raises(SkipRecord, match="ECG file missing"):
        read_signal(tmp_path / "nothing", GEM_LEAD_ORDER)
    with pytest.raises(SkipRecord, match="sampling rate.*100 Hz"):
        read_signal(shared_ecg_dir / "ecg_image_kit" / "00001_lr", GEM_LEAD_ORDER)
    shutil.copy(shared_ecg_dir / "cpsc2018" / "A0001.hea", tmp_path / "A0001.hea")
    (tmp_path / "A0001.mat").write_bytes(b"\x00garbage")
    with pytest.raises(SkipRecord, match="ECG file unreadable"):
        read_signal(tmp_path / "A0001", GEM_LEAD_ORDER)


# --- the dataset ----------------------------------------------------------------------------------------


def test_dataset_items_are_gems_inputs(records, processor, shared_ecg_dir, tmp_path):
    from gem_core.ecg import ECG, LEADS

    ds = SftDataset(records, processor, shared_ecg_dir, progress=False)
    assert len(ds) == 8 and len(ds.skips) == 0 and len(ds.rendered) == 8
    item = ds[0]
    assert item["ecg_values"].shape == (12, 5000) and item["pixel_values"].shape == (3, 28, 28)
    expected = build_example(processor.tokenizer, records[0]["conversations"])
    assert torch.equal(item["input_ids"], expected["input_ids"]) and torch.equal(
        item["labels"], expected["labels"]
    )
    # no image: drawn by the app's renderer from the signal, then GemProcessor's CLIP processing
    signal = read_signal(shared_ecg_dir / records[0]["ecg"], GEM_LEAD_ORDER)
    canonical = signal[[GEM_LEAD_ORDER.index(lead) for lead in LEADS]]
    drawn = processor.render(ECG(signal=canonical, fs=500))
    assert torch.equal(item["pixel_values"], processor.pixel_values(drawn)[0])
    # an image on disk is used as it is
    (tmp_path / "img").mkdir()
    from PIL import Image

    Image.new("RGB", (60, 40), (250, 10, 10)).save(tmp_path / "img" / records[0]["image"])
    with_image = SftDataset(
        records[:1], processor, shared_ecg_dir, image_root=tmp_path / "img", progress=False
    )
    assert with_image.rendered == []
    red = processor.pixel_values(Image.new("RGB", (60, 40), (250, 10, 10)))[0]
    assert torch.equal(with_image[0]["pixel_values"], red)


def test_bad_records_are_skipped_and_counted_never_fed_as_zeros(records, processor, shared_ecg_dir, tmp_path):
    for folder in ("cpsc2018", "cinc2021_torch_ecg", "ecg_image_kit"):  # --ecg-root: the real records ...
        (tmp_path / folder).symlink_to(shared_ecg_dir / folder)
    header = (shared_ecg_dir / "cpsc2018" / "A0002.hea").read_text().replace("A0002", "broken")
    (tmp_path / "broken.hea").write_text(header)  # ... and a broken one: a good header, a garbage .mat
    (tmp_path / "broken.mat").write_bytes(b"\x00\x01")
    good = [dict(r) for r in records[:3]]
    bad = [
        {**records[3], "id": "missing", "ecg": "cpsc2018/A9999"},
        {**records[4], "id": "broken", "ecg": "broken"},
        {**records[5], "id": "no-answer", "conversations": records[5]["conversations"][:1]},
        {**records[6], "id": "no-ecg-key", "ecg": None},
        {**records[7], "id": "100hz", "ecg": "ecg_image_kit/00001_lr"},
        {**records[0]},  # duplicate id
    ]
    ds = SftDataset(good + bad, processor, tmp_path, progress=False)
    assert len(ds) == 3 and ds.ids == [r["id"] for r in good]
    reasons = dict(ds.skips.skipped)
    assert set(reasons) == {"missing", "broken", "no-answer", "no-ecg-key", "100hz", records[0]["id"]}
    assert reasons["missing"].startswith("ECG file missing") and "A9999" in reasons["missing"]
    assert reasons["broken"].startswith("ECG file unreadable")
    assert "no assistant" in reasons["no-answer"]
    assert reasons["100hz"].startswith("sampling rate")
    assert reasons[records[0]["id"]].startswith("duplicate id")
    summary = ds.summary()
    assert summary.startswith("3 records used, 6 skipped") and "missing" in summary
    assert ds.skips.by_reason()["ECG file missing"] == 1
    # a file that breaks after the check stops training with the record named, not a zeros ECG
    ds.records[0] = {**ds.records[0], "ecg": "cpsc2018/A9998"}
    with pytest.raises(GemError, match=f"record {good[0]['id']} became unusable"):
        ds[0]


def test_collator_pads_a_batch_for_the_model(records, processor, shared_ecg_dir):
    model = build_tiny(seed=0)
    ds = SftDataset(records[:3], processor, shared_ecg_dir, progress=False)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=3, collate_fn=GemCollator(processor.tokenizer.eos_token_id)
    )
    batch = next(iter(loader))
    lengths = [len(ds[i]["input_ids"]) for i in range(3)]
    assert (
        batch["input_ids"].shape == (3, max(lengths)) and batch["attention_mask"].sum(1).tolist() == lengths
    )
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    with torch.no_grad():
        loss = model(**batch).loss
    assert torch.isfinite(loss) and loss > 0


def test_bad_roots(processor, tmp_path):
    with pytest.raises(GemError, match="--ecg-root"):
        MediaLoader(processor, tmp_path / "none")
    with pytest.raises(GemError, match="--image-root"):
        MediaLoader(processor, tmp_path, tmp_path / "none")
