"""A pop or tap on one limb electrode is not a heartbeat.

Every chest lead is read against the central terminal (the mean of the three limb electrodes), so an
artifact on one limb electrode reaches V1-V6 as one and the same wave and the limb leads that use that
electrode: the R-peak detectors took it for a beat and a normal record read "premature atrial
contractions" (or sinus arrhythmia). Here the artifact is added to an electrode and the twelve leads
are formed from the electrodes as a recorder forms them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gem_core.beat_model import conduction_ecg
from gem_core.ecg import ECG
from gem_core.features import measure
from gem_core.rules import assess

ELECTRODES = ("RA", "LA", "LL")


def _leads(electrodes: np.ndarray) -> np.ndarray:
    """The 12 leads (I, II, III, aVR, aVL, aVF, V1-V6) of electrode potentials RA, LA, LL, C1-C6."""
    ra, la, ll = electrodes[:3]
    wct = (ra + la + ll) / 3.0
    limb = [la - ra, ll - ra, ll - la, ra - (la + ll) / 2, la - (ra + ll) / 2, ll - (ra + la) / 2]
    return np.stack(limb + [c - wct for c in electrodes[3:]])


def _with_artifact(ecg: ECG, electrode: int, shape: str, mv: float, at_ms: float) -> ECG:
    fs = ecg.fs
    i0 = int(at_ms * fs / 1000.0)
    e = np.zeros((9, ecg.signal.shape[1]))
    if shape == "spike":  # a 30 ms deflection, as a tap on the electrode
        w = int(0.03 * fs)
        e[electrode, i0 : i0 + w] = mv * np.sin(np.linspace(0, np.pi, w))
    elif shape == "tap":  # 60 ms, up and down
        w = int(0.06 * fs)
        e[electrode, i0 : i0 + w] = mv * np.sin(np.linspace(0, 2 * np.pi, w))
    else:  # an electrode pop: a step decaying over 200 ms
        e[electrode, i0:] = mv * np.exp(-np.arange(e.shape[1] - i0) / fs / 0.2)
    signal = ecg.signal.astype(np.float64) + _leads(e)
    return ECG(signal=signal.astype(np.float32), fs=fs, record_id=f"{ecg.record_id}-artifact")


@pytest.mark.parametrize(("electrode", "shape"), list(itertools.product(range(3), ("spike", "tap", "pop"))))
def test_a_limb_electrode_artifact_is_not_a_beat(electrode, shape):
    """Artifacts of 0.5 and 2 mV in diastole and on the T wave, 60 and 85 bpm, normal and RBBB hearts: the
    beats counted are the heart's, no premature beat is reported and the reading is the heart's."""
    for mv, phase, (rate, morph, qrs) in itertools.product(
        (0.5, 2.0), (0.35, 0.6), ((60, "normal", 90), (85, "rsr", 130))
    ):
        ecg, truth = conduction_ecg(rate, qrs, morphology=morph, noise=0.015, p_shape="raised_cosine", seed=1)
        at = truth["qrs_onsets_ms"][4] + phase * 60000.0 / rate
        m = measure(_with_artifact(ecg, electrode, shape, mv, at))
        where = (ELECTRODES[electrode], shape, mv, phase, rate)
        assert len(m.r_peaks_ms) == len(measure(ecg).r_peaks_ms), where
        assert m.premature_beats == [], where
        expected = {"Normal"} if morph == "normal" else {"RBBB"}
        assert set(assess(m).diagnosis_labels) - {"SB"} == expected, where


def test_beats_stay_when_the_chest_leads_are_left_floating():
    """Chest electrodes off: V1-V6 show the central terminal alone, the same wave on every beat. Nothing
    tells a beat from an artifact there, so no beat is dropped and the rate is the heart's."""
    ecg, truth = conduction_ecg(72, noise=0.015, p_shape="raised_cosine", seed=3)
    x = ecg.signal.astype(np.float64).copy()
    # with I = LA - RA and II = LL - RA (RA at 0), every chest lead reads minus the central terminal
    wct = (x[0] + x[1]) / 3.0
    x[6:] = -wct[None, :] + np.random.default_rng(0).normal(0, 0.01, (6, x.shape[1]))
    m = measure(ECG(signal=x.astype(np.float32), fs=ecg.fs, record_id="floating"))
    assert len(m.r_peaks_ms) == len(measure(ecg).r_peaks_ms)
    assert m.global_values["heart_rate_bpm"] == pytest.approx(truth["heart_rate_bpm"], abs=2)


def test_concordant_pvcs_are_kept():
    """Ventricular beats whose QRS is upright from V1 to V6 (positive concordance) are beats: their chest
    leads still differ in size and shape against each other."""
    ecg, truth = conduction_ecg(70, pvc_every=3, pvc_morphology="slurred_s", noise=0.015, seed=2)
    m = measure(ecg)
    assert sum(b["kind"] == "PVC" for b in m.premature_beats) >= 2
