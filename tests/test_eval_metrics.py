"""Classification metrics against scikit-learn; the strict multiple-choice parser; ECG-Bench's protocol;
the paired bootstrap."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import f1_score, hamming_loss, precision_recall_fscore_support, roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer

from eval.metrics import (
    auc_binary,
    classification_metrics,
    mcq_metrics,
    paired_bootstrap_ci,
    parse_choice,
    predicted_labels,
)

CLASSES = ["Normal", "AF", "RBBB", "PVC", "STE"]


def sk(gold, pred, classes):
    mlb = MultiLabelBinarizer(classes=classes)
    return mlb.fit_transform(gold), mlb.transform([p or [] for p in pred])


CASES = {
    # STE has no positives; item 4 is unparsed (predicts nothing)
    "mixed": (
        [["Normal"], ["AF", "RBBB"], ["PVC"], ["AF"], ["RBBB"], ["Normal"]],
        [["Normal"], ["AF"], ["PVC", "STE"], ["RBBB"], None, ["Normal", "AF"]],
    ),
    "all wrong": (
        [["Normal"], ["AF"], ["RBBB"], ["PVC"]],
        [["AF"], ["Normal"], ["PVC"], ["RBBB"]],
    ),
    "all unparsed": ([["Normal"], ["AF"], ["AF", "PVC"]], [None, None, None]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_classification_matches_sklearn(case):
    gold, pred = CASES[case]
    y, yp = sk(gold, pred, CLASSES)
    m = classification_metrics(gold, pred, CLASSES)
    p, r, f, s = precision_recall_fscore_support(y, yp, average=None, zero_division=0)
    for k, c in enumerate(CLASSES):
        got = m["per_class"][c]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx(
            (p[k], r[k], f[k], s[k])
        )
    present = [k for k in range(len(CLASSES)) if s[k] > 0]
    assert m["macro_f1"] == pytest.approx(f1_score(y, yp, average="macro", labels=present, zero_division=0))
    assert m["hamming_loss"] == pytest.approx(hamming_loss(y, yp))
    assert m["no_positive_classes"] == [c for k, c in enumerate(CLASSES) if s[k] == 0]
    assert m["unparsed"] == sum(x is None for x in pred) and m["auc"] == "n/a" and m["macro_auc"] is None
    # ECG-Bench's protocol: macro over every class (STE's F1 of 0 included), AUC of the 0/1 predictions
    e = classification_metrics(gold, pred, CLASSES, protocol="ecgbench")
    assert e["macro_f1"] == pytest.approx(f1_score(y, yp, average="macro", zero_division=0))
    for k, c in enumerate(CLASSES):
        if 0 < s[k] < len(gold):
            assert e["per_class"][c]["auc"] == pytest.approx(roc_auc_score(y[:, k], yp[:, k]))


def test_hand_numbers_of_the_mixed_case():
    m = classification_metrics(*CASES["mixed"], CLASSES)
    # Normal: TP 2, FP 0 -> F1 1; AF: TP 1 (item 2), FP 1 (item 6), FN 1 (item 4) -> F1 0.5;
    # RBBB: TP 0, FP 1, FN 2 -> 0; PVC: TP 1 -> 1; STE: no positives (left out, listed)
    assert m["per_class"]["AF"]["f1"] == pytest.approx(0.5)
    assert m["per_class"]["RBBB"]["fp"] == 1 and m["per_class"]["RBBB"]["fn"] == 2
    assert m["macro_f1"] == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert m["macro_over"] == ["Normal", "AF", "RBBB", "PVC"] and m["no_positive_classes"] == ["STE"]
    assert m["parse_rate"] == pytest.approx(5 / 6)
    assert classification_metrics(*CASES["all wrong"], CLASSES)["macro_f1"] == 0.0


def test_auc_only_from_backend_scores():
    gold = [["AF"], [], ["AF"], []]
    pred = [["AF"], ["AF"], [], []]
    scores = [{"AF": 0.9}, {"AF": 0.6}, {"AF": 0.7}, {"AF": 0.1}]
    m = classification_metrics(gold, pred, ["AF"], scores=scores)
    assert m["auc"] == "scores"
    assert m["per_class"]["AF"]["auc"] == pytest.approx(roc_auc_score([1, 0, 1, 0], [0.9, 0.6, 0.7, 0.1]))
    assert auc_binary(np.array([1, 1]), np.array([0.2, 0.3])) is None  # one class only: undefined


def test_predicted_labels_from_lists_and_prose():
    assert predicted_labels("AF, RBBB.", CLASSES) == ["AF", "RBBB"]
    assert predicted_labels("Normal", CLASSES) == ["Normal"]
    prose = "Atrial fibrillation with a right bundle branch block; normal axis; no ST elevation."
    assert predicted_labels(prose, CLASSES) == ["AF", "RBBB"]  # 'normal axis' is not a normal ECG
    assert predicted_labels("NORM and MI", ["NORM", "MI", "CD"]) == ["NORM", "MI"]
    assert predicted_labels("I cannot read this tracing.", CLASSES) is None
    assert predicted_labels("", CLASSES) is None


OPTIONS = ["Sinus rhythm", "Atrial fibrillation", "Atrial flutter", "Sinus tachycardia"]
MCQ_TABLE = [
    ("The answer is (B)", "B"),
    ("B. Sinus rhythm", "B"),  # the letter wins over the text it quotes
    ("I think C", "C"),
    ("none of these", None),
    ("Atrial flutter", "C"),  # an option's text alone
    ("Sinus tachycardia.", "D"),  # 'sinus' alone would be ambiguous; the whole text is one option
    ("A and C", None),  # two letters
    ("(A) or (D)", None),
    ("Sinus rhythm or atrial fibrillation", None),  # two option texts
    ("b", "B"),
    ("E", None),  # not an option
    ("A normal ECG showing atrial fibrillation", "B"),  # 'A' is the article here
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("answer", "expected"), MCQ_TABLE)
def test_multiple_choice_parser(answer, expected):
    assert parse_choice(answer, OPTIONS) == expected


def test_mcq_accuracy_parse_rate_and_ecgbench_protocol():
    answers = [a for a, _ in MCQ_TABLE]
    gold = ["B", "B", "C", "A", "C", "D", "A", "A", "A", "B", "A", "B", "A", "A"]
    options = [OPTIONS] * len(answers)
    strict = mcq_metrics(gold, answers, options)
    parsed = [e for _, e in MCQ_TABLE]
    assert strict["correct"] == sum(p == g for p, g in zip(parsed, gold, strict=True)) == 7
    assert strict["accuracy"] == pytest.approx(7 / 14)
    assert strict["parse_rate"] == pytest.approx(sum(p is not None for p in parsed) / 14)
    bench = mcq_metrics(gold, answers, options, protocol="ecgbench")
    rng = random.Random(42)  # ECG-Bench: unparsed answers become random letters, in order
    replaced = [p if p is not None else rng.choice("ABCD") for p in parsed]
    assert bench["predicted"] == replaced
    assert bench["correct"] == sum(p == g for p, g in zip(replaced, gold, strict=True))
    assert bench["parse_rate"] == strict["parse_rate"]  # the replacement does not make answers parsed


def test_paired_bootstrap_contains_the_known_difference():
    rng = np.random.default_rng(5)
    a = rng.binomial(1, 0.6, 400).astype(float)
    b = a.copy()
    flip = rng.choice(np.flatnonzero(a == 0), 40, replace=False)  # B gets 40 more items right
    b[flip] = 1
    ci = paired_bootstrap_ci(a, b, seed=1)
    assert ci["difference"] == pytest.approx(0.1)
    lo, hi = ci["ci95"]
    assert lo < 0.1 < hi and lo > 0  # contains the difference, and shows B is really better
    same = paired_bootstrap_ci(a, a.copy())
    assert same["ci95"] == [0.0, 0.0]


def test_option_texts_that_name_a_cpsc_class_use_its_synonyms():
    options = ["Normal", "atrial fibrillation", "first degree AV block", "right bundle branch block"]
    assert predicted_labels("AF with RBBB; no first-degree AV block.", options) == [
        "atrial fibrillation",
        "right bundle branch block",
    ]
    assert predicted_labels("first degree AV block", options) == ["first degree AV block"]
