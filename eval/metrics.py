"""Scores of answers against gold: multi-label classification, multiple choice, and paired bootstrap.

Written with numpy rather than scikit-learn so the runtime does not need it (sklearn's metrics are
the reference the tests check these against).

Definitions (also written into every report):

- classification, per class: precision = TP / (TP + FP), recall = TP / (TP + FN),
  F1 = 2PR / (P + R), each 0 when its denominator is 0; support = number of gold positives.
  Macro-F1: the mean F1 over the classes with at least one gold positive; classes with none are listed
  and left out. Hamming loss: the share of wrong (item, class) decisions over all classes. AUC: per
  class, from the backend's scores only (``label_scores`` in an answer), else "n/a".
- multiple choice: accuracy = correct / items; an answer the strict parser cannot read is wrong;
  parse rate = parsed / items.
- ``protocol="ecgbench"``: ECG-Bench's published procedure, for comparison with its numbers: macro-F1
  over every class (no-positive classes count as 0), AUC computed from the 0/1 predictions, and
  unparsed multiple-choice answers replaced by a random letter (``random.seed(42)``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import numpy as np

from gem_core.labels import CPSC_CLASSES, class_mentions, labels_from_text

PROTOCOLS = ("strict", "ecgbench")


# ------------------------------------------------------------------------------------ classification
def predicted_labels(answer: str | None, options: Sequence[str]) -> list[str] | None:
    """The options an answer names, in option order; None when it names none (unparsed).

    An answer that is a list of option names ("AF, RBBB") is read as that list. In prose, an option is
    named by its name as a whole word; a CPSC 2018 class is named by any of its synonyms and only when
    not negated (``gem_core.labels``), so "normal axis" is not the class Normal and "no atrial
    fibrillation" is not AF.

    >>> predicted_labels("AF, RBBB", ["Normal", "AF", "RBBB"])
    ['AF', 'RBBB']
    >>> predicted_labels("I cannot tell.", ["Normal", "AF"]) is None
    True
    """
    if not answer or not answer.strip():
        return None
    by_name = {o.lower(): o for o in options}
    parts = [p.strip().strip(".").strip() for p in re.split(r"[,;\n]|\band\b", answer)]
    parts = [p for p in parts if p]
    if parts and all(p.lower() in by_name for p in parts):
        found = {by_name[p.lower()] for p in parts}
    else:
        # options that name one CPSC class ("AF", "atrial fibrillation") are read with its synonyms
        as_class = {o: o if o in CPSC_CLASSES else next(iter(labels_from_text(o)), None) for o in options}
        as_class = {
            o: c for o, c in as_class.items() if c and (o in CPSC_CLASSES or len(labels_from_text(o)) == 1)
        }
        affirmed = {c for c, _, _, negated in class_mentions(answer) if not negated} if as_class else set()
        found = {o for o, c in as_class.items() if c in affirmed}
        found |= {
            o
            for o in options
            if o not in as_class and re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", answer, re.I)
        }
    if not found:
        return None
    return [o for o in options if o in found]


def _binary(rows: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(rows), len(classes)), dtype=np.int8)
    for r, labels in enumerate(rows):
        for lab in labels:
            if lab in index:
                out[r, index[lab]] = 1
    return out


def auc_binary(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC of scores for binary truth (Mann-Whitney U with ties counted half); None if one class.

    >>> auc_binary(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y = np.asarray(y).astype(bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(score)  # average ranks: ties count half
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def classification_metrics(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str] | None],
    classes: Sequence[str],
    scores: Sequence[dict | None] | None = None,
    protocol: str = "strict",
) -> dict:
    """Per-class precision/recall/F1/support, macro-F1, hamming loss, AUC (see module docstring).

    ``predicted[i]`` None means the answer could not be parsed: it predicts no class (counted in
    ``unparsed``). ``scores[i]``: the backend's score per class, when it gives them.
    """
    classes = list(classes)
    n = len(gold)
    parsed = [p is not None for p in predicted]
    y = _binary(gold, classes)
    yp = _binary([p or [] for p in predicted], classes)
    tp = (y & yp).sum(0)
    fp = ((1 - y) & yp).sum(0)
    fn = (y & (1 - yp)).sum(0)
    support = y.sum(0)
    have_scores = scores is not None and n > 0 and all(s is not None for s in scores)
    per_class, f1s = {}, []
    for k, c in enumerate(classes):
        p = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else 0.0
        r = tp[k] / (tp[k] + fn[k]) if tp[k] + fn[k] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        entry = {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f1),
            "support": int(support[k]),
            "tp": int(tp[k]),
            "fp": int(fp[k]),
            "fn": int(fn[k]),
            "tn": int(n - tp[k] - fp[k] - fn[k]),
            "auc": None,
        }
        if have_scores:
            entry["auc"] = auc_binary(y[:, k], np.array([float(s.get(c, 0.0)) for s in scores]))
        elif protocol == "ecgbench":
            entry["auc"] = auc_binary(y[:, k], yp[:, k].astype(float))
        per_class[c] = entry
        f1s.append(f1)
    scored = [c for c in classes if per_class[c]["support"] > 0]
    no_positives = [c for c in classes if per_class[c]["support"] == 0]
    if protocol == "ecgbench":
        macro = float(np.mean(f1s)) if classes else None
        macro_over = classes
    else:
        macro = float(np.mean([per_class[c]["f1"] for c in scored])) if scored else None
        macro_over = scored
    aucs = [per_class[c]["auc"] for c in macro_over if per_class[c]["auc"] is not None]
    auc_source = (
        "scores" if have_scores else ("0/1 predictions (ECG-Bench)" if protocol == "ecgbench" else None)
    )
    return {
        "protocol": protocol,
        "n": n,
        "classes": classes,
        "per_class": per_class,
        "macro_f1": macro,
        "macro_over": macro_over,
        "no_positive_classes": no_positives,
        "hamming_loss": float((y != yp).mean()) if n and classes else None,
        "macro_auc": float(np.mean(aucs)) if aucs else None,
        "auc": "n/a" if auc_source is None else auc_source,
        "unparsed": int(n - sum(parsed)),
        "parse_rate": float(np.mean(parsed)) if n else None,
        "exact_match": float((y == yp).all(1).mean()) if n else None,
    }


# ------------------------------------------------------------------------------------ multiple choice
_EXPLICIT = re.compile(r"\banswer\s*(?:is|:)\s*(?:option\s*)?\(?([A-J])\)?(?![\w'])", re.I)
_LETTER = re.compile(r"(?<![\w'])\(?([A-J])\)?(?![\w'])")  # upper case only: "a" is a word
_ARTICLE_OR_PRONOUN = re.compile(r"\s+(?!and\b|or\b|nor\b)[a-z]")  # "A normal ECG", "I think"


def parse_choice(answer: str | None, options: Sequence[str]) -> str | None:
    """The option letter an answer chooses, or None when it is not one clear choice (strict).

    In order: an explicit "answer is X" / "answer: X"; else the one option letter standing alone in
    the answer ("B", "(B)", "B. text", "I think C"; "A"/"I" followed by a word are the article and the
    pronoun); else the text of exactly one option. Two different letters or option texts, or none,
    give None.

    >>> parse_choice("The answer is (B)", ["Sinus rhythm", "Atrial fibrillation"])
    'B'
    >>> parse_choice("A or B", ["x", "y"]) is None
    True
    """
    if not answer or not answer.strip():
        return None
    text = answer.strip()
    valid = {chr(ord("A") + i) for i in range(len(options) if options else 10)}
    alone = re.fullmatch(r"\(?([A-Ja-j])\)?\.?", text)  # the letter alone, any case
    if alone:
        return alone.group(1).upper() if alone.group(1).upper() in valid else None
    explicit = {m.group(1).upper() for m in _EXPLICIT.finditer(text)} & valid
    if explicit:
        return explicit.pop() if len(explicit) == 1 else None
    letters = set()
    for m in _LETTER.finditer(text):
        letter = m.group(1)
        if letter not in valid:
            continue
        if letter in "AI" and not m.group(0).startswith("(") and _ARTICLE_OR_PRONOUN.match(text, m.end()):
            continue
        letters.add(letter)
    if letters:
        return letters.pop() if len(letters) == 1 else None
    named = [i for i, o in enumerate(options) if o and re.search(rf"(?<!\w){re.escape(o)}(?!\w)", text, re.I)]
    # an option text inside a longer named one ("rhythm" in "sinus rhythm") is not a second choice
    named = [i for i in named if not any(j != i and options[i].lower() in options[j].lower() for j in named)]
    return chr(ord("A") + named[0]) if len(named) == 1 else None


def mcq_metrics(
    gold: Sequence[str],
    answers: Sequence[str | None],
    options: Sequence[Sequence[str]],
    protocol: str = "strict",
) -> dict:
    """Accuracy and parse rate; ``ecgbench`` replaces unparsed answers by ``random.choice`` (seed 42)."""
    parsed = [parse_choice(a, o) for a, o in zip(answers, options, strict=True)]
    chosen = list(parsed)
    if protocol == "ecgbench":
        rng = random.Random(42)
        chosen = [
            p if p is not None else rng.choice([chr(ord("A") + i) for i in range(max(len(o), 1))])
            for p, o in zip(parsed, options, strict=True)
        ]
    n = len(gold)
    correct = [c is not None and c == g for c, g in zip(chosen, gold, strict=True)]
    return {
        "protocol": protocol,
        "n": n,
        "accuracy": float(np.mean(correct)) if n else None,
        "parse_rate": float(np.mean([p is not None for p in parsed])) if n else None,
        "unparsed": int(sum(p is None for p in parsed)),
        "correct": int(sum(correct)),
        "predicted": chosen,
        "parsed": parsed,
    }


# ------------------------------------------------------------------------------------------ bootstrap
def paired_bootstrap_ci(
    a: np.ndarray, b: np.ndarray, statistic=None, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> dict:
    """Percentile CI of statistic(b) - statistic(a) over items resampled jointly (paired).

    ``a`` and ``b`` hold per-item values of the same items in the same order (rows may be vectors,
    e.g. 0/1 decisions per class, with ``statistic`` the macro-F1 of them); the default statistic is
    the mean.
    """
    a, b = np.asarray(a), np.asarray(b)
    if len(a) != len(b):
        raise ValueError("paired bootstrap needs the same items in both runs")
    statistic = statistic or (lambda x: float(np.mean(x)))
    n = len(a)
    diff = statistic(b) - statistic(a)
    if n < 2:
        return {"difference": diff, "ci95": None, "n": n}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    draws = np.array([statistic(b[i]) - statistic(a[i]) for i in idx])
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return {"difference": float(diff), "ci95": [float(lo), float(hi)], "n": n}
