"""A pop or tap on one limb electrode is not a heartbeat.

Every chest lead is read against the central terminal (the mean of the three limb electrodes), so an
artifact on one limb electrode reaches V1-V6 as one and the same wave and the limb leads that use that
electrode: the R-peak detectors took it for a beat and a normal record read "premature atrial
contractions" (or sinus arrhythmia). Here the artifact is added to an electrode and the twelve leads
are formed from the electrodes as a recorder forms them (``beat_model.electrode_artifact``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gem_core.beat_model import conduction_ecg, electrode_artifact
from gem_core.ecg import ECG
from gem_core.features import measure
from gem_core.rules import assess

ELECTRODES = ("RA", "LA", "LL")


@pytest.mark.parametrize(("electrode", "shape"), list(itertools.product(ELECTRODES, ("spike", "tap", "pop"))))
def test_a_limb_electrode_artifact_is_not_a_beat(electrode, shape):
    """Artifacts of 0.5 and 2 mV in diastole and on the T wave, 60 and 85 bpm, normal and RBBB hearts: the
    beats counted are the heart's, no premature beat is reported and the reading is the heart's."""
    for mv, phase, (rate, morph, qrs) in itertools.product(
        (0.5, 2.0), (0.35, 0.6), ((60, "normal", 90), (85, "rsr", 130))
    ):
        ecg, truth = conduction_ecg(rate, qrs, morphology=morph, noise=0.015, p_shape="raised_cosine", seed=1)
        at = truth["qrs_onsets_ms"][4] + phase * 60000.0 / rate
        m = measure(electrode_artifact(ecg, electrode, shape, mv, at))
        where = (electrode, shape, mv, phase, rate)
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
