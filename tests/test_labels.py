"""CPSC 2018 classes, SNOMED CT mapping and ECG-Bench-style scoring of free text."""

from __future__ import annotations

import csv

import pytest

from gem_core.labels import (
    CPSC_CLASSES,
    CPSC_LABELS,
    LABELS,
    SNOMED_TO_CPSC,
    class_mentions,
    cpsc_from_snomed,
    labels_from_text,
)


def test_nine_classes_in_challenge_order():
    assert CPSC_CLASSES == ("Normal", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")
    assert all(lab.snomed and all(code.isdigit() for code in lab.snomed) for lab in CPSC_LABELS)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["59118001"], {"RBBB"}),
        (["713427006"], {"RBBB"}),  # complete RBBB, scored as RBBB by the 2021 challenge
        (["733534002", "164909002"], {"LBBB"}),
        (["427172004"], {"PVC"}),
        (["17338001", "164884008"], {"PVC"}),
        (["63593006", "284470004"], {"PAC"}),
        (["164889003", "270492004"], {"AF", "I-AVB"}),
        (["429622005", "164931005"], {"STD", "STE"}),
        (["426177001", "713426002"], set()),  # sinus bradycardia, incomplete RBBB: not CPSC classes
        ([" 426783006 ", 426783006], {"Normal"}),  # whitespace and ints are accepted
        ([], set()),
    ],
)
def test_cpsc_from_snomed(codes, expected):
    assert cpsc_from_snomed(codes) == expected


def test_codes_agree_with_the_challenge_tables(shared_ecg_dir):
    rows = {}
    for name in ("dx_mapping_scored.csv", "dx_mapping_unscored.csv"):
        with open(shared_ecg_dir / "challenge_dx_mapping" / name, newline="") as fh:
            rows.update({r["SNOMEDCTCode"]: r["Dx"].lower() for r in csv.DictReader(fh)})
    for code in SNOMED_TO_CPSC:
        assert code in rows, f"{code} is not in the challenge mapping tables"
    for lab in LABELS.values():
        assert lab.code in rows, f"{lab.abbr}: {lab.code} is not in the challenge mapping tables"
    assert rows[LABELS["AF"].code] == "atrial fibrillation"
    assert rows[LABELS["STE"].code] == "st elevation"
    assert rows[LABELS["I-AVB"].code] == "1st degree av block"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Normal sinus rhythm. Normal ECG.", ["Normal"]),
        ("Sinus bradycardia, otherwise normal ECG.", ["Normal"]),
        ("Overall, this is an abnormal ECG.", []),
        ("Irregularly irregular rhythm consistent with atrial fibrillation.", ["AF"]),
        ("AF with rapid ventricular response and RBBB.", ["AF", "RBBB"]),
        ("The PR interval is 240 ms, indicating first-degree AV block.", ["I-AVB"]),
        ("1st degree atrioventricular block", ["I-AVB"]),
        ("QRS 150 ms with left bundle branch block (LBBB).", ["LBBB"]),
        ("Incomplete right bundle branch block.", []),
        ("incomplete RBBB; complete LBBB", ["LBBB"]),
        ("Right bundle-branch block with left anterior fascicular block.", ["RBBB"]),
        ("Two premature atrial contractions (PACs) at 2.1 s and 6.0 s.", ["PAC"]),
        ("A premature ventricular contraction with a compensatory pause.", ["PVC"]),
        ("Frequent PVCs and ventricular ectopic beats.", ["PVC"]),
        ("ST-segment depression of 0.15 mV in V5 and V6.", ["STD"]),
        ("ST elevation in leads II, III and aVF.", ["STE"]),
        ("There is no significant ST elevation or depression.", []),
        ("No ST elevation; ST depression of 0.1 mV in V6.", ["STD"]),
        ("No PACs or PVCs are seen.", []),
        ("Atrial fibrillation is absent.", []),
        ("Sinus rhythm without atrial fibrillation, but with one PVC at 3.2 s.", ["PVC"]),
        ("Atrial flutter with 2:1 conduction.", []),
        ("The worst depression of mood.", []),
        ("", []),
    ],
)
def test_labels_from_text(text, expected):
    assert labels_from_text(text) == expected


def test_mentions_carry_spans_and_negation():
    text = "No atrial fibrillation. RBBB is present."
    mentions = class_mentions(text)
    assert [(c, text[s:e], neg) for c, s, e, neg in mentions] == [
        ("AF", "atrial fibrillation", True),
        ("RBBB", "RBBB", False),
    ]
