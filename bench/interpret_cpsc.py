"""Accuracy of the measurement-based interpreter on the nine CPSC 2018 classes, scored like ECG-Bench.

Run: ``python bench/interpret_cpsc.py [--records DIR] [--json OUT]``

Records: the 50 CPSC 2018 records (``#Dx:`` abbreviations) and the PhysioNet/CinC 2021 records
(``# Dx:`` SNOMED CT codes mapped to the CPSC classes with ``gem_core.labels.SNOMED_TO_CPSC``) in
``../shared/data/ecg``. The CPSC class "Normal" means a normal ECG, so a 2021 record counts as Normal
when all its codes are sinus rhythm statements (sinus rhythm, bradycardia, tachycardia, arrhythmia).

Scoring (ECG-Bench): a class is predicted when the interpreter's text names it
(``gem_core.labels.labels_from_text``). Per class: precision, recall, F1; then macro-F1 over the nine
classes. Baseline measured in the same run: always answering "normal ECG" (the majority class).
For scale, the published ECG-Bench CPSC macro-F1: PULSE-7B 57.6, GEM-7B 61.1 (different records).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gem_core.backends.measure import MeasureInterpreter  # noqa: E402
from gem_core.ecg import load_ecg  # noqa: E402
from gem_core.labels import CPSC_CLASSES, cpsc_from_snomed, labels_from_text  # noqa: E402

SHARED_ECG = REPO.parent / "shared" / "data" / "ecg"
SINUS_CODES = {"426783006", "426177001", "427084000", "427393009"}  # SR, SB, STach, sinus arrhythmia
DATASETS = ("cpsc2018", "cinc2021_torch_ecg")


def truth_labels(metadata: dict) -> set[str]:
    """The CPSC classes of a record from its header labels."""
    labels = [str(x).strip() for x in metadata.get("labels", [])]
    if metadata.get("label_system") == "CPSC2018":
        return {lab for lab in labels if lab in CPSC_CLASSES}
    classes = cpsc_from_snomed(labels) - {"Normal"}
    if labels and set(labels) <= SINUS_CODES:
        classes.add("Normal")
    return classes


def scores(rows: list[dict], key: str) -> dict:
    """Per-class precision/recall/F1 and macro-F1 of ``row[key]`` against ``row['truth']``."""
    out = {}
    for cls in CPSC_CLASSES:
        tp = sum(cls in r[key] and cls in r["truth"] for r in rows)
        fp = sum(cls in r[key] and cls not in r["truth"] for r in rows)
        fn = sum(cls not in r[key] and cls in r["truth"] for r in rows)
        p = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
        out[cls] = {"n": tp + fn, "tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": rec, "f1": f1}
    present = [c for c in CPSC_CLASSES if out[c]["n"]]
    out["macro_f1"] = sum(out[c]["f1"] for c in present) / len(present) if present else 0.0
    out["classes_scored"] = present
    return out


def print_table(title: str, result: dict, baseline: dict) -> None:
    print(f"\n{title}")
    print(f"{'class':8s} {'n':>3s} {'TP':>3s} {'FP':>3s} {'FN':>3s} {'prec':>6s} {'rec':>6s} {'F1':>6s}")
    for cls in CPSC_CLASSES:
        s = result[cls]
        print(
            f"{cls:8s} {s['n']:3d} {s['tp']:3d} {s['fp']:3d} {s['fn']:3d} "
            f"{s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f}"
        )
    ratio = result["macro_f1"] / baseline["macro_f1"] if baseline["macro_f1"] else float("inf")
    print(
        f"macro-F1 over {len(result['classes_scored'])} classes present: {result['macro_f1']:.3f}  "
        f"(baseline 'always normal ECG': {baseline['macro_f1']:.3f}; ratio {ratio:.2f}x)"
    )


def _grounded(text: str, ecg) -> list[dict]:
    """The grounding checker's claims on the interpreter's own text (empty if grounding is absent)."""
    try:
        from gem_core.features import measure
        from gem_core.grounding import ground
    except ImportError:
        return []
    return [c if isinstance(c, dict) else c.to_dict() for c in ground(text, measure(ecg))]


def record_headers(root: Path) -> list[tuple[str, Path]]:
    """(dataset, header) of every record: those in the dataset folders under ``root`` (cpsc2018/, ...), or,
    where there are none, the headers in ``root`` itself (a folder of CPSC records as distributed)."""
    found = [(dataset, h) for dataset in DATASETS for h in sorted((root / dataset).glob("*.hea"))]
    return found or [(root.name, h) for h in sorted(root.glob("*.hea"))]


def run(root: Path) -> list[dict]:
    """One row per record. A record that cannot be read or interpreted is kept, with no classes predicted
    and its error, so that one bad file costs its own score, not the run."""
    interpreter = MeasureInterpreter()
    rows = []
    for dataset, header in record_headers(root):
        row = {
            "dataset": dataset,
            "record": header.stem,
            "truth": [],
            "predicted": [],
            "baseline": ["Normal"],
        }
        t0 = time.perf_counter()
        try:
            ecg = load_ecg(header)
            row["truth"] = sorted(truth_labels(ecg.metadata))
            row["cpsc"] = ecg.metadata.get("label_system") == "CPSC2018"
            reading = interpreter.interpret(ecg)
            verdicts = [c["verdict"] for c in _grounded(reading.text, ecg)]
            row.update(
                predicted=labels_from_text(reading.text),
                text=reading.text,
                grounding={v: verdicts.count(v) for v in set(verdicts)},
            )
        except Exception as exc:
            row.update(error=f"{type(exc).__name__}: {exc}", grounding={})
            row.setdefault("cpsc", dataset != "cinc2021_torch_ecg")  # a flat folder: CPSC records
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=SHARED_ECG, help="folder holding cpsc2018/ etc.")
    parser.add_argument("--json", type=Path, help="write per-record predictions and texts here")
    parser.add_argument("--verbose", action="store_true", help="print every record's truth and prediction")
    args = parser.parse_args(argv)
    if not record_headers(args.records):
        print(f"error: no records (*.hea) in {args.records} or its cpsc2018/ folder", file=sys.stderr)
        return 2
    rows = run(args.records)
    failed = [r for r in rows if "error" in r]
    if failed:
        print(f"{len(failed)} record(s) could not be read or interpreted (scored with no classes predicted):")
        for r in failed:
            print(f"  {r['record']}: {r['error']}")
    if args.verbose:
        for r in rows:
            mark = "ok " if set(r["truth"]) == set(r["predicted"]) else "   "
            print(
                f"{mark}{r['record']:8s} truth={','.join(r['truth']) or '-':18s} pred={','.join(r['predicted'])}"
            )
    groups = {
        "CPSC 2018": [r for r in rows if r["cpsc"]],
        "Challenge 2021": [r for r in rows if not r["cpsc"]],
        "all records": rows,
    }
    summary = {}
    for title, subset in groups.items():
        if not subset:
            continue
        result, baseline = scores(subset, "predicted"), scores(subset, "baseline")
        print_table(f"{title}: {len(subset)} records", result, baseline)
        summary[title] = {"result": result, "baseline": baseline}
    secs = sorted(r["seconds"] for r in rows)
    print(
        f"\ninterpretation time per record (measure + rules + prose): median {1000 * secs[len(secs) // 2]:.0f} ms"
    )
    totals: dict[str, int] = {}
    for r in rows:
        for verdict, n in r["grounding"].items():
            totals[verdict] = totals.get(verdict, 0) + n
    print(f"grounding checker on the interpreter's own text: {totals}")
    print("For scale, published ECG-Bench CPSC macro-F1: PULSE-7B 0.576, GEM-7B 0.611 (other records).")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "records": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
