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


@pytest.mark.parametrize("electrode", ELECTRODES)
@pytest.mark.parametrize("hz", [5.0, 8.0])
def test_a_limb_tremor_is_named_and_the_leads_it_distorts_are_left_out(electrode, hz):
    """A tremor of 0.1 mV on one limb electrode (drifting in rate, as a tremor does). Not locked to the
    beats, yet a median of ten beats keeps about 0.4 of it: it read as ST elevation or depression, a long
    PR or an ectopic P wave. It is found from its wiring (the limb lead without that electrode spared, a
    third of it in every chest lead), named, and the leads whose median beats keep most of it are left
    out (for P waves, those keeping half that much); no false diagnosis is made."""
    from gem_core.backends.measure import MeasureInterpreter

    wired = {"RA": {"I", "II"}, "LA": {"I", "III"}, "LL": {"II", "III"}}[electrode]
    ecg, _ = conduction_ecg(70, noise=0.01, p_shape="raised_cosine", seed=4)
    shaking = electrode_artifact(ecg, electrode, "tremor", 0.1, hz=hz, seed=int(hz))
    m = measure(shaking)
    tremor = m.global_values["electrode_tremor"]
    assert tremor["electrode"] == electrode and tremor["hz"] == pytest.approx(hz, abs=1.5)
    assert tremor["mv"] == pytest.approx(0.1, rel=0.3)
    assert wired <= set(tremor["leads"]) and all(m.leads[lead].quality == "noisy" for lead in wired)
    assert set(tremor["leads"]) <= set(tremor["p_leads"])
    assert set(assess(m).diagnosis_labels) <= {"Normal", "SB"}
    where = {"RA": "right arm", "LA": "left arm", "LL": "left leg"}[electrode]
    text = MeasureInterpreter().interpret(shaking).text
    assert f"tremor artifact of about {tremor['hz']:.0f} Hz" in text and f"on the {where} electrode" in text


@pytest.mark.parametrize(
    "case", ["clean", "muscle noise", "wander", "mains", "atrial fibrillation", "RBBB", "arms swapped"]
)
def test_no_tremor_is_found_where_there_is_none(case):
    """Noise that is no single electrode's (muscle noise on every lead, baseline wander, mains hum) and
    atrial fibrillatory waves (no limb lead spared, unlike from V1 to V6) are not called a tremor."""
    from gem_core.beat_model import interfere, swap_arm_electrodes

    for seed in range(3):
        if case == "atrial fibrillation":
            ecg, _ = conduction_ecg(80 + 20 * seed, atrial_fibrillation=0.1 + 0.05 * seed, seed=seed)
        elif case == "RBBB":
            ecg, _ = conduction_ecg(70, 130, morphology="rsr", seed=seed)
        else:
            ecg, _ = conduction_ecg(70 + 10 * seed, noise=0.015, seed=seed)
            kind = {"muscle noise": ("emg", 0.05), "wander": ("wander", 0.5), "mains": ("mains", 0.2)}
            if case in kind:
                ecg = interfere(ecg, *kind[case], seed)
            elif case == "arms swapped":
                ecg = swap_arm_electrodes(ecg)
        assert measure(ecg).global_values["electrode_tremor"] is None, (case, seed)
