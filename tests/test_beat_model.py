"""measure() against synthetic records whose QRS, PR and ST are known exactly (gem_core.beat_model)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gem_core.beat_model import P_MS, conduction_ecg, interfere, swap_arm_electrodes
from gem_core.errors import GemError
from gem_core.features import measure
from gem_core.grounding import ground
from gem_core.rules import assess

RATES = (40, 60, 75, 100, 120, 150, 180)
WIDTHS = {"normal": (80, 100), "rsr": (100, 120, 140, 180), "slurred_s": (120, 140, 180)}


def _vt_like(rate, qrs):
    return rate >= 180 and qrs >= 140  # a sine-like ventricular tachycardia: tested apart


@pytest.mark.parametrize(
    "rate, qrs, morph",
    [
        (rate, qrs, morph)
        for morph, widths in WIDTHS.items()
        for rate, qrs in itertools.product(RATES, widths)
        if not _vt_like(rate, qrs)
    ],
)
def test_qrs_duration_within_10_ms(rate, qrs, morph):
    """Every morphology at 40-180 bpm, with an ST offset in V2-V4. At slow rates few beats leave noise in
    the median beats: six of these (slurred S at 40-120 bpm, the 180 ms rSR' at 40 bpm) read 12-30 ms
    long when the quiet level was the lowest single sample of that noise."""
    ecg, truth = conduction_ecg(rate, qrs, 160, -0.15, ("V2", "V3", "V4"), morph, seed=rate + qrs + 160)
    g = measure(ecg).global_values
    assert g["qrs_ms"] is not None and abs(g["qrs_ms"] - truth["qrs_ms"]) <= 10, (g["qrs_ms"], truth)


@pytest.mark.parametrize("qrs, morph", list(itertools.product((140, 160, 180), ("rsr", "slurred_s"))))
def test_vt_like_complexes_get_a_rate_and_a_qrs_duration_within_10_ms(qrs, morph):
    """QRS >= 140 ms at 180 bpm, the QRS running into the ST-T. The slurred-S (LBBB-like) complexes are
    nearly a sine wave with no steep upstroke: neurokit's detector found 0-2 of their 30 beats and the
    record was refused as having too few beats; the spatial velocity's periodicity finds them. Every lead
    is judged readable: the QRS's own curvature, which fills the record at this rate, repeats from beat
    to beat and is not noise (4-6 slurred-S leads were "noisy")."""
    ecg, truth = conduction_ecg(180, qrs, None, 0.0, morphology=morph, seed=qrs)
    m = measure(ecg)
    assert [lead for lead, lm in m.leads.items() if lm.quality != "ok"] == []
    g = m.global_values
    assert abs(g["heart_rate_bpm"] - 180) <= 3, g["heart_rate_bpm"]
    assert g["qrs_ms"] is not None and abs(g["qrs_ms"] - qrs) <= 10, g["qrs_ms"]


@pytest.mark.parametrize(
    "rate, qrs, morph",
    [
        (rate, qrs, morph)
        for morph in ("rsr", "slurred_s")
        for rate, qrs in itertools.product((75, 100, 128, 150), (120, 140, 180))
    ]
    + [(180, qrs, "rsr") for qrs in (140, 160, 180)],
)
def test_qrs_running_straight_into_the_st_t_within_10_ms(rate, qrs, morph):
    """No ST segment: the T wave starts at the J point, and its slope can keep the velocity over the
    quiet threshold up to the T apex (a 180 ms slurred S at 150 bpm read 228 ms when the offset was
    taken where the velocity dips there)."""
    ecg, truth = conduction_ecg(rate, qrs, 160, 0.0, morphology=morph, seed=rate + qrs, st_segment_ms=0)
    g = measure(ecg).global_values
    assert g["qrs_ms"] is not None and abs(g["qrs_ms"] - qrs) <= 10, g["qrs_ms"]


@pytest.mark.parametrize(
    "rate, qrs, noise", list(itertools.product((120, 140, 160, 180), (80, 100), (0.005, 0.01)))
)
def test_a_narrow_qrs_at_a_fast_rate_on_a_clean_record_is_not_read_wide(rate, qrs, noise):
    """Sinus tachycardia whose T wave rises straight out of a narrow QRS, on a clean record: the T
    upslope's velocity stays over 4% of the QRS's until the T apex. The offset was taken there (QRS
    168-188 ms), and the record called a left bundle branch block."""
    ecg, _ = conduction_ecg(
        rate, qrs, 120, 0.0, morphology="normal", seed=rate + qrs, st_segment_ms=0, noise=noise
    )
    m = measure(ecg)
    assert abs(m.global_values["qrs_ms"] - qrs) <= 10, m.global_values["qrs_ms"]
    a = assess(m)
    assert not {"LBBB", "RBBB", "NSIVCB"} & set(a.diagnosis_labels)
    assert not any(f.key == "st_secondary" for f in a.findings)


@pytest.mark.parametrize(
    "rate, qrs, morph", [(75, 140, "slurred_s"), (75, 160, "rsr"), (100, 120, "slurred_s")]
)
def test_a_beat_of_another_morphology_gets_its_own_qrs_within_10_ms(rate, qrs, morph):
    """Two wide beats (intermittent bundle branch block) among narrow ones: they are not of the dominant
    morphology, so they are read on their own velocity, not the median beat's (24-28 ms long before)."""

    from gem_core.ecg import ECG

    narrow, truth = conduction_ecg(rate, 90, 160, 0.0, seed=1)
    wide, wide_truth = conduction_ecg(rate, qrs, 160, 0.0, morphology=morph, seed=2)
    signal = narrow.signal.copy()
    onsets = truth["qrs_onsets_ms"]
    for k in (2, 5):  # same onsets in both records: replace the whole beat, QRS to T end
        a, b = int((onsets[k] - 60) / 2), int((onsets[k] + wide_truth["qt_ms"] + 20) / 2)
        signal[:, a:b] = wide.signal[:, a:b]
    m = measure(ECG(signal=signal, fs=500, record_id="intermittent-bbb"))
    by_onset = {round(b["qrs_onset_ms"]): b["qrs_duration"] for b in m.leads["II"].beats if b["qrs_onset_ms"]}
    for k, onset in enumerate(onsets):
        got = by_onset[min(by_onset, key=lambda t: abs(t - onset))]
        assert abs(got - (qrs if k in (2, 5) else 90)) <= 10, (k, got)
    assert m.global_values["qrs_ms"] == pytest.approx(90, abs=10)  # the dominant beats' median beat


@pytest.mark.parametrize("rate", [75, 128, 150])
def test_lbbb_at_fast_rates_is_wide_and_never_called_normal(rate):
    """The failure of the issue: a left bundle branch block at 128 bpm, its QRS running into the ST-T."""
    ecg, _ = conduction_ecg(rate, 140, 140, 0.0, morphology="slurred_s")
    m = measure(ecg)
    assert m.global_values["qrs_ms"] >= 130
    a = assess(m)
    assert not a.normal and "LBBB" in a.diagnosis_labels, a.diagnosis


# PR from the representative beats (features._template_p_wave): every rate from 40 to 150 bpm and PR
# from 120 to 320 ms; the model leaves the P wave out where it would fall inside the previous T wave
# (truth None: 320 ms from 90 bpm, 200 ms from 120 bpm, every PR at 150 bpm), and then no PR may be
# measured. The PR runs to the measured QRS onset: where that onset is off (a P wave ending 20 ms before
# the QRS can draw it earlier), the P onset itself must still be right.
@pytest.mark.parametrize(
    "rate, pr", itertools.product((40, 50, 60, 75, 90, 100, 120, 150), (120, 160, 200, 240, 280, 320))
)
def test_pr_interval_and_p_duration_within_10_ms_over_rates_and_prs(rate, pr):
    ecg, truth = conduction_ecg(rate, 90, pr, 0.0, seed=rate + pr)
    m = measure(ecg)
    g = m.global_values
    if truth["pr_ms"] is None:
        assert g["pr_ms"] is None and g["p_ms"] is None, g["pr_ms"]
        return
    assert g["pr_ms"] is not None and abs(g["p_ms"] - P_MS) <= 10, (g["pr_ms"], g["p_ms"])
    beat = m.leads["II"].beats[len(m.leads["II"].beats) // 2]
    true_onset = min(truth["qrs_onsets_ms"], key=lambda x: abs(x - beat["r_peak_ms"]))
    qrs_onset_error = beat["qrs_onset_ms"] - true_onset
    assert abs(qrs_onset_error - (g["pr_ms"] - pr)) <= 10  # the P onset
    if abs(qrs_onset_error) <= 5:
        assert abs(g["pr_ms"] - pr) <= 10, (g["pr_ms"], pr)


def test_pr_interval_within_10_ms_on_the_wide_complexes():
    for rate, qrs, pr, morph in ((60, 140, 200, "rsr"), (75, 120, 320, "rsr"), (75, 140, 160, "slurred_s")):
        ecg, truth = conduction_ecg(rate, qrs, pr, 0.0, morphology=morph, seed=rate + qrs + pr)
        g = measure(ecg).global_values
        assert truth["pr_ms"] == pr and abs(g["pr_ms"] - pr) <= 10, (rate, qrs, pr, morph, g["pr_ms"])


@pytest.mark.parametrize("rate", [40, 60, 75, 90, 100, 110])
def test_no_p_wave_no_pr_even_when_the_lock_window_holds_the_qrs(rate):
    """No P waves (junctional or ventricular rhythm), a broad slurred QRS whose early part reaches into
    the pre-QRS window of the P-lock test: the beats look time-locked, neurokit's dwt picks a bump, and a
    PR of 150-238 ms was made up before the representative beat was asked whether it holds a P wave."""
    ecg, truth = conduction_ecg(rate, 120, None, 0.0, morphology="slurred_s", seed=rate)
    g = measure(ecg).global_values
    assert truth["pr_ms"] is None and g["pr_ms"] is None and g["p_ms"] is None, g["pr_ms"]
    assert g["qrs_ms"] is not None  # the record is measured, only the PR is refused


@pytest.mark.parametrize(
    "rate, morph, qrs",
    [
        (rate, morph, qrs)
        for rate in (60, 100)
        for morph, qrs in (("normal", 90), ("rsr", 120), ("slurred_s", 140))
    ],
)
def test_no_p_wave_is_not_called_sinus(rate, morph, qrs):
    """Where the representative beats show no P wave, the beats whose dwt P points they were asked about
    have none either: P waves were said to precede 100% of the beats, "consistent with sinus rhythm",
    on records drawn without any. (Narrow QRS complexes at up to 100 bpm are then a junctional rhythm.)"""
    ecg, truth = conduction_ecg(rate, qrs, None, 0.0, morphology=morph, seed=rate)
    m = measure(ecg)
    assert truth["pr_ms"] is None and m.global_values["p_wave_fraction"] == 0.0
    assert all(b["p_onset_ms"] is None for b in m.leads["II"].beats)
    a = assess(m)
    (rhythm,) = [f for f in a.findings if f.key == "rhythm"]
    assert "sinus" not in rhythm.sentence
    assert ("junctional rhythm" if qrs < 120 else "cannot be determined") in rhythm.sentence
    assert not {"Normal", "STach", "SB"} & set(a.diagnosis_labels)


@pytest.mark.parametrize("rate, atrial", [(40, 75), (50, 83), (60, 100)])
def test_p_waves_unrelated_to_the_qrs_give_no_pr(rate, atrial):
    """Complete AV block: P waves march at their own rate, so no PR interval exists."""
    ecg, truth = conduction_ecg(rate, 90, None, 0.0, seed=rate, atrial_rate=atrial)
    g = measure(ecg).global_values
    assert truth["pr_ms"] is None and g["pr_ms"] is None, g["pr_ms"]
    # the same P waves conducted at a fixed PR are measured
    ecg, _ = conduction_ecg(rate, 90, 180, 0.0, seed=rate)
    assert abs(measure(ecg).global_values["pr_ms"] - 180) <= 10


@pytest.mark.parametrize("rate, pr", [(50, 260), (75, 160), (100, 200)])
def test_pr_within_10_ms_on_p_waves_that_start_gradually(rate, pr):
    """A P wave that leaves the baseline with zero slope (raised cosine), as real ones do: the slope rule
    reads its onset where the rise is under way (about 8 ms in), still within 10 ms."""
    ecg, truth = conduction_ecg(rate, 90, pr, 0.0, seed=rate, p_shape="raised_cosine")
    g = measure(ecg).global_values
    assert truth["pr_ms"] == pr and abs(g["pr_ms"] - pr) <= 10, g["pr_ms"]


def test_an_outlier_lead_does_not_move_the_pr():
    """A wave in V1 alone, 120 ms before the P wave and as large as most leads' P waves: V1's onset lies
    far from the other leads' and is dropped; the PR stays within 10 ms."""
    import numpy as np

    from gem_core.ecg import ECG, LEADS

    ecg, truth = conduction_ecg(60, 90, 160, 0.0, seed=3)
    sig = ecg.signal.copy()
    t = np.arange(sig.shape[1]) * 1000.0 / ecg.fs
    v1 = LEADS.index("V1")
    for onset in truth["qrs_onsets_ms"]:
        start = onset - 160 - 180
        sig[v1] += (
            0.12 * np.where((t >= start) & (t <= start + 60), np.sin(np.pi * (t - start) / 60), 0)
        ).astype(np.float32)
    g = measure(ECG(signal=sig, fs=ecg.fs, record_id="outlier-v1")).global_values
    assert abs(g["pr_ms"] - 160) <= 10, g["pr_ms"]


@pytest.mark.parametrize("rate, st", [(60, -0.3), (60, 0.15), (75, 0.3), (120, -0.15), (150, 0.3)])
def test_st_level_within_003_mv_against_the_pr_baseline(rate, st):
    ecg, truth = conduction_ecg(rate, 90, 160 if rate < 120 else 120, st, ("V2", "V3", "V4", "II"), seed=7)
    m = measure(ecg)
    assert m.global_values["st_point_ms"] == (40 if rate > 100 else 60)
    for lead, want in truth["st_mv"].items():
        got = m.global_values["st_deviation_mv"][lead]
        assert abs(got - want) <= 0.03, (lead, got, want)


@pytest.mark.parametrize(
    "rate, morph, qrs", [(45, "normal", 90), (60, "slurred_s", 140), (100, "normal", 90), (100, "rsr", 130)]
)
def test_every_beat_keeps_its_st_level_up_to_the_record_edges(rate, morph, qrs):
    """Single beats, not the median: every beat of every lead within 0.05 mV of the ST truth. The baseline
    filter ran on scipy's default (point-reflected) extension, which turns the edge beats upside down; it
    rang for about 2 s at each end and moved the first and last beats' ST level by 0.07-0.2 mV; the last
    beat's J+60 ms, past the record's end at 45 bpm, was read from the last sample (0.9 mV off)."""
    ecg, truth = conduction_ecg(rate, qrs, 160, -0.15, ("V4", "V5", "V6"), morph, noise=0.005, seed=rate)
    m = measure(ecg)
    worst = 0.0
    for lead, lm in m.leads.items():
        assert lm.quality == "ok"
        for beat in lm.beats:
            if beat["st_deviation"] is not None:
                worst = max(worst, abs(beat["st_deviation"] - truth["st_mv"][lead]))
    assert 0.0 < worst <= 0.05, worst


def test_qt_and_pr_under_deep_st_depression():
    """0.3 mV of ST depression in V2-V4 under small T waves: the leads' deviation is largest at J+60 ms,
    where the T-wave search window starts, and that edge was taken for the T peak, so no T wave was
    found (QT missing) or the P-wave segment began inside the T wave (PR 183-192 ms for 120)."""
    for rate, qrs in ((75, 100), (100, 100), (120, 100)):
        ecg, truth = conduction_ecg(rate, qrs, 120, -0.3, ("V2", "V3", "V4"), "rsr", seed=rate + qrs + 120)
        g = measure(ecg).global_values
        assert g["qt_ms"] is not None and abs(g["qt_ms"] - truth["qt_tangent_ms"]) <= 10, g["qt_ms"]
        assert abs(g["pr_ms"] - 120) <= 10, g["pr_ms"]


@pytest.mark.parametrize("noise", [0.01, 0.04])
def test_beats_of_a_notched_qrs_are_aligned(noise):
    """A slurred, notched QRS (the LBBB-like complex): the leads' detectors sit on either lobe, and the
    shared R peak (their median) jumped 15-35 ms from beat to beat. Aligned on the median beat, every beat's
    R peak lies the same time after its true QRS onset (within 4 ms), and the P waves, no longer smeared,
    are found locked to the QRS at noise 0.04 mV (before: no P wave, "wide-QRS tachycardia")."""
    ecg, truth = conduction_ecg(110, 140, 120, 0.0, morphology="slurred_s", noise=noise, seed=110)
    m = measure(ecg)
    onsets = truth["qrs_onsets_ms"]
    lag = [
        b["r_peak_ms"] - max(x for x in onsets if x <= b["r_peak_ms"])
        for b in m.leads["II"].beats
        if onsets[0] <= b["r_peak_ms"] <= onsets[-1] + 200  # beats whose onset is in the truth
    ]
    assert max(lag) - min(lag) <= 4, lag
    assert abs(m.global_values["pr_ms"] - 120) <= 10 and m.global_values["p_wave_fraction"] >= 0.9


@pytest.mark.parametrize(
    "morph, qrs, rate, st_segment",
    [
        ("normal", 100, 140, 0),
        ("normal", 80, 160, 0),
        ("rsr", 140, 140, 0),
        ("slurred_s", 100, 120, 0),
        ("slurred_s", 100, 160, 0),
        ("slurred_s", 120, 120, 0),
        ("slurred_s", 80, 160, 0),
        ("slurred_s", 100, 120, None),
        ("slurred_s", 100, 140, None),
    ],
)
def test_qrs_within_10_ms_on_very_clean_records(morph, qrs, rate, st_segment):
    """Noise 0.002 mV. The bound moved out from the velocity threshold while the velocity stayed over the
    beat's quiet level (its lowest 20 ms); where the T wave rises out of the QRS that level lies at the T
    apex, which the ST-T junction never reaches, and the offset walked the full 20 ms into the T
    upslope (or into the mains notch's ringing): these read 12-28 ms long."""
    ecg, _ = conduction_ecg(
        rate, qrs, 160, 0.0, morphology=morph, seed=rate + qrs, st_segment_ms=st_segment, noise=0.002
    )
    g = measure(ecg).global_values
    assert g["qrs_ms"] is not None and abs(g["qrs_ms"] - qrs) <= 10, g["qrs_ms"]


@pytest.mark.parametrize(
    "rate, st, shape, st_segment",
    [
        (rate, st, shape, seg)
        for rate, st in ((60, 0.2), (75, -0.15), (120, 0.25), (150, 0.0))
        for shape in ("half_sine", "raised_cosine")
        for seg in (None, 0)
    ],
)
def test_j_point_level_within_002_mv_where_the_s_wave_is_deep(rate, st, shape, st_segment):
    # V1-V3 end on a deep S wave: a J level read a sample too early sits on it. With no ST segment the
    # T wave starts at J, so the J level stays the offset alone while J+60 takes in the T upslope.
    ecg, truth = conduction_ecg(
        rate, 90, None, st, ("V2", "V3", "V4"), seed=11, st_segment_ms=st_segment, qrs_shape=shape
    )
    m = measure(ecg)
    for lead in ("V1", "V2", "V3", "V4", "V5", "II"):
        j = sorted(b["st_j"] for b in m.leads[lead].beats if b["st_j"] is not None)
        got = j[len(j) // 2]
        assert abs(got - truth["st_mv"][lead]) <= 0.02, (lead, got, truth["st_mv"][lead])


def test_rsr_in_v1_is_named_whatever_the_width():
    for qrs, label in ((96, None), (114, "IRBBB"), (140, "RBBB")):
        ecg, _ = conduction_ecg(75, qrs, 160, 0.0, morphology="rsr")
        a = assess(measure(ecg))
        text = " ".join(f.sentence for f in a.findings)
        assert "rSR' pattern" in text, text
        if label:
            assert label in a.diagnosis_labels and "broad terminal S wave" in text, text
        else:
            assert not a.normal and not {"RBBB", "IRBBB"} & set(a.diagnosis_labels)


def test_bad_arguments_are_gem_errors():
    with pytest.raises(GemError, match="morphology"):
        conduction_ecg(morphology="wide")
    with pytest.raises(GemError, match="drawn leads"):
        conduction_ecg(st_leads=("aVR",))
    with pytest.raises(GemError, match="st_segment_ms must be >= 0"):
        conduction_ecg(st_segment_ms=-10)
    with pytest.raises(GemError, match="leaves the T wave under 80 ms"):
        conduction_ecg(heart_rate=150, qrs_ms=120, st_segment_ms=150)
    with pytest.raises(GemError, match="P-wave shape"):
        conduction_ecg(p_shape="gaussian")
    with pytest.raises(GemError, match="QRS shape"):
        conduction_ecg(qrs_shape="gaussian")


@pytest.mark.parametrize("morph, qrs", [("normal", 80), ("normal", 100), ("rsr", 120), ("slurred_s", 140)])
@pytest.mark.parametrize("rate", [40, 75, 120, 150])
def test_qrs_that_tapers_into_the_baseline_is_not_cut_short(rate, morph, qrs):
    """QRS lobes that end with zero slope (as real QRS ends often do): the bounds move out to where the
    taper is back at the baseline; what is left unread is the few ms under 0.02 mV a reader would not see
    either (within 10 ms, never longer than drawn)."""
    ecg, truth = conduction_ecg(
        rate, qrs, 160, 0.0, morphology=morph, seed=rate + qrs, qrs_shape="raised_cosine"
    )
    got = measure(ecg).global_values["qrs_ms"]
    assert got is not None and -10 <= got - truth["qrs_ms"] <= 2, (got, truth["qrs_ms"])


def test_artifact_in_part_of_some_leads_is_left_out_and_named():
    """Gross artifact in V3-V6 for the last 3 s: those beats leave those leads' measurements and
    evidence, the leads stay usable, and the text says which leads and when."""
    import numpy as np

    from gem_core.backends.measure import MeasureInterpreter
    from gem_core.ecg import ECG, LEADS
    from gem_core.grounding import ground
    from gem_core.samples import synthetic_ecg

    sig = synthetic_ecg(75).signal.copy()
    rng = np.random.default_rng(0)
    for lead in ("V3", "V4", "V5", "V6"):
        sig[LEADS.index(lead), 3500:] += rng.normal(0, 0.6, 1500).astype(np.float32)
    ecg = ECG(signal=sig, fs=500, record_id="artifact")
    m = measure(ecg)
    windows = m.global_values["bad_windows"]
    assert set(windows) == {"V3", "V4", "V5", "V6"} and all(w[0][0] >= 6000 for w in windows.values())
    assert all(m.global_values["quality"][lead] == "ok" for lead in windows)
    for lead in windows:
        late = [b for b in m.leads[lead].beats if (b["r_peak_ms"] or 0) > 7600 or b["t_amplitude"] is None]
        assert late and all(b["t_amplitude"] is None and b["qrs_onset_ms"] is None for b in late)
    assert m.leads["II"].beats[-2]["t_amplitude"] is not None  # other leads keep every beat
    reading = MeasureInterpreter().interpret(ecg)
    assert reading.sentences[0].startswith("Leads V3, V4 and V5 are unreadable from 6.7 s")
    claims = ground(reading.text, m, final=True)
    assert claims and all(c["verdict"] == "supported" for c in claims)
    assert all(e["t_end_ms"] <= 6734 for c in claims for e in c["evidence"] if e["lead"] in windows)


@pytest.mark.parametrize("morph, qrs", [("normal", 90), ("rsr", 130), ("slurred_s", 140)])
@pytest.mark.parametrize("rate", [40, 75, 120, 150])
def test_qt_ends_where_the_tangent_method_ends_the_t_wave(rate, morph, qrs):
    ecg, truth = conduction_ecg(rate, qrs, 160, 0.0, morphology=morph, seed=rate)
    qt = measure(ecg).global_values["qt_ms"]
    assert qt is not None and abs(qt - truth["qt_tangent_ms"]) <= 10, (qt, truth["qt_tangent_ms"])
    assert truth["qt_tangent_ms"] < truth["qt_ms"]  # the drawn T returns to baseline with zero slope


@pytest.mark.parametrize("swing", [0.15, 0.2])
@pytest.mark.parametrize("rate", [55, 75, 90])
def test_sinus_arrhythmia_is_named_without_premature_beats(rate, swing):
    """Respiratory sinus arrhythmia (rate swinging 15-20% either way over 5 beats, a P wave before every
    beat). The second beat of the fast phase (918 ms after 876 at 60 bpm) is under 0.88 of the local
    median RR, and a longer RR follows: judged on the local median alone it was a PAC, on 4 of 6 such
    records. A premature beat is also early against the cycle before it, the last one that did not end
    on an early beat; 918 ms after a 1000 ms cycle is not. The rhythm is named as cart programs name it,
    and the checker reads a "sinus arrhythmia" claim on the same measurements."""
    ecg, truth = conduction_ecg(rate, sinus_arrhythmia=swing, noise=0.03, p_shape="raised_cosine", seed=rate)
    rr = np.diff(truth["qrs_onsets_ms"])
    assert rr.max() / rr.min() >= 1.3  # the RR swings: a 15% rate swing is 1.35 between the extremes
    m = measure(ecg)
    assert m.premature_beats == []
    a = assess(m)
    rate_name = "sinus bradycardia with " if rate < 60 else ""
    assert a.diagnosis == [f"{rate_name}sinus arrhythmia", "otherwise normal ECG"], a.diagnosis
    assert {"SA", "Normal"} <= set(a.diagnosis_labels) and "PAC" not in a.diagnosis_labels
    (claim,) = ground("Sinus arrhythmia.", m, final=True)
    assert claim["verdict"] == "supported"
    regular = measure(conduction_ecg(rate, noise=0.03, seed=rate)[0])
    assert "SA" not in assess(regular).diagnosis_labels
    (claim,) = ground("Sinus arrhythmia.", regular, final=True)
    assert claim["verdict"] == "contradicted"


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("breath_s", [4.0, 5.0])
@pytest.mark.parametrize("rate", [55, 66, 80])
def test_sinus_arrhythmia_over_short_breaths_is_not_read_as_pacs(rate, breath_s, seed):
    """Breathing every 4-5 s at 55-80 bpm (3.7-6.7 beats a breath) with the rate swinging 15% either way:
    the fast phase shortens a cycle by 12-16% against the one before, so by the RRs alone those beats
    were premature, and with a longer cycle after them PACs (4 of these 12 records). Their P waves are
    the sinus ones and the cycles before them had already shortened: the fast phase of the sinus rate.
    The beat after such a cycle is judged against it, not against the longer one before."""
    ecg, truth = conduction_ecg(
        rate,
        sinus_arrhythmia=0.15,
        breath_beats=breath_s * rate / 60.0,
        noise=0.02,
        p_shape="raised_cosine",
        seed=seed,
    )
    rr = np.diff(truth["qrs_onsets_ms"])
    assert (rr[1:] / rr[:-1]).min() < 0.88  # a cycle shorter than 0.88 of the one before: "early"
    m = measure(ecg)
    assert m.premature_beats == []
    assert "PAC" not in assess(m).diagnosis_labels


@pytest.mark.parametrize("every", [3, 4])
@pytest.mark.parametrize("rate", [60, 80])
def test_pacs_whose_p_wave_looks_sinus_are_still_pacs(rate, every):
    """PACs from a focus near the sinus node: P waves upright and shaped like the sinus one, 0.7 RR after
    the beat before in a steady rhythm. Their shortening is abrupt, so they stay PACs (all but one on the
    record's second beat, where no cycle before it shows how the rate was moving and a sinus-shaped P wave
    is taken for the sinus rate's)."""
    ecg, truth = conduction_ecg(
        rate,
        pac_every=every,
        pac_coupling=0.7,
        pac_p_sign=1.0,
        noise=0.015,
        p_shape="raised_cosine",
        seed=rate,
    )
    m = measure(ecg)
    r = np.array(m.r_peaks_ms)
    judged = [t for t in _inner(r, truth["pac_onsets_ms"]) if int(np.argmin(np.abs(r - t))) >= 2]
    found = [b for b in m.premature_beats if b["kind"] == "PAC" and b["beat_index"] >= 2]
    assert len(found) == len(judged) >= 2
    assert "PAC" in assess(m).diagnosis_labels


@pytest.mark.parametrize(("rate", "swing"), [(110, 0.1), (110, 0.15), (117, 0.1), (125, 0.05)])
@pytest.mark.parametrize("seed", [0, 1])
def test_sinus_tachycardia_with_sinus_arrhythmia_keeps_its_p_waves(seed, rate, swing):
    """Sinus tachycardia at 110 bpm whose rate swings 10-15% with breathing: every P wave stands clear of
    the T wave before it. The P waves are locked to the QRS where each beat's pre-QRS segment matches
    the median one; a fixed 320 ms segment held the previous T wave's end, which moves with the RR, so
    the segments matched at 0.57-0.99 and the record read "a rhythm of undetermined origin". The segment
    now starts after the T wave on the shorter cycles, where that leaves 200 ms before R (at 117 bpm the
    previous T wave ends 205 ms before R on the shortest cycles)."""
    ecg, truth = conduction_ecg(
        rate, pr_ms=126, sinus_arrhythmia=swing, noise=0.015, seed=seed, p_shape="raised_cosine"
    )
    assert truth["pr_ms"] == 126  # drawn: the P wave fits after the T wave on every cycle
    m = measure(ecg)
    g = m.global_values
    assert g["p_wave_fraction"] >= 0.9 and abs(g["pr_ms"] - 126) <= 10, (g["p_wave_fraction"], g["pr_ms"])
    a = assess(m)
    assert a.diagnosis[0].startswith("sinus tachycardia"), a.diagnosis
    assert "otherwise normal ECG" in a.diagnosis


@pytest.mark.parametrize("t_scale", [0.25, 0.5])
@pytest.mark.parametrize("rate", [90, 110])
def test_a_flat_t_wave_is_not_swapped_for_the_next_p_wave(rate, t_scale):
    """Low T waves (0.09 mV in II at a quarter of the usual size, as in many older patients) before a
    normal 0.15 mV P wave: the T wave was taken where the leads' deviation peaks highest after the QRS,
    which was the next P wave, so QT read 442 ms at 110 bpm (drawn: 297 ms), "prolonged QT", and the P
    wave, now inside that "T wave", was lost ("a rhythm of undetermined origin"). The T peak is sought
    before the next P wave, by the RR-scaled window of Elgendi et al. 2015."""
    ecg, truth = conduction_ecg(
        rate, pr_ms=160, noise=0.015, t_scale=t_scale, p_shape="raised_cosine", qrs_shape="raised_cosine"
    )
    g = measure(ecg).global_values
    assert abs(g["qt_ms"] - truth["qt_tangent_ms"]) <= 15, (g["qt_ms"], truth["qt_tangent_ms"])
    assert g["pr_ms"] is not None and abs(g["pr_ms"] - 160) <= 10, g["pr_ms"]
    assert assess(measure(ecg)).diagnosis[-1].endswith("normal ECG")


@pytest.mark.parametrize("level", [0.05, 0.1])
@pytest.mark.parametrize("rate", [55, 100])
@pytest.mark.parametrize(("morph", "qrs", "label"), [("normal", 90, "Normal"), ("rsr", 130, "RBBB")])
def test_muscle_noise_does_not_widen_the_qrs(morph, qrs, label, rate, level):
    """Muscle noise (white above 20 Hz, 0.05-0.1 mV SD on every electrode): no 20 ms after the QRS of the
    representative beat was quiet, its end ran into the ST-T, and normal hearts read QRS 150-200 ms,
    "right/left bundle branch block" (18 of 36 at 0.1 mV). Where noise is that large against the QRS's
    velocity the median beats are smoothed first (about 47 Hz): QRS within 10 ms and the reading drawn."""
    ecg, _ = conduction_ecg(
        rate, qrs, morphology=morph, noise=0.01, p_shape="raised_cosine", qrs_shape="raised_cosine", seed=rate
    )
    m = measure(interfere(ecg, "emg", level, seed=rate))
    assert abs(m.global_values["qrs_ms"] - qrs) <= 10, m.global_values["qrs_ms"]
    assert set(assess(m).diagnosis_labels) - {"SB", "STach"} == {label}


def test_interference_is_named():
    ecg, _ = conduction_ecg(75)
    with pytest.raises(GemError, match="unknown interference"):
        interfere(ecg, "static", 0.1)


@pytest.mark.parametrize("morph", ["slurred_s", "rsr"])
@pytest.mark.parametrize("rate", [60, 100])
def test_a_late_coupled_pvc_is_premature_from_qrs_onset_to_onset(rate, morph):
    """A PVC every 4th beat, 0.85 of the RR after the QRS before it. Its R peak lies late in its wide QRS
    (LBBB-like: 46 ms later than the sinus beats' R), so R to R it was 0.896 of the RR, not premature,
    and the record read "normal ECG". Prematurity is judged from QRS onset to QRS onset."""
    ecg, truth = conduction_ecg(
        rate,
        pvc_every=4,
        pvc_coupling=0.85,
        pvc_morphology=morph,
        pvc_qrs_ms=140,
        noise=0.015,
        p_shape="raised_cosine",
        qrs_shape="raised_cosine",
        seed=rate,
    )
    m = measure(ecg)
    inner = _inner(np.array(m.r_peaks_ms), truth["pvc_onsets_ms"])
    assert len(m.premature_beats) == len(inner) >= 1
    rr = 60000.0 / rate
    for beat in m.premature_beats:
        assert beat["kind"] == "PVC" and beat["coupling_ms"] >= 0.85 * rr - 10  # R to R
        assert beat["compensatory"]
    assert set(assess(m).diagnosis_labels) - {"SB", "STach"} == {"PVC"}


@pytest.mark.parametrize("f_mv", [0.0, 0.2])
@pytest.mark.parametrize(("morph", "qrs", "labels"), [("normal", 90, {"AF"}), ("rsr", 140, {"AF", "RBBB"})])
@pytest.mark.parametrize("rate", [70, 140])
def test_atrial_fibrillation_is_named_with_fine_or_coarse_waves(rate, morph, qrs, labels, f_mv):
    """Atrial fibrillation drawn with known truth: RR intervals at random, no P waves, fibrillatory waves
    from none to 0.2 mV in V1 (coarse waves can pass for P waves). Named, with the block, at the mean
    rate drawn; the random RRs are neither PACs nor PVCs."""
    ecg, truth = conduction_ecg(rate, qrs, morphology=morph, atrial_fibrillation=f_mv, noise=0.015, seed=rate)
    rr = np.diff(truth["qrs_onsets_ms"])
    assert truth["pr_ms"] is None and rr.std() / rr.mean() > 0.05
    m = measure(ecg)
    assert abs(m.global_values["heart_rate_bpm"] - truth["heart_rate_bpm"]) <= 5
    assert m.global_values["p_wave_fraction"] < 0.5
    assert set(assess(m).diagnosis_labels) - {"STach"} == labels
    with pytest.raises(GemError, match="atrial fibrillation draws its own rhythm"):
        conduction_ecg(rate, atrial_fibrillation=f_mv, pac_every=3)


@pytest.mark.parametrize("morph", ["slurred_s", "rsr"])
@pytest.mark.parametrize("rate", [70, 100])
def test_atrial_fibrillation_with_ventricular_trigeminy_is_atrial_fibrillation(rate, morph):
    """Atrial fibrillation with a PVC every third beat: every pair of consecutive RRs touches a PVC, so no
    successive difference was left to judge the rhythm by, and it read "a rhythm of undetermined
    origin". The RRs between two dominant beats, random in fibrillation, judge it then."""
    ecg, truth = conduction_ecg(
        rate,
        atrial_fibrillation=0.05,
        pvc_every=3,
        pvc_coupling=0.6,
        pvc_morphology=morph,
        pvc_qrs_ms=150,
        noise=0.015,
        seed=rate,
    )
    m = measure(ecg)
    assert len([b for b in m.premature_beats if b["kind"] == "PVC"]) >= 3
    a = assess(m)
    assert a.diagnosis[0] == "atrial fibrillation", a.diagnosis
    assert set(a.diagnosis_labels) - {"STach"} == {"AF", "PVC"}


@pytest.mark.parametrize("pr", [140, 180])
@pytest.mark.parametrize("rate", [60, 90])
def test_inverted_p_waves_are_an_ectopic_atrial_rhythm_with_their_pr(rate, pr):
    """P waves inverted in every lead (a low atrial focus) at a fixed PR. Two faults: the P wave's end was
    sought up to the QRS onset, where the slope already holds the QRS's first upward deflection, so no
    lead had P bounds and the PR came from the per-beat delineator (192 ms for 140, 128 for 180); and
    the record read "normal sinus rhythm; normal ECG", though a sinus P wave is upright in II.
    Now: the PR as drawn, the rhythm named an ectopic atrial rhythm, a "sinus rhythm" claim contradicted
    and an "ectopic atrial rhythm" claim supported (contradicted on the upright P waves)."""
    kwargs = dict(pr_ms=pr, noise=0.015, p_shape="raised_cosine", seed=rate)
    m = measure(conduction_ecg(rate, p_scale=-1.0, **kwargs)[0])
    g = m.global_values
    assert abs(g["pr_ms"] - pr) <= 6 and not -45 <= g["p_axis_deg"] <= 105, (g["pr_ms"], g["p_axis_deg"])
    a = assess(m)
    assert a.diagnosis == ["ectopic atrial rhythm", "abnormal ECG"] and a.diagnosis_labels == ["EAR"]
    verdicts = {
        c["feature"]: c["verdict"] for c in ground("Sinus rhythm. Ectopic atrial rhythm.", m, final=True)
    }
    assert verdicts == {"sinus_rhythm": "contradicted", "ectopic_atrial_rhythm": "supported"}
    upright = measure(conduction_ecg(rate, **kwargs)[0])
    assert "EAR" not in assess(upright).diagnosis_labels
    verdicts = {
        c["feature"]: c["verdict"] for c in ground("Sinus rhythm. Low atrial rhythm.", upright, final=True)
    }
    assert verdicts == {"sinus_rhythm": "supported", "ectopic_atrial_rhythm": "contradicted"}


def test_inverted_p_waves_with_a_short_pr_may_be_junctional():
    """Inverted P waves 100 ms before the QRS: retrograde from the AV junction or from a low atrial focus,
    which the surface ECG cannot tell apart; both are named."""
    ecg, _ = conduction_ecg(70, pr_ms=100, p_scale=-1.0, noise=0.015, p_shape="raised_cosine", seed=70)
    a = assess(measure(ecg))
    assert a.diagnosis == ["low atrial or junctional rhythm", "short PR interval", "abnormal ECG"]


@pytest.mark.parametrize(
    ("morph", "qrs", "block"), [("normal", 90, None), ("rsr", 130, "RBBB"), ("slurred_s", 150, "LBBB")]
)
@pytest.mark.parametrize("rate", [60, 95])
def test_swapped_arm_electrodes_are_named_and_the_limb_leads_not_read(rate, morph, qrs, block):
    """The left and right arm electrodes swapped: lead I inverted, II/III and aVR/aVL traded. The record read
    "right axis deviation" (and, with an RBBB, "pathological Q waves"). Lead I mirrored against V6 is
    named as a likely swap; I, aVR, aVL and the axis are not read, and axis claims are not checkable; the
    chest-lead diagnosis stands. The correctly wired record says nothing of the kind."""
    ecg, _ = conduction_ecg(rate, qrs, morphology=morph, noise=0.015, p_shape="raised_cosine", seed=rate)
    m = measure(swap_arm_electrodes(ecg))
    a = assess(m)
    assert "suspected arm electrode reversal" in a.diagnosis and not {"RAD", "LAD"} & set(a.diagnosis_labels)
    assert set(a.diagnosis_labels) - {"SB"} == ({block} if block else set()), a.diagnosis
    assert not any(f.key in ("axis", "q_waves") for f in a.findings)
    (claim,) = ground("Right axis deviation.", m, final=True)
    assert claim["verdict"] == "not_checkable"
    said = "The arm electrodes appear swapped. Limb lead reversal."
    assert [c["verdict"] for c in ground(said, m, final=True)] == ["supported", "supported"]
    # the P axis of swapped arm leads is not a sinus node's question: a "sinus rhythm" claim stands on
    # the P waves, as the interpreter's rhythm does (on a correctly wired record that axis contradicts it)
    axis = m.global_values["p_axis_deg"]
    m.global_values["p_axis_deg"] = 175.0  # (measure's cache hands out this object: put it back below)
    assert [c["verdict"] for c in ground("Sinus rhythm.", m, final=True)] == ["supported"]
    m.global_values["p_axis_deg"] = axis
    straight = measure(ecg)
    assert "suspected arm electrode reversal" not in assess(straight).diagnosis
    axis = straight.global_values["p_axis_deg"]
    straight.global_values["p_axis_deg"] = 175.0
    assert [c["verdict"] for c in ground("Sinus rhythm.", straight, final=True)] == ["contradicted"]
    straight.global_values["p_axis_deg"] = axis
    # no sign of an arm swap; a swap with the leg electrode would leave lead I as it is
    assert [c["verdict"] for c in ground(said, straight, final=True)] == ["contradicted", "not_checkable"]


@pytest.mark.parametrize(
    ("morph", "qrs", "block"), [("normal", 90, None), ("rsr", 130, "RBBB"), ("slurred_s", 150, "LBBB")]
)
@pytest.mark.parametrize("rate", [55, 95])
def test_swapped_right_arm_and_left_leg_electrodes_are_named(rate, morph, qrs, block):
    """The right arm and left leg electrodes swapped: lead II inverted whole (P wave, QRS and T wave), I and
    III traded and inverted, aVR and aVF traded. Lead I then reads minus III, inverted too, and the record
    was read as swapped arms (normal hearts), or as an ectopic atrial rhythm with left axis deviation (an
    LBBB, its T wave in II upright after the inversion, as it points away from the QRS). The inverted
    lead II beside an upright V6 is looked for first: named, the scrambled limb leads and the axes not
    read, axis claims not checkable, a claim of swapped arms not checkable either; the chest-lead
    diagnosis stands."""
    from gem_core.beat_model import swap_arm_leg_electrodes

    ecg, _ = conduction_ecg(rate, qrs, morphology=morph, noise=0.015, p_shape="raised_cosine", seed=rate)
    m = measure(swap_arm_leg_electrodes(ecg))
    a = assess(m)
    assert "suspected limb electrode reversal" in a.diagnosis, a.diagnosis
    assert "suspected arm electrode reversal" not in a.diagnosis
    assert set(a.diagnosis_labels) - {"SB"} == ({block} if block else set()), a.diagnosis
    assert not any(f.key in ("axis", "q_waves") for f in a.findings)
    (swap,) = [f for f in a.findings if f.key == "arm_reversal"]
    assert "right arm and left leg electrodes were probably swapped" in swap.sentence
    (claim,) = ground("Left axis deviation.", m, final=True)
    assert claim["verdict"] == "not_checkable"
    said = "The arm electrodes appear swapped. Limb lead reversal."
    assert [c["verdict"] for c in ground(said, m, final=True)] == ["not_checkable", "supported"]
    assert "suspected limb electrode reversal" not in assess(measure(ecg)).diagnosis


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("rate", [50, 110])
def test_a_flat_t_wave_in_noise_is_read_on_the_median_beat(rate, seed):
    """T waves of 0.05 mV in II under 0.03 mV of muscle noise: each beat's highest point after the QRS is
    noise (T peaks 118-604 ms after R on one record), and the median of those put the representative
    beat's T wave in the wrong place: QT 634 ms for 435, "prolonged QT". Where the single beats' T peaks
    spread over more than 40 ms, the median beat is searched whole."""
    ecg, truth = conduction_ecg(
        rate,
        pr_ms=160,
        noise=0.015,
        seed=seed,
        t_scale=0.15,
        p_shape="raised_cosine",
        qrs_shape="raised_cosine",
    )
    m = measure(interfere(ecg, "emg", 0.03, seed))
    assert abs(m.global_values["qt_ms"] - truth["qt_tangent_ms"]) <= 40, (m.global_values["qt_ms"], truth)
    assert "LQT" not in assess(m).diagnosis_labels


@pytest.mark.parametrize(("morph", "qrs"), [("normal", 90), ("rsr", 130)])
def test_a_short_pr_is_named_and_with_a_wide_qrs_raises_pre_excitation(morph, qrs):
    """PR 100 ms, under the normal 120-200: the record read "normal sinus rhythm; normal ECG". A short PR
    is named (label SPRI); beside a wide QRS, ventricular pre-excitation is raised for the reader, since
    the QRS may start early through an accessory pathway. A PR of 140 ms says nothing of the kind."""
    ecg, _ = conduction_ecg(
        70, qrs, pr_ms=100, morphology=morph, noise=0.015, p_shape="raised_cosine", seed=1
    )
    m = measure(ecg)
    a = assess(m)
    (pr,) = [f for f in a.findings if f.key == "pr"]
    assert (
        "SPRI" in a.diagnosis_labels
        and "short PR interval" in a.diagnosis
        and a.diagnosis[-1] == "abnormal ECG"
    )
    assert ("pre-excitation" in pr.sentence) is (qrs >= 110)
    assert all(c["verdict"] == "supported" for c in ground(pr.sentence, m, final=True))
    normal = assess(measure(conduction_ecg(70, pr_ms=140, noise=0.015, p_shape="raised_cosine", seed=1)[0]))
    assert "SPRI" not in normal.diagnosis_labels and normal.diagnosis[-1] == "normal ECG"


def _inner(r_peaks_ms: np.ndarray, onsets_ms) -> list[float]:
    """The ectopic onsets whose beat is neither the first nor the last (those have no RR on one side and
    are never judged premature)."""
    nearest = [int(np.argmin(np.abs(r_peaks_ms - t))) for t in onsets_ms]
    return [t for t, i in zip(onsets_ms, nearest, strict=True) if 0 < i < len(r_peaks_ms) - 1]


@pytest.mark.parametrize("every", [2, 3])
@pytest.mark.parametrize("pvc", [("slurred_s", 150.0), ("rsr", 140.0)])
@pytest.mark.parametrize("rate", [60, 100])
def test_ventricular_bigeminy_and_trigeminy_are_read_on_the_sinus_beats(rate, pvc, every):
    """Every 2nd (bigeminy) or 3rd (trigeminy) beat a wide PVC. In bigeminy half the beats are ventricular:
    the median of all beats resembled both shapes, every beat passed as dominant, and the record read as
    "atrial fibrillation, right bundle branch block" with no PVC, or a rhythm of undetermined origin
    with left bundle branch block. The dominant morphology is the conducted one (later after the beat
    before it), and the intervals, the P waves and the T wave's end are read on those beats."""
    morphology, width = pvc
    ecg, truth = conduction_ecg(
        rate,
        pvc_every=every,
        pvc_morphology=morphology,
        pvc_qrs_ms=width,
        noise=0.015,
        p_shape="raised_cosine",
    )
    m = measure(ecg)
    g = m.global_values
    assert g["qrs_ms"] == pytest.approx(truth["qrs_ms"], abs=10)
    assert g["pr_ms"] == pytest.approx(truth["pr_ms"], abs=10)
    assert g["qt_ms"] == pytest.approx(truth["qt_tangent_ms"], abs=25)
    r = np.array(m.r_peaks_ms)
    judged = _inner(r, truth["pvc_onsets_ms"])
    found = [b for b in m.premature_beats if b["kind"] == "PVC"]
    assert len(found) == len(judged) and len(found) == len(m.premature_beats)
    a = assess(m)
    assert "sinus" in a.diagnosis[0], a.diagnosis
    assert set(a.diagnosis_labels) - {"SB", "STach"} == {"PVC"}, a.diagnosis  # the rate counts the PVCs
    pattern = "ventricular bigeminy" if every == 2 else "ventricular trigeminy"
    (pvc,) = [f for f in a.findings if f.key == "pvc"]
    assert f"({pattern})" in pvc.sentence
    claims = ground(pvc.sentence, m, final=True)
    assert pattern.replace(" ", "_") in [c["feature"] for c in claims]
    assert all(c["verdict"] == "supported" for c in claims), claims


@pytest.mark.parametrize("every", [2, 3])
@pytest.mark.parametrize("rate", [60, 75])
def test_atrial_bigeminy_is_sinus_rhythm_with_pacs_not_atrial_fibrillation(rate, every):
    """Every 2nd or 3rd beat a PAC (inverted P wave, the sinus node reset). In atrial bigeminy half the P
    waves are the ectopic ones: the P-wave lock, taken against the median of all beats, matched neither
    shape, the record had "no consistent P wave" and irregular RR, and read as atrial fibrillation. The lock
    is taken on the beats on time (not early against the local and the preceding RR)."""
    ecg, truth = conduction_ecg(rate, pac_every=every, pac_coupling=0.8, noise=0.015, p_shape="raised_cosine")
    m = measure(ecg)
    assert m.global_values["pr_ms"] == pytest.approx(truth["pr_ms"], abs=10)
    r = np.array(m.r_peaks_ms)
    judged = _inner(r, truth["pac_onsets_ms"])
    assert [b["kind"] for b in m.premature_beats] == ["PAC"] * len(judged)
    a = assess(m)
    assert "sinus" in a.diagnosis[0], a.diagnosis
    assert set(a.diagnosis_labels) - {"SB"} == {"PAC"}, a.diagnosis
    (pac,) = [f for f in a.findings if f.key == "pac"]
    assert f"(atrial {'bigeminy' if every == 2 else 'trigeminy'})" in pac.sentence
    (claim,) = ground("Ventricular bigeminy.", m, final=True)  # the premature beats are atrial
    assert claim["verdict"] == "contradicted"


@pytest.mark.parametrize(("rate", "pr"), [(30, 160), (35, 240), (40, 160), (55, 160), (60, 240), (75, 200)])
@pytest.mark.parametrize("noise", [0.015, 0.04])
def test_2_to_1_av_block_is_not_a_normal_ecg(rate, pr, noise):
    """Atria at twice the ventricular rate, every other P wave not conducted: the conducted P wave locks to
    the QRS as in sinus rhythm, and the record read "normal sinus rhythm; normal ECG" (or sinus
    bradycardia). The second P wave midway between the conducted ones is now looked for and named; from
    about 50 bpm it stands inside the previous T wave (found there too)."""
    ecg, truth = conduction_ecg(rate, pr_ms=pr, av_block_2to1=True, noise=noise, p_shape="raised_cosine")
    m = measure(ecg)
    assert m.global_values["pr_ms"] == pytest.approx(pr, abs=20)  # 5 beats at 30 bpm under 0.04 mV: 141 ms
    assert m.global_values["blocked_p_wave_ms"] == pytest.approx(pr + 30000.0 / rate, rel=0.1)
    a = assess(m)
    assert not a.normal and "2:1 AV block" in a.diagnosis, a.diagnosis
    assert a.diagnosis[0] == "sinus rhythm"  # the sinus rate is the atrial one, twice the ventricular
    (finding,) = [f for f in a.findings if f.key == "av_block_2to1"]
    claims = ground(finding.sentence, m, final=True)
    assert "av_block_2to1" in [c["feature"] for c in claims]
    assert all(c["verdict"] == "supported" for c in claims), claims


def test_no_2_to_1_av_block_on_normal_hearts_with_u_waves():
    """A U wave after the T wave stands where a blocked P wave would at some rates; up to 0.2 mV (twice a
    usual U wave) it is not read as one, on any of the three QRS morphologies, 40-110 bpm."""
    flagged = []
    for rate, u, (morph, qrs) in itertools.product(
        (40, 50, 60, 75, 90, 110), (0.0, 0.1, 0.2), (("normal", 90), ("rsr", 130), ("slurred_s", 150))
    ):
        ecg, _ = conduction_ecg(rate, qrs, morphology=morph, u_mv=u, noise=0.015, p_shape="raised_cosine")
        m = measure(ecg)
        if m.global_values["blocked_p_wave_ms"] is not None or "2:1 AV block" in assess(m).diagnosis:
            flagged.append((rate, u, morph))
    assert flagged == []
    (claim,) = ground("2:1 AV block.", m, final=True)
    assert claim["verdict"] == "contradicted"
    assert [c["feature"] for c in ground("Atrial flutter with 2:1 conduction.", m, final=True)] == [
        "atrial_flutter"
    ]


def test_no_2_to_1_av_block_in_small_or_tall_t_waves():
    """Inside the T wave a blocked P wave is looked for with the T wave's curve taken out; what is left of
    a T wave there is a hump too. Flat and tall T waves, with small and usual P waves, 60-100 bpm, on the
    three QRS morphologies: none is read as a P wave (on synthetic 2:1 blocks at 45-80 bpm, 92 of 128
    found, bench/validate_measure.py)."""
    flagged = []
    for rate, t_scale, p_scale, (morph, qrs) in itertools.product(
        (60, 70, 80, 90, 100), (0.5, 1.5), (0.6, 1.0), (("normal", 90), ("rsr", 130), ("slurred_s", 150))
    ):
        ecg, _ = conduction_ecg(
            rate,
            qrs,
            morphology=morph,
            t_scale=t_scale,
            p_scale=p_scale,
            noise=0.015,
            p_shape="raised_cosine",
        )
        m = measure(ecg)
        if m.global_values["blocked_p_wave_ms"] is not None:
            flagged.append((rate, t_scale, p_scale, morph))
    assert flagged == []


@pytest.mark.parametrize(
    ("ventricles", "atria", "morph"),
    [
        (30, 75, "normal"),
        (35, 90, "slurred_s"),
        (40, 60, "normal"),
        (40, 90, "slurred_s"),
        (45, 110, "normal"),
        (38, 73, "normal"),  # atria at 1.9-2.1 times the ventricles: left out as locked until they drifted
        (46, 95, "slurred_s"),
        (30, 63, "normal"),  # five beats, each with some P wave before it: read "first-degree AV block"
        (34, 57, "normal"),  # what the cancellation left of a QRS split one atrial cycle in two
    ],
)
def test_complete_av_block_is_named_from_atrial_waves_unrelated_to_the_qrs(ventricles, atria, morph):
    """P waves marching at their own rate through a slow escape rhythm: no P wave is locked to the QRS, and
    the record read "a rhythm of undetermined origin". The QRS-T complexes are cancelled and the atrial
    waves left over are counted: complete AV block, at the atrial rate drawn. Near a whole-number ratio
    they count where they move at least a P wave's width against the QRS complexes over the record; and
    where they do, a P wave that seemed locked to the QRS is not conducted. (Ventricles at 30-46 bpm,
    atria at 57-95, normal and LBBB-like escape: found on 68 of 70, the other two drawn at exactly 2:1
    and read as 2:1 block; 19 of 70 missed before, 4 of them read "first-degree AV block". At 30 bpm the
    R-peak detectors took the P waves, more numerous than the QRS complexes, for beats: 3 of 16 before
    the QRS-strength reference became the 90th percentile of the candidates, 13 of 16 since.)"""
    qrs = 150.0 if morph == "slurred_s" else 90.0
    ecg, _ = conduction_ecg(
        ventricles, qrs, morphology=morph, atrial_rate=atria, noise=0.015, p_shape="raised_cosine"
    )
    m = measure(ecg)
    assert m.global_values["dissociated_atrial_rate_bpm"] == pytest.approx(atria, abs=3)
    a = assess(m)
    assert "complete AV block" in a.diagnosis and a.diagnosis[0] == "an escape rhythm", a.diagnosis
    (rhythm,) = [f for f in a.findings if f.key == "rhythm"]
    claims = ground(rhythm.sentence, m, final=True)
    assert "complete_av_block" in [c["feature"] for c in claims]
    assert all(c["verdict"] == "supported" for c in claims), claims


def test_no_complete_av_block_without_atrial_waves_of_their_own():
    """Junctional rhythms (no P wave), with 0.2 mV U waves or not, and sinus rhythm with them, 40-160 bpm,
    three QRS shapes: what the cancellation leaves of each beat recurs at the ventricular rate or twice
    it, and sinus P waves at the ventricular rate: never counted (and the sinus P waves stay locked)."""
    flagged = []
    for rate, (morph, qrs), kind in itertools.product(
        (40, 60, 75, 100, 130, 160),
        (("normal", 90), ("rsr", 130), ("slurred_s", 150)),
        ("junctional", "u", "sinus, u"),
    ):
        pr, u = {"junctional": (None, 0.0), "u": (None, 0.2), "sinus, u": (160.0, 0.2)}[kind]
        ecg, _ = conduction_ecg(rate, qrs, pr_ms=pr, morphology=morph, u_mv=u, noise=0.015)
        m = measure(ecg)
        if (
            m.global_values["dissociated_atrial_rate_bpm"] is not None
            or "complete AV block" in assess(m).diagnosis
        ):
            flagged.append((rate, morph, kind))
    assert flagged == []
    sinus = measure(conduction_ecg(60, noise=0.015)[0])
    assert sinus.global_values["dissociated_atrial_rate_bpm"] is None
    (claim,) = ground("Complete heart block.", sinus, final=True)
    assert claim["verdict"] == "contradicted"


@pytest.mark.parametrize(
    ("rate", "name"),
    [(40, "a junctional rhythm"), (55, "a junctional rhythm"), (75, "an accelerated junctional rhythm"),
     (95, "an accelerated junctional rhythm")],
)  # fmt: skip
def test_regular_narrow_rhythm_without_p_waves_is_named_junctional(rate, name):
    """No P wave before regular narrow QRS complexes read "a rhythm of undetermined origin"; the AV
    junction's rhythm is named, by its rate (under 60 bpm an escape rhythm, 60-100 accelerated), and the
    interpreter's sentence is supported by the claim checker, which now reads junctional claims."""
    m = measure(conduction_ecg(rate, 90, pr_ms=None, noise=0.015)[0])
    a = assess(m)
    assert a.diagnosis == [name, "abnormal ECG"] and not a.normal
    (rhythm,) = [f for f in a.findings if f.key == "rhythm"]
    claims = ground(rhythm.sentence, m, final=True)
    assert "junctional" in claims[-1]["feature"]
    assert all(c["verdict"] == "supported" for c in claims), claims
    verdicts = {
        t: ground(t, m, final=True)[0]["verdict"] for t in ("Junctional tachycardia.", "Sinus rhythm.")
    }
    assert verdicts == {"Junctional tachycardia.": "contradicted", "Sinus rhythm.": "contradicted"}
    accelerated = ground("Accelerated junctional rhythm.", m, final=True)[0]["verdict"]
    assert accelerated == ("supported" if rate >= 60 else "contradicted")


def test_junctional_is_not_named_for_wide_or_fast_rhythms_nor_claimed_over_sinus():
    """A wide regular rhythm without P waves may be junctional with a bundle branch block or ventricular,
    and a narrow one at 120 bpm is likelier AV nodal re-entry: neither is named junctional (the second is
    a supraventricular tachycardia), and the checker cannot tell a junctional claim on the wide one. Over
    sinus rhythm a junctional claim is contradicted; over inverted P waves with a short PR ("low atrial or
    junctional rhythm") supported."""
    wide = assess(measure(conduction_ecg(50, 140, pr_ms=None, morphology="rsr", noise=0.015)[0]))
    assert wide.diagnosis[0] == "a rhythm of undetermined origin", wide.diagnosis
    fast = assess(measure(conduction_ecg(120, 90, pr_ms=None, noise=0.015)[0]))
    assert fast.diagnosis[0] == "a supraventricular tachycardia", fast.diagnosis
    wide = measure(conduction_ecg(50, 140, pr_ms=None, morphology="rsr", noise=0.015)[0])
    assert ground("Junctional rhythm.", wide, final=True)[0]["verdict"] == "not_checkable"
    sinus = measure(conduction_ecg(70, noise=0.015)[0])
    assert ground("Junctional escape rhythm.", sinus, final=True)[0]["verdict"] == "contradicted"
    low = conduction_ecg(70, pr_ms=100, p_scale=-1.0, noise=0.015, p_shape="raised_cosine")[0]
    assert ground("Junctional rhythm.", measure(low), final=True)[0]["verdict"] == "supported"


@pytest.mark.parametrize("rate", [120, 150, 180])
def test_regular_narrow_tachycardia_without_p_waves_is_a_supraventricular_tachycardia(rate):
    """Narrow regular QRS complexes over 100 bpm with no P wave read "a rhythm of undetermined origin".
    They are a supraventricular tachycardia (the 2015 SVT guideline's regular narrow-complex
    tachycardia); at 140-160 bpm the sentence keeps "atrial flutter with 2:1 conduction should be
    considered", which the checker cannot check. The rest of the sentence is supported."""
    m = measure(conduction_ecg(rate, 90, pr_ms=None, noise=0.015)[0])
    a = assess(m)
    assert a.diagnosis == ["a supraventricular tachycardia", "abnormal ECG"] and a.diagnosis_labels == ["SVT"]
    (rhythm,) = [f for f in a.findings if f.key == "rhythm"]
    assert ("2:1 conduction should be considered" in rhythm.sentence) == (rate == 150)
    verdicts = {c["feature"]: c["verdict"] for c in ground(rhythm.sentence, m, final=True)}
    assert verdicts.pop("supraventricular_tachycardia") == "supported"
    assert set(verdicts.values()) <= {"supported", "not_checkable"}, verdicts
    assert verdicts.get("atrial_flutter", "not_checkable") == "not_checkable"


def test_inverted_p_waves_at_a_fast_rate_are_an_atrial_tachycardia():
    """P waves inverted in II before every beat at 120 bpm read "ectopic atrial rhythm"; over 100 bpm the
    focus is an atrial tachycardia (challenge code ATach), and with a short PR "low atrial or junctional
    tachycardia". Each sentence is supported by the checker."""
    for pr, name, label in (
        (150, "ectopic atrial tachycardia", "ATach"),
        (100, "low atrial or junctional tachycardia", "EAR"),
    ):
        ecg, _ = conduction_ecg(120, pr_ms=pr, p_scale=-1.0, noise=0.015, p_shape="raised_cosine")
        m = measure(ecg)
        a = assess(m)
        assert a.diagnosis[0] == name and label in a.diagnosis_labels, a.diagnosis
        (rhythm,) = [f for f in a.findings if f.key == "rhythm"]
        assert all(c["verdict"] == "supported" for c in ground(rhythm.sentence, m, final=True))


def _verdicts(claim: str, records: dict[str, dict], feature: str | None = None) -> dict[str, str]:
    """The checker's verdict on the one claim of ``claim`` (or its claim of ``feature``) over each of
    ``records`` (name: conduction_ecg keywords)."""
    out = {}
    for name, kw in records.items():
        claims = ground(claim, measure(conduction_ecg(**{"noise": 0.015, **kw})[0]), final=True)
        (c,) = [c for c in claims if feature in (None, c["feature"])]
        out[name] = c["verdict"]
    return out


def _assert_verdicts(records: dict[str, dict], expected: dict[str, tuple]) -> None:
    """Each claim of ``expected`` has the verdicts given, over ``records`` in their order."""
    got = {text: tuple(_verdicts(text, records).values()) for text in expected}
    assert got == expected


_TACHY_RECORDS = {
    "sinus tachycardia": dict(heart_rate=115, pr_ms=150, p_shape="raised_cosine"),
    "sinus rhythm": dict(heart_rate=70),
    "narrow, no P": dict(heart_rate=150, pr_ms=None),
    "wide, no P": dict(heart_rate=160, qrs_ms=160, pr_ms=None, morphology="slurred_s"),
    "ectopic atrial": dict(heart_rate=120, pr_ms=150, p_scale=-1.0, p_shape="raised_cosine"),
    "sinus tachycardia, RBBB": dict(heart_rate=110, qrs_ms=140, morphology="rsr"),
    "AF": dict(heart_rate=110, pr_ms=None, atrial_fibrillation=0.05, seed=3),
}
S, C, N = "supported", "contradicted", "not_checkable"


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        # sinus tach, sinus 70, narrow no P 150, wide no P 160, ectopic atrial 120, sinus tach RBBB, AF
        ("Ventricular tachycardia.", (C, C, C, S, C, C, C)),
        ("No ventricular tachycardia.", (S, S, S, C, S, S, S)),
        ("Supraventricular tachycardia.", (C, C, S, N, S, C, C)),
        ("PSVT.", (C, C, S, N, S, C, C)),
        ("AVNRT.", (C, C, N, N, N, C, C)),
        ("Ectopic atrial tachycardia.", (C, C, N, N, S, C, C)),
        ("Multifocal atrial tachycardia.", (C, C, C, C, C, C, N)),
        ("Non-sustained ventricular tachycardia.", (C, C, C, C, C, C, C)),
        ("Narrow complex tachycardia.", (S, C, S, C, S, C, S)),
        ("Wide-complex tachycardia.", (C, C, C, S, C, S, C)),
    ],
)
def test_tachycardia_claims_are_checked_by_their_mechanism(claim, expected):
    """Every "... tachycardia" used to be read as the bare word and supported by the rate alone:
    "Ventricular tachycardia." over sinus tachycardia at 115 bpm was supported. Each mechanism is now a
    claim of its own (grounding.check._tachycardia_of): VT is contradicted by narrow complexes or sinus P
    waves and supported by a regular wide tachycardia without P waves (VT until proven otherwise);
    SVT (the 2015 guideline's sense: not sinus tachycardia, not AF) is supported by a regular narrow
    tachycardia without sinus P waves; AV re-entry is never supported (its circuit is not seen); a focal
    atrial tachycardia needs P waves with a non-sinus axis; multifocal needs irregular RRs; a run of VT
    needs at least one PVC; anything called a tachycardia is contradicted at 70 bpm."""
    got = _verdicts(claim, _TACHY_RECORDS)
    assert tuple(got.values()) == expected, got


_VENTRICULAR_RECORDS = {
    "sinus rhythm": dict(heart_rate=70),
    "wide, no P, 160 bpm": dict(heart_rate=160, qrs_ms=160, pr_ms=None, morphology="slurred_s"),
    "AF": dict(heart_rate=110, pr_ms=None, atrial_fibrillation=0.05, seed=3),
    "short PR, wide QRS": dict(heart_rate=75, qrs_ms=130, pr_ms=100, morphology="slurred_s"),
    "wide, no P, 45 bpm": dict(heart_rate=45, qrs_ms=150, pr_ms=None, morphology="slurred_s"),
}


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        # sinus 70, wide no P 160, AF 110, short PR + wide QRS, wide no P 45
        ("Ventricular fibrillation.", (C, N, N, C, N)),
        ("Torsades de pointes.", (C, N, N, C, N)),
        ("Accelerated idioventricular rhythm.", (C, C, C, C, N)),
        ("Wolff-Parkinson-White pattern.", (C, N, N, S, N)),
        ("No pre-excitation.", (S, N, N, C, N)),
    ],
)
def test_ventricular_rhythm_and_pre_excitation_claims(claim, expected):
    """VF, torsades, idioventricular rhythm and WPW gave no claim at all: a sentence calling a sinus
    record ventricular fibrillation went unchecked. VF and its kin are contradicted by an organised
    rhythm (sinus, or regular narrow complexes) and otherwise not checkable; an idioventricular rhythm
    by narrow complexes, P waves, AF or a rate over 120 bpm, and a wide escape rhythm without P waves
    may be junctional with a block (not checkable); pre-excitation is supported by its intervals (PR
    < 120 ms, QRS >= 110 ms, where the interpreter raises it; the delta wave is not measured),
    contradicted by a normal PR, not checkable without one."""
    got = _verdicts(claim, _VENTRICULAR_RECORDS)
    assert tuple(got.values()) == expected, got


_SHAPE_RECORDS = {
    "normal": dict(heart_rate=72, p_shape="raised_cosine"),
    "P 0.28 mV in II": dict(heart_rate=72, p_scale=2.2, p_shape="raised_cosine"),
    "RBBB": dict(heart_rate=72, qrs_ms=140, morphology="rsr"),
    "J 0.3 mV in V1-V2": dict(heart_rate=72, st_mv=0.3, st_leads=("V1", "V2")),
}


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        # normal, tall P wave, RBBB, J point raised in V1-V2
        ("Right atrial enlargement.", (C, S, C, C)),
        ("P pulmonale in lead II.", (C, S, C, C)),
        ("Left atrial enlargement.", (N, N, N, N)),
        ("Brugada pattern in V1-V2.", (C, C, C, N)),
        ("Bifascicular block.", (C, C, N, C)),
        ("Trifascicular block.", (C, C, N, C)),
        ("Sinus arrest.", (C, C, C, C)),
        ("Early repolarization pattern.", (C, C, C, C)),  # V1-V2 are not its leads
    ],
)
def test_atrial_enlargement_brugada_fascicular_and_sinus_arrest_claims(claim, expected):
    """Claims that were read as nothing ("Brugada pattern", "bifascicular block", "sinus arrest") or as
    never checkable ("right atrial enlargement"): right atrial enlargement by the P wave's height in II
    (0.25 mV) or V1 (0.15 mV), the Brugada pattern contradicted where V1-V2 have no J point near 0.2 mV,
    bi- and trifascicular block contradicted without an RBBB (and supported as bifascicular with one and
    LAFB: test_interpreter_rules), sinus arrest and SA block read as a pause, early repolarization
    contradicted without a J point near 0.1 mV in the inferior and lateral leads (not checkable with one:
    test_poor_r_wave_progression_is_read_from_v3). Left atrial enlargement is not contradicted by a normal P duration (a
    deep terminal P in V1 also counts, and is not measured)."""
    got = _verdicts(claim, _SHAPE_RECORDS)
    assert tuple(got.values()) == expected, got


_ISCHEMIA_RECORDS = {
    "normal": dict(heart_rate=72),
    "ST up 0.3 mV in V2-V4": dict(heart_rate=72, st_mv=0.3),
    "ST down 0.15 mV in V4-V6": dict(heart_rate=72, st_mv=-0.15, st_leads=("V4", "V5", "V6")),
    "LBBB": dict(heart_rate=72, qrs_ms=150, morphology="slurred_s"),
}


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        # normal, ST elevation V2-V4, ST depression V4-V6, LBBB
        ("The ST elevation in V2-V4 indicates an acute anterior STEMI.", (C, N, N, N)),
        ("Old inferior myocardial infarction.", (C, C, C, N)),
        ("Ischemia in the lateral leads V4-V6.", (C, N, N, N)),
        ("No evidence of ischemia.", (S, N, N, N)),
    ],
)
def test_ischemia_and_infarction_claims_need_their_ecg_signs(claim, expected):
    """ "Myocardial infarction", "ischemia", "injury", "STEMI" were never checkable, so an infarct written
    over a normal tracing passed unremarked. They stay diagnoses the ECG cannot make, but their signs can
    be looked for in the leads named: ST elevation at the J point, an ST-T change (depression, T
    inversion or flattening), pathological Q waves. None there: contradicted; one there: not checkable
    (a bundle branch block makes the same changes, as the LBBB column shows)."""
    got = _verdicts(claim, _ISCHEMIA_RECORDS, "ischemia")
    assert tuple(got.values()) == expected, got


def test_poor_r_wave_progression_is_read_from_v3():
    """ "Poor R-wave progression" was never checkable; it is an R wave of 0.3 mV or less in V3: an LBBB's
    QS-like right precordial complexes (R 0.21 mV in V3) support it, a normal heart (0.81 mV) and an RBBB
    contradict it."""
    records = {k: _ISCHEMIA_RECORDS[k] for k in ("normal", "LBBB")} | {"RBBB": _SHAPE_RECORDS["RBBB"]}
    got = _verdicts("Poor R wave progression in V1-V4.", records)
    assert got == {"normal": C, "LBBB": S, "RBBB": C}
    # and early repolarization is not checkable where the J point is raised in V4
    assert _verdicts("Early repolarization.", {"J up in V4": _ISCHEMIA_RECORDS["ST up 0.3 mV in V2-V4"]}) == {
        "J up in V4": N
    }


def test_upright_t_waves_and_all_leads_except_one():
    """ "T waves upright" was checked as "peaked" (1 mV or more), so the usual "the T waves are upright in all
    leads except aVR" came out contradicted on a normal heart; and "except aVR" put aVR among the leads.
    Upright is now a T wave of 0.05 mV or more, and the leads after "except" are taken out."""
    m = measure(conduction_ecg(72, noise=0.015, p_shape="raised_cosine")[0])
    (claim,) = ground("The T waves are upright in all leads except aVR.", m, final=True)
    assert claim["verdict"] == S and "aVR" not in claim["leads"] and len(claim["leads"]) == 11
    verdicts = [
        ground(t, m, final=True)[0]["verdict"]
        for t in ("Peaked T waves in V2-V4.", "The T wave is upright in aVR.")
    ]
    assert verdicts == [C, C]
    flipped = measure(conduction_ecg(72, t_scale=-1.0, noise=0.015, p_shape="raised_cosine")[0])
    assert ground("T waves are upright in V5 and V6.", flipped, final=True)[0]["verdict"] == C


def test_normal_sinus_rhythm_needs_a_normal_rate_and_unread_shapes_are_not_checkable():
    """ "Normal sinus rhythm" at 50 bpm was supported (any sinus rhythm was); it is sinus bradycardia, and
    NSR now needs 60-100 bpm. "Notched" or "biphasic" P waves read as "P waves present" and were
    supported; the shape is not measured, so they are not checkable."""
    records = {"72 bpm": dict(heart_rate=72), "50 bpm": dict(heart_rate=50)}
    assert _verdicts("Normal sinus rhythm.", records) == {"72 bpm": S, "50 bpm": C}
    assert _verdicts("Sinus rhythm.", records) == {"72 bpm": S, "50 bpm": S}
    for text in ("Notched P waves in lead II.", "Biphasic P waves in V1."):
        assert set(_verdicts(text, records).values()) == {N}, text


def test_st_depression_form_normal_t_waves_qs_complexes_and_f_waves():
    """What the checker used to pass over: the form of an ST depression ("upsloping" was supported by a
    horizontal one: upsloping is now told apart from horizontal or downsloping, whose border the slope's
    noise blurs), "normal T waves" (never checkable; now none inverted or flat where upright belongs, none
    peaked), "QS complexes" and "fibrillatory waves" (no claim at all)."""
    records = {
        "normal": dict(heart_rate=72),
        "horizontal": dict(heart_rate=72, st_mv=-0.15, st_leads=("V4", "V5", "V6")),
        "upsloping": dict(heart_rate=72, st_mv=-0.15, st_leads=("V4", "V5", "V6"), st_segment_ms=0),
        "LBBB": dict(heart_rate=72, qrs_ms=150, morphology="slurred_s"),
        "AF": dict(heart_rate=100, pr_ms=None, atrial_fibrillation=0.08, seed=3),
    }
    expected = {
        # normal, horizontal, upsloping, LBBB, AF
        "Horizontal ST depression in V4-V6.": (C, S, C, C, C),
        "Downsloping ST depression in V4-V6.": (C, S, C, C, C),
        "Upsloping ST depression in V4-V6.": (C, C, S, C, C),
        "The T waves are normal.": (S, S, S, C, S),
        "QS complexes in V5 and V6.": (C, C, C, C, C),
        "Fibrillatory waves are seen in V1.": (C, C, C, C, S),
        "The QRS voltage is not low.": (S, S, S, S, S),
        "Increased QRS voltage.": (C, C, C, S, C),  # the LBBB's deep S waves in V1-V3
    }
    _assert_verdicts(records, expected)


def test_premature_beats_are_checked_by_count_pairing_and_pause():
    """Every "... PVCs" was supported by any PVC: "a single PVC" over three, "PVC couplets" over isolated
    ones, "blocked PACs" over conducted PACs, "non-compensatory pause" after PVCs. Now: a count in words or
    digits must match (one fewer found is allowed: a beat at the record's edge cannot be judged
    premature), a couplet needs two PVCs in a row, the pause's kind is read from the RRs around the beat
    (the beat model's PVCs have full compensatory pauses, its PACs reset the sinus node), and blocked
    PACs or multiform PVCs, which are not measured, are not checkable."""
    records = {
        "none": dict(heart_rate=72),
        "PVC every 3rd": dict(heart_rate=70, pvc_every=3),
        "PAC every 4th": dict(heart_rate=70, pac_every=4),
    }
    expected = {
        # none, PVCs, PACs
        "There are three PVCs.": (C, S, C),
        "A single PVC is seen.": (C, C, C),
        "Three premature atrial contractions (PACs).": (C, C, S),
        "PVC couplets are seen.": (C, C, C),
        "Blocked PACs.": (N, N, N),
        "Multifocal PVCs.": (N, N, N),
        "A full compensatory pause follows.": (C, S, C),
        "A non-compensatory pause follows.": (C, C, S),
    }
    got = {}
    for text in expected:
        features = {"There are three PVCs.": "pvc", "PVC couplets are seen.": "pvc_couplet"}
        got[text] = tuple(_verdicts(text, records, features.get(text)).values())
    assert got == expected
    m = measure(conduction_ecg(70, pvc_every=3, noise=0.015)[0])
    pvcs = [pb for pb in m.premature_beats if pb["kind"] == "PVC"]
    assert len(pvcs) == 3
    # two PVCs in a row (the beat model draws none): the same record with its second PVC moved next to the
    # first is a couplet
    import dataclasses

    pair = [pvcs[0], {**pvcs[1], "beat_index": pvcs[0]["beat_index"] + 1}]
    paired = dataclasses.replace(m, premature_beats=pair, content_hash="couplet")
    (claim,) = [c for c in ground("A PVC couplet.", paired, final=True) if c["feature"] == "pvc_couplet"]
    assert claim["verdict"] == S


def test_normal_and_abnormal_ecg_claims_follow_the_interpreters_verdict():
    """ "Normal ECG" and "abnormal ECG" gave no claim: GEM calling an RBBB a normal ECG went unchecked. They
    are read against the interpreter's verdict on the same measurements, under each sex and age it may
    be given (its LVH, QTc and ST limits depend on them), in the text's favour."""
    records = {
        "normal": dict(heart_rate=72),
        "sinus bradycardia": dict(heart_rate=50),
        "RBBB": dict(heart_rate=72, qrs_ms=140, morphology="rsr"),
        "first-degree AV block": dict(heart_rate=70, pr_ms=240),
    }
    assert tuple(_verdicts("Normal ECG.", records).values()) == (S, S, C, C)
    assert tuple(_verdicts("Overall, this is an abnormal ECG.", records).values()) == (C, C, S, S)
    assert tuple(_verdicts("This is not a normal ECG.", records).values()) == (C, C, S, S)


def test_second_degree_and_blocked_p_wave_claims():
    """ "Second-degree AV block", "Mobitz", "Wenckebach" were never checkable and "non-conducted P waves"
    or "P waves march through the QRS complexes" read as "P waves present" (supported on a normal
    heart). Second-degree and high-grade block are supported by a blocked P wave midway (2:1), the type
    (Mobitz I or II) is not checkable there, skipped P waves are also supported by atrial waves of their
    own (complete block), marching P waves are AV dissociation; one-to-one sinus conduction with no
    pause contradicts them all."""
    records = {
        "normal": dict(heart_rate=72, p_shape="raised_cosine"),
        "2:1 AV block": dict(heart_rate=45, pr_ms=180, av_block_2to1=True, p_shape="raised_cosine"),
        "complete AV block": dict(heart_rate=38, atrial_rate=80, p_shape="raised_cosine"),
    }
    expected = {
        "Second-degree AV block.": (C, S, N),
        "High-grade AV block.": (C, S, N),
        "Wenckebach.": (C, N, N),
        "Non-conducted P waves.": (C, S, S),
        "P waves march through the QRS complexes.": (C, C, S),
    }
    _assert_verdicts(records, expected)


def test_dextrocardia_and_pacing_claims():
    """Dextrocardia and paced rhythms gave no claim. Dextrocardia is contradicted where lead I has an
    upright P wave and a dominant R (not checkable where lead I is inverted, as with swapped arm
    electrodes, which look the same in the limb leads); ventricular pacing is contradicted by narrow QRS
    complexes (not checkable beside a wide QRS); pacing in general is not checkable (no spikes are
    looked for)."""
    normal = measure(conduction_ecg(72, noise=0.015)[0])
    swapped = measure(swap_arm_electrodes(conduction_ecg(72, noise=0.015)[0]))
    wide = measure(conduction_ecg(72, 150, morphology="slurred_s", noise=0.015)[0])
    verdict = {
        (text, name): ground(text, m, final=True)[0]["verdict"]
        for text in ("Dextrocardia.", "Ventricular paced rhythm.", "Pacemaker spikes are seen.")
        for name, m in (("normal", normal), ("arms swapped", swapped), ("wide", wide))
    }
    assert verdict[("Dextrocardia.", "normal")] == C and verdict[("Dextrocardia.", "arms swapped")] == N
    assert verdict[("Ventricular paced rhythm.", "normal")] == C
    assert verdict[("Ventricular paced rhythm.", "wide")] == N
    assert {v for (t, _), v in verdict.items() if t.startswith("Pacemaker")} == {N}


def test_a_bare_rate_is_a_heart_rate_claim_and_unmeasured_findings_are_listed():
    """ "Rate 72." and "the heart rate is about 75" (no unit) gave no claim; a 2-3 digit number right after
    "rate" is now a heart rate in bpm. U waves, electrical alternans, a borderline ECG and electrolyte
    or drug effects are not measured: they are listed as not checkable instead of passed over."""
    records = {"72 bpm": dict(heart_rate=72), "50 bpm": dict(heart_rate=50)}
    assert _verdicts("Rate 72.", records) == {"72 bpm": S, "50 bpm": C}
    assert _verdicts("The ventricular rate is about 50.", records) == {"72 bpm": C, "50 bpm": S}
    for text in (
        "Prominent U waves in V2.",
        "Electrical alternans.",
        "Borderline ECG.",
        "Possible hyperkalemia.",
    ):
        assert set(_verdicts(text, records).values()) == {N}, text


def test_left_atrial_enlargement_is_supported_by_a_broad_p_wave(monkeypatch):
    """A P wave drawn 140 ms wide (measured 134 ms) supports left atrial enlargement (P >= 120 ms in II,
    AHA/ACCF/HRS 2009 Part V); the usual 100 ms one leaves it not checkable."""
    import gem_core.beat_model as beat_model

    monkeypatch.setattr(beat_model, "P_MS", 140.0)
    m = measure(conduction_ecg(65, pr_ms=200, noise=0.015)[0])
    assert m.global_values["p_ms"] >= 120
    assert [c["verdict"] for c in ground("Left atrial enlargement. P mitrale.", m, final=True)] == [S, S]


def test_no_record_pr_or_p_axis_from_the_odd_beat_of_a_rhythm_without_p_waves():
    """A wide regular tachycardia drawn without P waves had a P wave delineated on one beat of 26: its
    PR (82 ms) and P axis were given as the record's, so "PR interval 82 ms" and a WPW claim were
    supported. The record's PR, P duration and P axis now need P waves before at least half of the
    dominant beats (fewer is "no consistent P wave", criteria.AF_MAX_P_WAVE_FRACTION)."""
    m = measure(conduction_ecg(160, 160, pr_ms=None, morphology="slurred_s", noise=0.015)[0])
    g = m.global_values
    assert g["p_wave_fraction"] < 0.5
    assert g["pr_ms"] is None and g["p_ms"] is None and g["p_axis_deg"] is None
    assert ground("The PR interval is 82 ms.", m, final=True)[0]["verdict"] == N


@pytest.mark.parametrize(("morph", "qrs", "vt"), [("slurred_s", 160, S), ("rsr", 140, N)])
def test_the_wide_complex_tachycardia_sentence_is_supported_by_its_own_checker(morph, qrs, vt):
    """A regular wide-QRS tachycardia without P waves: "ventricular tachycardia must be assumed until
    proven otherwise", and a VT claim is supported there, unless the QRS has a typical right bundle
    branch block's shape (Brugada et al.: SVT with the block favoured), where VT is not checkable and the
    interpreter names no mechanism as a claim ("a supraventricular origin ... is favoured"). Every claim
    of the interpreter's sentence is supported."""
    m = measure(conduction_ecg(150, qrs, None, 0.0, morphology=morph, noise=0.015, seed=qrs)[0])
    (wct,) = [f for f in assess(m).findings if f.key == "wide_complex_tachycardia"]
    claims = ground(wct.sentence, m, final=True)
    assert claims and all(c["verdict"] == S for c in claims), claims
    assert ("ventricular tachycardia must be assumed" in wct.sentence) == (vt == S)
    assert ground("Ventricular tachycardia.", m, final=True)[0]["verdict"] == vt
    assert ground("Supraventricular tachycardia.", m, final=True)[0]["verdict"] == N


@pytest.mark.parametrize(
    "kw",
    [
        dict(heart_rate=56.3, pr_ms=190.5, p_scale=0.39, t_scale=1.43, sinus_arrhythmia=0.05, seed=36),
        dict(heart_rate=66.1, pr_ms=167.1, p_scale=0.39, t_scale=0.63, qrs_shape="half_sine", seed=38),
    ],
)
def test_small_p_waves_under_baseline_wander_stay_sinus(kw):
    """P waves of 0.06 mV in II under 0.3 mV of baseline wander (found in a random sweep of normal hearts):
    each beat's pre-QRS segment carried its own slope, the segments stopped matching their median (or
    their spread about it hid the P wave) and the rhythm read as one without P waves, now named a
    junctional rhythm. The wander's line is taken out of each beat's segment first."""
    ecg, truth = conduction_ecg(noise=0.01, p_shape="raised_cosine", qrs_ms=90.0, **kw)
    m = measure(interfere(ecg, "wander", 0.3, kw["seed"]))
    a = assess(m)
    assert a.diagnosis[0] in ("sinus bradycardia", "normal sinus rhythm"), a.diagnosis
    assert m.global_values["pr_ms"] == pytest.approx(truth["pr_ms"], abs=15)


def test_atrial_flutter_is_drawn_as_a_sawtooth_at_its_rate():
    """``atrial_flutter`` adds, to the same record without P waves, a sawtooth at the flutter rate (the
    conduction ratio times the ventricular rate), its size peak to peak in II, negative-going in II and
    V1's the other way; rates outside 240-350/min and other atrial rhythms are refused."""
    flutter, truth = conduction_ecg(75, atrial_flutter=0.3, flutter_conduction=4, noise=0.01, seed=2)
    plain, _ = conduction_ecg(75, pr_ms=None, noise=0.01, seed=2)
    assert truth["flutter_rate_bpm"] == 300.0 and truth["conduction"] == 4 and truth["pr_ms"] is None
    saw = flutter.lead("II").astype(np.float64) - plain.lead("II")
    assert np.ptp(saw) == pytest.approx(0.3, abs=0.01)
    spectrum = np.abs(np.fft.rfft(saw - saw.mean()))
    hz = np.fft.rfftfreq(len(saw), 1.0 / flutter.fs)
    assert hz[np.argmax(spectrum)] == pytest.approx(5.0, abs=0.1)  # 300/min
    v1 = flutter.lead("V1").astype(np.float64) - plain.lead("V1")
    assert np.corrcoef(saw, v1)[0, 1] < -0.9
    for bad in (dict(flutter_conduction=2), dict(atrial_rate=80.0), dict(pac_every=3)):
        with pytest.raises(GemError):
            conduction_ecg(75, atrial_flutter=0.3, **{"flutter_conduction": 4, **bad})


@pytest.mark.parametrize(
    ("conduction", "mv", "interference"),
    [(4, 0.1, None), (4, 0.2, ("emg", 0.05)), (4, 0.3, ("wander", 0.5)), (5, 0.1, ("wander", 0.5)),
     (5, 0.2, None), (3, 0.2, None)],
)  # fmt: skip
def test_atrial_flutter_with_fixed_conduction_is_named(conduction, mv, interference):
    """Flutter waves locked to the QRS at n:1 read as P waves ("ectopic atrial rhythm", a first-degree AV
    block) and their sawtooth through the ST segments as ST depression. Between the T wave and the QRS
    the signal now repeats itself one flutter cycle (RR/n) earlier, where a P wave does not: atrial
    flutter with n:1 conduction, no PR interval, the ST-T changes secondary, every claim supported."""
    ecg, _ = conduction_ecg(300 / conduction, atrial_flutter=mv, flutter_conduction=conduction, noise=0.015)
    if interference:
        ecg = interfere(ecg, *interference, seed=conduction)
    m = measure(ecg)
    a = assess(m)
    assert a.diagnosis == [f"atrial flutter with {conduction}:1 conduction", "abnormal ECG"], a.diagnosis
    assert m.global_values["pr_ms"] is None and not a.normal
    for finding in a.findings:
        claims = ground(finding.sentence, m, final=True)
        assert all(c["verdict"] == "supported" for c in claims), (finding.sentence, claims)
    (claim,) = ground("Normal sinus rhythm.", m, final=True)
    assert claim["verdict"] == "contradicted"


@pytest.mark.xfail(
    strict=True, reason="2:1 flutter leaves no T-Q stretch to compare (issue 18 note, stop 30)"
)
def test_atrial_flutter_with_2_to_1_conduction_is_named():
    """A known gap, kept visible: at 2:1 (150 bpm) the QRS-T complexes leave no stretch between them to
    compare flutter waves in, and the record reads sinus tachycardia with a short PR. This test fails
    until that is found; then the xfail comes off."""
    ecg, _ = conduction_ecg(150, atrial_flutter=0.3, flutter_conduction=2, noise=0.015)
    assert "atrial flutter" in assess(measure(ecg)).diagnosis[0]


def test_no_atrial_flutter_on_sinus_rhythm():
    """P waves between the T wave and the QRS do not repeat a flutter cycle earlier (baseline, or U waves,
    stand there): sinus rhythm at 45-95 bpm with small and usual P waves, PR 120-260 ms, flat and tall T
    waves, 0.15 mV U waves is never read as flutter (the lowest residue on such records 0.37, on the 104
    shared records 0.68, against a limit of 0.25; flutter waves at 4:1 leave 0.01-0.08). A flutter claim
    over sinus rhythm is contradicted."""
    flagged = []
    for rate, pr, p_scale, t_scale, u in itertools.product(
        (55, 85, 95), (120, 200), (0.4, 1.0), (0.5, 1.5), (0, 0.15)
    ):
        ecg, _ = conduction_ecg(
            rate, pr_ms=pr, p_scale=p_scale, t_scale=t_scale, u_mv=u, noise=0.015, p_shape="raised_cosine"
        )
        m = measure(ecg)
        if m.global_values["flutter_conduction"] is not None:
            flagged.append((rate, pr, p_scale, t_scale, u))
    assert flagged == []
    (claim,) = ground("Atrial flutter with 4:1 conduction.", m, final=True)
    assert claim["verdict"] == "contradicted"
