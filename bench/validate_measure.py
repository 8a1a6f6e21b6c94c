"""Validation of the measurements and the built-in interpreter that cannot be tuned to.

Run: ``python bench/validate_measure.py [--quick]``

1. Synthetic records with exact truth (``gem_core.beat_model``): QRS 80-180 ms (normal, rSR' and slurred-S
   morphologies), PR 120-320 ms, ST offsets -0.3..+0.3 mV, rates 40-180 bpm. Errors of ``measure`` as mean
   and 95th percentile (targets: QRS and PR within 10 ms, ST within 0.03 mV). Combinations a heart cannot
   make are left out and counted: a P wave that would fall inside the previous T wave is not drawn (no PR
   truth), and a QRS >= 140 ms at 180 bpm is a sine-like ventricular tachycardia (reported apart). QRS
   errors per morphology and per rate, and apart for complexes whose ST-T rises straight out of the QRS
   (``st_segment_ms=0``: no ST segment): wide ones, and narrow ones at 100 bpm or more on clean records
   (noise 0.005 mV). J-point levels (the first 10 ms after the QRS offset) against the ST truth.
   QRS lobes that taper into the baseline with zero slope (as real QRS ends often do) are measured apart:
   the few ms under 0.02 mV at a tapered end are left out, as a reader leaves them.
2. The shared real records split by a fixed rule, the parity of the record number (A0001 -> 1: odd):
   odd records are the half one may look at, even records the half never tuned on. For each half:
   the interpreter's per-class F1 and macro-F1 on the CPSC classes (``bench/interpret_cpsc.py``'s
   scoring), heart rate within 3 bpm of wfdb's XQRS on lead II (regular records: RR irregularity under
   0.1), the QRS of every LBBB record and whether any record is called normal with QRS, QT or axis
   missing.
3. Speed in the same run: ``measure`` against neurokit2's ``ecg_process`` on each of the 12 leads
   (``bench/features.py``'s baseline) on 10 s records; target ratio <= 0.5.
4. Rhythms and interference whose reading is known: respiratory sinus arrhythmia (10-20% rate swing;
   15% over breaths of 4-5 s), ventricular and atrial bigeminy and trigeminy, PACs whose P wave is shaped
   like the sinus one, atrial fibrillation (fibrillatory waves of 0-0.2 mV), an ectopic atrial rhythm (P
   waves inverted; over 100 bpm an ectopic atrial tachycardia), 2:1 AV block (the blocked P wave also
   inside the T wave at 55-80 bpm), complete AV block (atria also near twice the ventricular rate),
   junctional rhythm, a regular narrow tachycardia without P waves (supraventricular tachycardia),
   atrial flutter with 3:1-5:1 conduction (2:1: a known limit), 0.2 mV U waves, swapped arm electrodes,
   swapped right arm and left leg electrodes, and normal hearts under baseline wander, 50 Hz mains hum,
   muscle noise, an artifact or a 5-8 Hz tremor on one limb electrode: how many records are read as
   drawn.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from interpret_cpsc import SHARED_ECG, scores, truth_labels  # noqa: E402

from gem_core.backends.measure import MeasureInterpreter  # noqa: E402
from gem_core.beat_model import (  # noqa: E402
    P_MS,
    conduction_ecg,
    electrode_artifact,
    interfere,
    swap_arm_electrodes,
    swap_arm_leg_electrodes,
)
from gem_core.ecg import load_ecg  # noqa: E402
from gem_core.errors import GemError  # noqa: E402
from gem_core.features import measure  # noqa: E402
from gem_core.labels import CPSC_CLASSES, labels_from_text  # noqa: E402

ST_LEADS = ("V2", "V3", "V4")


def synthetic_grid(quick: bool) -> list[dict]:
    rates = (40, 75, 120, 180) if quick else (40, 60, 75, 100, 120, 150, 180)
    widths = {"normal": (80, 100), "rsr": (100, 120, 140, 180), "slurred_s": (120, 140, 180)}
    prs = (120, 200, 320) if quick else (120, 160, 200, 260, 320)
    sts = (-0.3, 0.0, 0.3) if quick else (-0.3, -0.15, 0.0, 0.15, 0.3)
    out = []
    for (morph, qrs_list), rate in itertools.product(widths.items(), rates):
        for k, (qrs, pr) in enumerate(itertools.product(qrs_list, prs)):
            st = sts[k % len(sts)]
            ecg, truth = conduction_ecg(rate, qrs, pr, st, ST_LEADS, morph, seed=rate + qrs + pr)
            m = measure(ecg)
            g = m.global_values
            st_err = [
                abs(g["st_deviation_mv"][lead] - truth["st_mv"][lead])
                for lead in ("V2", "V3", "V4", "II", "V6")
                if g["st_deviation_mv"].get(lead) is not None
            ]
            j_err = [
                abs(sorted(js)[len(js) // 2] - truth["st_mv"][lead])
                for lead in ("V2", "V3", "V4", "II", "V6")
                if (js := [b["st_j"] for b in m.leads[lead].beats if b["st_j"] is not None])
            ]
            out.append(
                {
                    "rate": rate,
                    "morph": morph,
                    "qrs": qrs,
                    "pr": truth["pr_ms"],
                    "st": st,
                    "j_err": max(j_err) if j_err else None,
                    "vt_like": rate >= 180 and qrs >= 140,
                    "st_segment": None,
                    "qrs_err": None if g["qrs_ms"] is None else g["qrs_ms"] - qrs,
                    "pr_err": None
                    if g["pr_ms"] is None or truth["pr_ms"] is None
                    else g["pr_ms"] - truth["pr_ms"],
                    "pr_missing": truth["pr_ms"] is not None and g["pr_ms"] is None,
                    "p_err": None if g["p_ms"] is None or truth["pr_ms"] is None else g["p_ms"] - P_MS,
                    "p_on_err": _p_onset_error(m, truth),
                    "st_err": max(st_err) if st_err else None,
                    "qt_err": None if g["qt_ms"] is None else g["qt_ms"] - truth["qt_tangent_ms"],
                }
            )
    # wide QRS complexes whose ST-T rises straight out of the QRS (no ST segment): QRS only
    for morph, rate in itertools.product(("rsr", "slurred_s"), rates):
        for qrs in widths[morph][-3:]:
            if rate >= 180 and qrs >= 140:
                continue
            ecg, _ = conduction_ecg(rate, qrs, 160, morphology=morph, seed=rate + qrs, st_segment_ms=0)
            got = measure(ecg).global_values["qrs_ms"]
            out.append(
                {"rate": rate, "morph": morph, "qrs": qrs, "vt_like": False, "st_segment": 0}
                | {"qrs_err": None if got is None else got - qrs}
            )
    # narrow QRS complexes at fast rates on clean records (noise 0.005 mV), the T wave rising out of J
    for rate, qrs in itertools.product([r for r in rates if r >= 100], widths["normal"]):
        ecg, _ = conduction_ecg(
            rate, qrs, 120, morphology="normal", seed=rate + qrs, st_segment_ms=0, noise=0.005
        )
        got = measure(ecg).global_values["qrs_ms"]
        out.append(
            {"rate": rate, "morph": "normal", "qrs": qrs, "vt_like": False, "st_segment": 0}
            | {"qrs_err": None if got is None else got - qrs}
        )
    return out


def _p_onset_error(m, truth: dict) -> float | None:
    """Error of the P onset itself (ms): the PR's error less that of the QRS onset it runs to (a beat
    in the middle of lead II)."""
    pr = m.global_values["pr_ms"]
    beats = m.leads["II"].beats
    beat = beats[len(beats) // 2] if beats else {}
    if pr is None or truth["pr_ms"] is None or beat.get("qrs_onset_ms") is None:
        return None
    qrs_on_err = beat["qrs_onset_ms"] - min(truth["qrs_onsets_ms"], key=lambda x: abs(x - beat["r_peak_ms"]))
    return qrs_on_err - (pr - truth["pr_ms"])


def _stats(name: str, errors: list, unit: str, target: float) -> None:
    e = np.abs(np.asarray([x for x in errors if x is not None], dtype=float))
    if not len(e):
        print(f"  {name}: no values")
        return
    within = float(np.mean(e <= target))
    print(
        f"  {name:32s} n {len(e):3d}  mean |error| {e.mean():6.3f} {unit}  p95 {np.percentile(e, 95):6.3f} {unit}"
        f"  max {e.max():6.3f}  within {target:g} {unit}: {100 * within:.0f}%"
    )


def report_synthetic(rows: list[dict]) -> None:
    usable = [r for r in rows if not r["vt_like"] and r["st_segment"] is None]
    n_vt, n_into = sum(r["vt_like"] for r in rows), sum(r["st_segment"] == 0 for r in rows)
    print(
        f"\n1. synthetic records with exact truth: {len(rows)} ({n_vt} VT-like and {n_into} without an ST"
        " segment reported apart)"
    )
    _stats("QRS duration", [r["qrs_err"] for r in usable], "ms", 10)
    missing = sum(r["qrs_err"] is None for r in usable)
    print(f"  QRS not measured on {missing} records")
    for morph in ("normal", "rsr", "slurred_s"):
        _stats(f"QRS duration, {morph}", [r["qrs_err"] for r in usable if r["morph"] == morph], "ms", 10)
    for rate in sorted({r["rate"] for r in usable}):
        _stats(f"QRS duration at {rate} bpm", [r["qrs_err"] for r in usable if r["rate"] == rate], "ms", 10)
    for hi in (200, 320):
        lo = 120 if hi == 200 else 201
        _stats(
            f"PR interval, PR {lo}-{hi} ms",
            [r["pr_err"] for r in usable if r["pr"] is not None and lo <= r["pr"] <= hi],
            "ms",
            10,
        )
    for rate in sorted({r["rate"] for r in usable}):
        _stats(f"PR interval at {rate} bpm", [r["pr_err"] for r in usable if r["rate"] == rate], "ms", 10)
    print(f"  PR truth present but not measured: {sum(r['pr_missing'] for r in usable)}")
    _stats("P onset (PR less QRS-onset error)", [r["p_on_err"] for r in usable], "ms", 10)
    _stats("P duration", [r["p_err"] for r in usable], "ms", 10)
    _stats("ST level (worst of V2-V4, II, V6)", [r["st_err"] for r in usable], "mV", 0.03)
    for rate in sorted({r["rate"] for r in usable}):
        _stats(f"ST level at {rate} bpm", [r["st_err"] for r in usable if r["rate"] == rate], "mV", 0.03)
    _stats("J-point level (worst lead)", [r["j_err"] for r in usable], "mV", 0.03)
    for morph in ("normal", "rsr", "slurred_s"):
        _stats(f"J-point level, {morph}", [r["j_err"] for r in usable if r["morph"] == morph], "mV", 0.03)
    _stats("QT (tangent-method end)", [r["qt_err"] for r in usable], "ms", 10)
    for rate in sorted({r["rate"] for r in usable}):
        _stats(f"QT at {rate} bpm", [r["qt_err"] for r in usable if r["rate"] == rate], "ms", 10)
    into_st = [r for r in rows if r["st_segment"] == 0]
    if into_st:
        _stats("QRS into the ST-T (no ST segment)", [r["qrs_err"] for r in into_st], "ms", 10)
        for morph in ("normal", "rsr", "slurred_s"):
            _stats(f"  of which {morph}", [r["qrs_err"] for r in into_st if r["morph"] == morph], "ms", 10)
        print(
            f"    errors over 10 ms: {[(r['morph'], r['rate'], r['qrs'], r['qrs_err']) for r in into_st if r['qrs_err'] is None or abs(r['qrs_err']) > 10]}"
        )
    vt = [r for r in rows if r["vt_like"]]
    if vt:
        print(
            "  VT-like (QRS >= 140 ms at 180 bpm): QRS measured on "
            f"{sum(r['qrs_err'] is not None for r in vt)}/{len(vt)}, errors {[r['qrs_err'] for r in vt]}"
        )


def report_tapered(quick: bool) -> None:
    """QRS lobes that taper into the baseline (``qrs_shape="raised_cosine"``): how much of a smooth QRS
    end the bounds leave out (signed: negative reads short)."""
    rates = (40, 75, 120, 150) if quick else (40, 60, 75, 100, 120, 150)
    errors = {}
    for (morph, widths), rate in itertools.product(
        {"normal": (80, 100), "rsr": (100, 120, 140), "slurred_s": (120, 140)}.items(), rates
    ):
        for qrs in widths:
            ecg, _ = conduction_ecg(
                rate, qrs, 160, 0.0, morphology=morph, seed=rate + qrs, qrs_shape="raised_cosine"
            )
            got = measure(ecg).global_values["qrs_ms"]
            errors.setdefault(morph, []).append(None if got is None else got - qrs)
    for morph, errs in errors.items():
        _stats(f"QRS, tapered lobes, {morph}", errs, "ms", 10)
        signed = [e for e in errs if e is not None]
        print(f"    signed error {min(signed):+.0f} to {max(signed):+.0f} ms")


def report_rhythms(quick: bool) -> None:
    """Rhythms and interference with a known reading (``conduction_ecg``): sinus arrhythmia, ventricular
    and atrial bigeminy/trigeminy, and normal hearts under baseline wander, mains hum and muscle noise.
    Counts records read otherwise than the truth (the rate labels SB/STach aside)."""
    from gem_core.rules import assess

    rates = (60, 90) if quick else (55, 75, 90, 100)
    cases = []  # (group, ecg, the labels expected besides the rate)
    for swing, rate in itertools.product((0.1, 0.15, 0.2), rates):
        try:
            ecg, _ = conduction_ecg(
                rate, sinus_arrhythmia=swing, noise=0.03, p_shape="raised_cosine", seed=rate
            )
        except GemError:  # the shortest RR leaves no room for the P wave: not drawn
            continue
        cases.append((f"sinus arrhythmia {swing:.0%}", ecg, {"SA", "Normal"}))
    for breath_s, rate, seed in itertools.product((4.0, 5.0), (55, 66, 80), (0, 1)):  # breathing every 4-5 s
        ecg, _ = conduction_ecg(rate, sinus_arrhythmia=0.15, breath_beats=breath_s * rate / 60.0, noise=0.02,
                                p_shape="raised_cosine", seed=seed)  # fmt: skip
        cases.append(("sinus arrhythmia 15%, 4-5 s breaths", ecg, {"SA", "Normal"}))
    for every, (morph, width), rate in itertools.product(
        (2, 3), (("slurred_s", 150.0), ("rsr", 140.0)), rates
    ):
        ecg, _ = conduction_ecg(rate, pvc_every=every, pvc_morphology=morph, pvc_qrs_ms=width, noise=0.015,
                                p_shape="raised_cosine")  # fmt: skip
        cases.append((f"ventricular {'bigeminy' if every == 2 else 'trigeminy'}", ecg, {"PVC"}))
    for every, rate in itertools.product((2, 3), (60, 75, 90)):
        ecg, _ = conduction_ecg(rate, pac_every=every, pac_coupling=0.8, noise=0.015, p_shape="raised_cosine")
        cases.append((f"atrial {'bigeminy' if every == 2 else 'trigeminy'}", ecg, {"PAC"}))
    for every, rate in itertools.product((3, 4), (60, 80)):
        ecg, _ = conduction_ecg(rate, pac_every=every, pac_coupling=0.7, pac_p_sign=1.0, noise=0.015,
                                p_shape="raised_cosine", seed=rate)  # fmt: skip
        cases.append(("PACs with a sinus-shaped P wave", ecg, {"PAC"}))
    for (kind, level), rate in itertools.product(
        (
            ("wander", 0.5),
            ("wander", 1.0),
            ("mains", 0.15),
            ("mains", 0.3),
            ("emg", 0.05),
            ("emg", 0.08),
            ("emg", 0.1),
        ),
        rates,
    ):
        ecg, _ = conduction_ecg(
            rate, noise=0.01, p_shape="raised_cosine", qrs_shape="raised_cosine", seed=rate
        )
        cases.append((f"normal heart, {kind} {level} mV", interfere(ecg, kind, level, rate), {"Normal"}))
    for electrode, shape, rate in itertools.product(("RA", "LA", "LL"), ("spike", "tap", "pop"), (60, 85)):
        ecg, truth = conduction_ecg(rate, noise=0.015, p_shape="raised_cosine", seed=1)
        at = truth["qrs_onsets_ms"][4] + 0.6 * 60000.0 / rate  # in diastole, where a beat could be
        cases.append(("artifact on one limb electrode", electrode_artifact(ecg, electrode, shape, 1.0, at),
                      {"Normal"}))  # fmt: skip
    for electrode, hz, rate in itertools.product(("RA", "LA", "LL"), (5.0, 8.0), (60, 85)):
        ecg, _ = conduction_ecg(rate, noise=0.01, p_shape="raised_cosine", seed=rate)
        shaking = electrode_artifact(ecg, electrode, "tremor", 0.1, hz=hz, seed=rate)
        cases.append(("tremor 0.1 mV on one limb electrode", shaking, {"Normal"}))
    for (f_mv, morph), rate in itertools.product(
        ((0.0, "normal"), (0.1, "normal"), (0.2, "rsr")), (60, 150) if quick else (60, 90, 120, 150)
    ):
        ecg, _ = conduction_ecg(rate, 90.0 if morph == "normal" else 140.0, morphology=morph,
                                atrial_fibrillation=f_mv, noise=0.015, seed=rate)  # fmt: skip
        expected = {"AF"} | ({"RBBB"} if morph == "rsr" else set())
        cases.append(("atrial fibrillation, f waves 0-0.2 mV", ecg, expected))
    for rate, pr in itertools.product((60, 90) if quick else (55, 75, 90, 110), (140, 180)):
        ecg, _ = conduction_ecg(rate, pr_ms=pr, p_scale=-1.0, noise=0.015, p_shape="raised_cosine", seed=rate)
        expected = {"EAR"} if rate <= 100 else {"ATach"}  # over 100 bpm an ectopic atrial tachycardia
        cases.append(("inverted P waves (low atrial focus)", ecg, expected))
    for rate, (morph, qrs) in itertools.product((60, 95), (("normal", 90.0), ("rsr", 130.0))):
        ecg, _ = conduction_ecg(rate, qrs, morphology=morph, noise=0.015, p_shape="raised_cosine", seed=rate)
        expected = {"swapped"} | ({"RBBB"} if morph == "rsr" else set())
        cases.append(("arm electrodes swapped", swap_arm_electrodes(ecg), expected))
    for rate, (morph, qrs) in itertools.product(
        (55, 95), (("normal", 90.0), ("rsr", 130.0), ("slurred_s", 150.0))
    ):
        ecg, _ = conduction_ecg(rate, qrs, morphology=morph, noise=0.015, p_shape="raised_cosine", seed=rate)
        expected = {"limb swap"} | {"normal": set(), "rsr": {"RBBB"}, "slurred_s": {"LBBB"}}[morph]
        cases.append(("right arm / left leg swapped", swap_arm_leg_electrodes(ecg), expected))
    for rate, pr in itertools.product((30, 35, 40, 45, 50), (160, 240)):
        ecg, _ = conduction_ecg(rate, pr_ms=pr, av_block_2to1=True, noise=0.015, p_shape="raised_cosine")
        cases.append(
            ("2:1 AV block (ventricles 30-50 bpm)", ecg, {"2:1"} | ({"I-AVB"} if pr > 200 else set()))
        )
    for rate, pr in itertools.product((55, 60, 65, 70, 75, 80), (160, 240)):  # the blocked P in the T wave
        ecg, _ = conduction_ecg(rate, pr_ms=pr, av_block_2to1=True, noise=0.015, p_shape="raised_cosine")
        cases.append(
            ("2:1 AV block (ventricles 55-80 bpm)", ecg, {"2:1"} | ({"I-AVB"} if pr > 200 else set()))
        )
    for (rate, atria), morph in itertools.product(
        ((30, 75), (35, 90), (40, 60), (40, 110), (45, 75)), ("normal", "slurred_s")
    ):
        qrs = 150.0 if morph == "slurred_s" else 90.0
        ecg, _ = conduction_ecg(
            rate, qrs, morphology=morph, atrial_rate=atria, noise=0.015, p_shape="raised_cosine"
        )
        expected = {"3AVB"} | ({"LBBB"} if morph == "slurred_s" else set())
        cases.append(("complete AV block (30-45 bpm)", ecg, expected))
    for (rate, atria), morph in itertools.product(
        ((30, 57), (30, 63), (34, 57), (38, 73), (42, 86), (46, 95)), ("normal", "slurred_s")
    ):  # atria near twice the ventricles, or five beats in 10 s
        qrs = 150.0 if morph == "slurred_s" else 90.0
        ecg, _ = conduction_ecg(
            rate, qrs, morphology=morph, atrial_rate=atria, noise=0.015, p_shape="raised_cosine", seed=rate
        )
        expected = {"3AVB"} | ({"LBBB"} if morph == "slurred_s" else set())
        cases.append(("complete AV block, atria ~2x or 5 beats", ecg, expected))
    for rate in (40, 55, 75, 95):
        ecg, _ = conduction_ecg(rate, pr_ms=None, noise=0.015, seed=rate)
        cases.append(("junctional rhythm (no P, 40-95 bpm)", ecg, {"junctional"}))
    for rate in (110, 130, 150, 180):
        ecg, _ = conduction_ecg(rate, pr_ms=None, noise=0.015, seed=rate)
        cases.append(("supraventricular tachycardia (narrow, no P, 110-180 bpm)", ecg, {"SVT"}))
    for conduction, mv in itertools.product((3, 4, 5), (0.1, 0.2, 0.3)):
        ecg, _ = conduction_ecg(
            300 / conduction, atrial_flutter=mv, flutter_conduction=conduction, noise=0.015
        )
        cases.append(("atrial flutter 3:1-5:1", ecg, {"AFL"}))
    for mv in (0.2, 0.3):  # a known limit: no T-Q stretch to compare flutter waves in
        ecg, _ = conduction_ecg(150, atrial_flutter=mv, flutter_conduction=2, noise=0.015)
        cases.append(("atrial flutter 2:1 (not found yet)", ecg, {"AFL"}))
    for rate, morph in itertools.product(rates, ("normal", "rsr", "slurred_s")):
        qrs = {"normal": 90.0, "rsr": 130.0, "slurred_s": 150.0}[morph]
        ecg, _ = conduction_ecg(rate, qrs, morphology=morph, u_mv=0.2, noise=0.015, p_shape="raised_cosine")
        cases.append(
            ("0.2 mV U waves", ecg, {{"normal": "Normal", "rsr": "RBBB", "slurred_s": "LBBB"}[morph]})
        )
    print("\n4. rhythms and interference with a known reading (labels besides SB/STach)")
    wrong: dict[str, list] = {}
    for group, ecg, expected in cases:
        a = assess(measure(ecg))
        labels = set(a.diagnosis_labels) - {"SB", "STach"} | (
            {"2:1"} if "2:1 AV block" in a.diagnosis else set()
        )
        labels |= {"3AVB"} if "complete AV block" in a.diagnosis else set()
        labels |= {"swapped"} if "suspected arm electrode reversal" in a.diagnosis else set()
        labels |= {"limb swap"} if "suspected limb electrode reversal" in a.diagnosis else set()
        labels |= {"junctional"} if "junctional" in a.diagnosis[0] else set()
        labels |= {"AFL"} if "atrial flutter" in a.diagnosis[0] else set()
        if group.startswith("sinus arrhythmia") and labels == {"Normal"}:
            labels = expected  # too little swing to be irregular: sinus rhythm, also right
        wrong.setdefault(group, []).append(None if labels == expected else sorted(labels))
    for group, results in wrong.items():
        bad = [r for r in results if r is not None]
        print(
            f"  {group:34s} {len(results) - len(bad):2d}/{len(results)} right"
            + (f"  read: {bad}" if bad else "")
        )


def record_number(name: str) -> int:
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else 0


def _xqrs_rate(ecg) -> float | None:
    from wfdb import processing

    peaks = processing.xqrs_detect(ecg.lead("II").astype(np.float64), fs=ecg.fs, verbose=False)
    return None if len(peaks) < 3 else 60.0 * ecg.fs / float(np.mean(np.diff(peaks)))


def real_rows() -> list[dict]:
    interpreter = MeasureInterpreter()
    rows = []
    for dataset in ("cpsc2018", "cinc2021_torch_ecg"):
        for header in sorted((SHARED_ECG / dataset).glob("*.hea")):
            ecg = load_ecg(header)
            m = measure(ecg)
            reading = interpreter.interpret(ecg)
            g = m.global_values
            rows.append(
                {
                    "dataset": dataset,
                    "record": ecg.record_id,
                    "half": "look" if record_number(ecg.record_id) % 2 else "never tuned",
                    "truth": sorted(truth_labels(ecg.metadata)),
                    "predicted": labels_from_text(reading.text),
                    "hr": g["heart_rate_bpm"],
                    "ref_hr": _xqrs_rate(ecg),
                    "regular": (g["rr_irregularity"] or 1.0) < 0.1,
                    "qrs": g["qrs_ms"],
                    "missing": [k for k in ("qrs_ms", "qt_ms", "qrs_axis_deg") if g[k] is None],
                }
            )
    return rows


def report_real(rows: list[dict]) -> None:
    print("\n2. real records split by record-number parity (odd: looked at; even: never tuned on)")
    for half in ("look", "never tuned"):
        for title, subset in (
            ("CPSC 2018", [r for r in rows if r["half"] == half and r["dataset"] == "cpsc2018"]),
            ("all shared", [r for r in rows if r["half"] == half]),
        ):
            s = scores(subset, "predicted")
            per = "  ".join(f"{c} {s[c]['f1']:.2f}({s[c]['n']})" for c in CPSC_CLASSES if s[c]["n"])
            print(f"  [{half:11s}] {title:10s} {len(subset):3d} records  macro-F1 {s['macro_f1']:.3f}  {per}")
        half_rows = [r for r in rows if r["half"] == half]
        sane = [r for r in half_rows if r["regular"] and r["ref_hr"] and 30 <= r["ref_hr"] <= 220 and r["hr"]]
        agree = sum(abs(r["hr"] - r["ref_hr"]) <= 3 for r in sane)
        lbbb = [(r["record"], r["qrs"]) for r in half_rows if "LBBB" in r["truth"]]
        bad_normal = [r["record"] for r in half_rows if "Normal" in r["predicted"] and r["missing"]]
        print(
            f"  [{half:11s}] HR within 3 bpm of XQRS on regular records: {agree}/{len(sane)}"
            f" ({100 * agree / max(1, len(sane)):.0f}%); LBBB QRS {lbbb}; called normal with QRS/QT/axis"
            f" missing: {bad_normal or 'none'}"
        )


def report_speed(n: int) -> None:
    import statistics

    from features import naive, ours, ten_second_records, timed

    records = ten_second_records(n)
    if not records:
        return
    ours(records[0]), naive(records[0])  # warm-up
    t_ours = [timed(ours, ecg) for ecg in records]
    t_naive = [timed(naive, ecg) for ecg in records]
    a, b = statistics.median(t_ours), statistics.median(t_naive)
    print(
        f"\n3. speed on {len(records)} 10 s records: measure {a:.0f} ms, ecg_process x 12 {b:.0f} ms, "
        f"ratio {a / b:.3f} (target <= 0.5)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller synthetic grid")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    report_synthetic(synthetic_grid(args.quick))
    report_tapered(args.quick)
    report_rhythms(args.quick)
    if (SHARED_ECG / "cpsc2018").is_dir():
        report_real(real_rows())
        report_speed(4 if args.quick else 10)
    else:
        print(f"\n2. skipped: no records at {SHARED_ECG}")
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
