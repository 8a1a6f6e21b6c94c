"""gem_core.features on simulated ECGs: rate accuracy, contract shape, robustness, bad input, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gem_core import criteria
from gem_core.ecg import ECG, LEADS
from gem_core.errors import GemError
from gem_core.features import (
    BEAT_FEATURES,
    EXTRA_BEAT_VALUES,
    FIDUCIALS,
    QUALITY,
    ST_FORMS,
    _frontal_axis,
    _st_form,
    clear_cache,
    machine_measurements_text,
    measure,
)
from gem_core.samples import SYNTHETIC_RATES, synthetic_ecg
from tests.conftest import REPO, SHARED_ECG

GLOBAL_KEYS = [
    "heart_rate_bpm",
    "rr_ms",
    "rr_sd_ms",
    "rr_irregularity",
    "n_beats",
    "pr_ms",
    "qrs_ms",
    "qt_ms",
    "qtc_ms",
    "qtc_fridericia_ms",
    "qrs_axis_deg",
    "p_axis_deg",
    "t_axis_deg",
    "p_wave_fraction",
    "st_deviation_mv",
    "voltage",
    "quality",
]
PREMATURE_KEYS = {
    "beat_index",
    "time_ms",
    "kind",
    "qrs",
    "qrs_duration_ms",
    "coupling_ms",
    "pause_ms",
    "compensatory",
}


def _copy(ecg: ECG, signal: np.ndarray, record_id: str) -> ECG:
    return ECG(signal=signal.astype(np.float32), fs=ecg.fs, record_id=record_id)


@pytest.fixture(scope="module")
def normal() -> ECG:
    return synthetic_ecg(heart_rate=75, duration_s=10)  # one of SYNTHETIC_RATES: simulated once, cached


@pytest.mark.parametrize("rate", SYNTHETIC_RATES)
def test_heart_rate_within_2_bpm_on_simulated_ecgs(rate):
    m = measure(synthetic_ecg(heart_rate=rate))
    assert m.enough_beats
    assert abs(m.global_values["heart_rate_bpm"] - rate) <= 2.0
    # every beat's own rate agrees too (RR to the previous beat)
    rates = [b["heart_rate"] for b in m.leads["II"].beats if b["heart_rate"] is not None]
    assert abs(float(np.median(rates)) - rate) <= 2.0


def test_contract_shape_and_json_safety(normal):
    m = measure(normal)
    d = m.to_dict()
    text = json.dumps(d, allow_nan=False)  # NaN would raise here
    assert json.loads(text)["record_id"] == normal.record_id
    assert set(GLOBAL_KEYS) <= set(d["global"])
    assert set(d["leads"]) == set(LEADS)
    assert d["r_peaks_ms"] == sorted(d["r_peaks_ms"]) and len(d["r_peaks_ms"]) >= 10
    for name, lead in d["leads"].items():
        assert lead["quality"] in QUALITY, name
        assert len(lead["beats"]) == len(d["r_peaks_ms"])
        for beat in lead["beats"]:
            assert {"index", *FIDUCIALS, *BEAT_FEATURES, *EXTRA_BEAT_VALUES} <= set(beat)
            assert beat["st_form"] is None or beat["st_form"] in ST_FORMS
    # R peaks are shared: the same in every lead
    r_by_lead = {tuple(b["r_peak_ms"] for b in lead["beats"]) for lead in d["leads"].values()}
    assert r_by_lead == {tuple(d["r_peaks_ms"])}


def test_fiducials_are_ordered_within_each_beat(normal):
    for lead in measure(normal).leads.values():
        for b in lead.beats:
            points = [b[k] for k in FIDUCIALS if b[k] is not None]
            assert points == sorted(points), b


def test_intervals_follow_from_fiducials(normal):
    b = next(b for b in measure(normal).leads["V5"].beats if b["pr_interval"] and b["qt_interval"])
    assert b["pr_interval"] == pytest.approx(b["qrs_onset_ms"] - b["p_onset_ms"], abs=0.2)
    assert b["qrs_duration"] == pytest.approx(b["qrs_offset_ms"] - b["qrs_onset_ms"], abs=0.2)
    assert b["qt_interval"] == pytest.approx(b["t_offset_ms"] - b["qrs_onset_ms"], abs=0.2)
    rr_s = (b["rr_interval_1"] or b["rr_interval_2"]) / 1000.0
    assert b["qtc_interval"] == pytest.approx(b["qt_interval"] / math.sqrt(rr_s), abs=0.5)
    assert b["qtc_fridericia"] == pytest.approx(b["qt_interval"] / rr_s ** (1 / 3), abs=0.5)


def test_cached_by_content_hash(normal):
    import time

    first = measure(normal)
    began = time.perf_counter()
    hit = measure(normal)
    assert time.perf_counter() - began < 0.05  # from the cache (measuring takes far longer)
    assert hit is not first and hit.to_dict() == first.to_dict()  # an equal copy of its own
    renamed = ECG(signal=normal.signal.copy(), fs=normal.fs, record_id="other-name")
    again = measure(renamed)
    assert again.record_id == "other-name"
    assert again.r_peaks_ms == first.r_peaks_ms and again.leads == first.leads


def test_flat_lead_is_flagged_and_left_out(normal):
    sig = normal.signal.copy()
    sig[LEADS.index("V3")] = 0.0
    m = measure(_copy(normal, sig, "flat-v3"))
    g = m.global_values
    assert g["quality"]["V3"] == "flat"
    assert all(g["quality"][n] == "ok" for n in LEADS if n != "V3")
    assert m.leads["V3"].beats == []
    assert "V3" not in g["st_deviation_mv"]
    assert abs(g["heart_rate_bpm"] - 75) <= 2
    assert "Lead V3: flat" in machine_measurements_text(m)


def test_noisy_lead_is_flagged_and_does_not_move_r_peaks(normal):
    clean_peaks = np.array(measure(normal).r_peaks_ms)
    sig = normal.signal.copy()
    rng = np.random.default_rng(1)
    sig[LEADS.index("II")] += rng.normal(0, 0.6, sig.shape[1]).astype(np.float32)
    m = measure(_copy(normal, sig, "noisy-ii"))
    assert m.global_values["quality"]["II"] == "noisy"
    assert "II" not in m.global_values["delineation_leads"]
    assert "II" not in m.global_values["st_deviation_mv"]
    noisy_peaks = np.array(m.r_peaks_ms)
    assert len(noisy_peaks) == len(clean_peaks)
    assert np.max(np.abs(noisy_peaks - clean_peaks)) <= 20.0


def test_premature_narrow_beat_with_compensatory_pause(normal):
    """Splice a 60 bpm record so one beat comes 40% early and a pause follows: one PAC, compensatory."""
    base = synthetic_ecg(heart_rate=60, duration_s=10)
    fs = base.fs
    r = (np.array(measure(base).r_peaks_ms) * fs / 1000).astype(int)
    k = 5
    cut_from, cut_to = r[k - 1] + int(0.45 * fs), r[k] - int(0.15 * fs)  # next beat arrives 0.4 s early
    pause = np.repeat(base.signal[:, [r[k] + int(0.45 * fs)]], int(0.4 * fs), axis=1)
    sig = np.concatenate(
        [
            base.signal[:, :cut_from],
            base.signal[:, cut_to : r[k] + int(0.45 * fs)],
            pause,
            base.signal[:, r[k] + int(0.45 * fs) :],
        ],
        axis=1,
    )
    m = measure(_copy(base, sig, "spliced-pac"))
    assert len(m.premature_beats) == 1, m.premature_beats
    pb = m.premature_beats[0]
    assert set(pb) >= PREMATURE_KEYS
    assert pb["beat_index"] == k
    assert pb["kind"] == "PAC"  # the same narrow QRS as the other beats
    assert pb["qrs_duration_ms"] == pytest.approx(m.global_values["qrs_ms"], abs=20)
    assert pb["qrs"] == ("wide" if pb["qrs_duration_ms"] >= 120 else "narrow")
    assert pb["coupling_ms"] == pytest.approx(600, abs=30)
    assert pb["pause_ms"] == pytest.approx(1400, abs=30)
    assert pb["compensatory"] is True
    assert "Premature beat: PAC" in machine_measurements_text(m)


def test_a_premature_beat_of_the_dominant_width_is_supraventricular_however_shaped():
    """The spliced PAC of the test above with its QRS turned upside down in every lead: a premature beat
    unlike the dominant one (correlation under 0.5, which alone used to make it a PVC) but no wider is
    supraventricular, conducted aberrantly (criteria.premature_is_ventricular)."""
    base = synthetic_ecg(heart_rate=60, duration_s=10)
    fs = base.fs
    r = (np.array(measure(base).r_peaks_ms) * fs / 1000).astype(int)
    k = 5
    sig = base.signal.copy()
    qrs = slice(r[k] - int(0.05 * fs), r[k] + int(0.05 * fs))
    sig[:, qrs] = sig[:, qrs].mean(axis=1, keepdims=True) * 2 - sig[:, qrs]  # mirrored about its mean
    cut_from, cut_to = r[k - 1] + int(0.45 * fs), r[k] - int(0.15 * fs)
    pause = np.repeat(sig[:, [r[k] + int(0.45 * fs)]], int(0.4 * fs), axis=1)
    parts = [
        sig[:, :cut_from],
        sig[:, cut_to : r[k] + int(0.45 * fs)],
        pause,
        sig[:, r[k] + int(0.45 * fs) :],
    ]
    m = measure(_copy(base, np.concatenate(parts, axis=1), "spliced-aberrant-pac"))
    (pb,) = m.premature_beats
    assert pb["beat_index"] == k and pb["morphology_corr"] < 0.5
    assert pb["qrs_duration_ms"] < m.global_values["qrs_ms"] + criteria.PVC_MIN_EXTRA_QRS_MS
    assert pb["kind"] == "PAC"


def test_no_premature_beats_in_regular_rhythm(normal):
    assert measure(normal).premature_beats == []


def test_low_voltage_flags_follow_amplitude(normal):
    small = measure(_copy(normal, normal.signal * 0.1, "tiny"))
    big = measure(_copy(normal, normal.signal * 3.0, "big"))
    assert small.global_values["voltage"]["low_voltage_limb"] is True
    assert small.global_values["voltage"]["low_voltage_precordial"] is True
    assert big.global_values["voltage"]["low_voltage_precordial"] is False
    ratio = (
        big.global_values["voltage"]["sokolow_lyon_mv"]
        / measure(normal).global_values["voltage"]["sokolow_lyon_mv"]
    )
    assert ratio == pytest.approx(3.0, rel=0.05)


@pytest.mark.parametrize("lead", ["I", "II", "aVL", "V1", "V2", "V5"])
def test_qrs_amplitude_is_the_peak_to_peak_of_the_qrs(normal, lead):
    """Voltage criteria (low voltage, Sokolow-Lyon, Cornell) are defined on peak amplitudes: the
    measured QRS amplitude must be the signal's own peak-to-peak over the QRS, not a smoothed one."""
    raw = normal.signal[LEADS.index(lead)].astype(np.float64)
    ratios = []
    for b in measure(normal).leads[lead].beats:
        if b["qrs_onset_ms"] is None or b["qrs_offset_ms"] is None:
            continue
        on, off = (int(round(b[k] * normal.fs / 1000)) for k in ("qrs_onset_ms", "qrs_offset_ms"))
        ratios.append(b["qrs_amplitude"] / np.ptp(raw[on : off + 1]))
        r_height = b["r_amplitude"] + b["s_amplitude"]
        assert r_height <= b["qrs_amplitude"] + 0.02
    assert len(ratios) >= 8
    assert np.median(ratios) == pytest.approx(1.0, abs=0.03)


def _edge_cases(normal: ECG) -> list[ECG]:
    nan = normal.signal.copy()
    nan[:, 1000:1010] = np.nan
    dropout = normal.signal.copy()
    dropout[:, 1000:3000] = 0.0
    noisy = normal.signal.copy()
    noisy[LEADS.index("V3")] += np.random.default_rng(0).normal(0, 0.5, noisy.shape[1]).astype(np.float32)
    return [
        normal,
        _copy(normal, nan, "warn-nan"),
        _copy(normal, dropout, "warn-dropout"),
        _copy(normal, noisy, "warn-noisy"),
        _copy(normal, normal.signal[:, : int(1.2 * normal.fs)], "warn-short"),
        _copy(normal, np.zeros_like(normal.signal), "warn-zeros"),
        _copy(normal, normal.signal * 0.02, "warn-tiny"),
    ]


def test_measure_raises_no_runtime_warnings(normal):
    ecgs = _edge_cases(normal) + [synthetic_ecg(heart_rate=rate) for rate in SYNTHETIC_RATES]
    shared = sorted((SHARED_ECG / "cpsc2018").glob("A000*.hea"))[:3]
    if shared:
        from gem_core.ecg import load_ecg

        ecgs += [load_ecg(p) for p in shared]
    clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for ecg in ecgs:
            measure(ecg)


def test_measure_does_not_silence_warnings(normal, monkeypatch):
    """Warnings are prevented at their source, not swallowed (catch_warnings is process-wide state)."""
    import gem_core.features as features

    def warns(ecg):
        warnings.warn("from inside measure", RuntimeWarning, stacklevel=1)
        return features._not_enough(ecg, np.zeros(0, np.int64), ["flat"] * 12, "test")

    monkeypatch.setattr(features, "_measure_uncached", warns)
    with pytest.warns(RuntimeWarning, match="from inside measure"):
        measure(_copy(normal, normal.signal * 1.5, "warns"))


def test_axis_turns_180_degrees_when_limb_leads_are_inverted(normal):
    sig = normal.signal.copy()
    for name in ("I", "II", "III", "aVR", "aVL", "aVF"):
        sig[LEADS.index(name)] *= -1
    a = measure(normal).global_values["qrs_axis_deg"]
    b = measure(_copy(normal, sig, "inverted-limbs")).global_values["qrs_axis_deg"]
    diff = (b - a) % 360
    assert diff == pytest.approx(180, abs=10)


@pytest.mark.parametrize("angle", [-60, -30, 0, 45, 90, 150])
def test_frontal_axis_recovers_a_known_vector(angle):
    gains = {"I": 1, "II": 1, "III": 1, "aVR": 0.866, "aVL": 0.866, "aVF": 0.866}
    dirs = {"I": 0, "II": 60, "III": 120, "aVR": -150, "aVL": -30, "aVF": 90}
    areas = {n: gains[n] * math.cos(math.radians(angle - dirs[n])) for n in dirs}
    assert _frontal_axis(areas) == pytest.approx(angle, abs=0.5)
    # without lead I and aVF (bad leads) the other limb leads still give it
    del areas["I"], areas["aVF"]
    assert _frontal_axis(areas) == pytest.approx(angle, abs=0.5)
    assert _frontal_axis({"II": 1.0}) is None


def test_st_form_vocabulary():
    dev = np.array([0.2, -0.1, 0.0, 0.0, 0.0, np.nan])
    slope = np.array([0.0, 0.0, 3.0, -3.0, 0.2, 0.0])
    want = ["elevated", "depressed", "upsloping", "downsloping", "horizontal", None]
    assert _st_form(dev, slope, "II", dev) == want  # flat segments: the J point at the ST level
    # elevation is read at the J point: a T wave rising out of J is 0.25 mV up at J+60 ms, not elevation
    assert _st_form(np.array([0.25]), np.array([3.0]), "V5", np.array([0.0])) == ["upsloping"]
    assert _st_form(np.array([0.25]), np.array([3.0]), "V5") == ["upsloping"]  # J unknown: not elevated
    # V2-V3: 0.15 mV is within normal limits there, elevation from 0.2 mV
    flat = np.array([0.15, 0.25])
    assert _st_form(flat, np.zeros(2), "V2", flat) == ["horizontal", "elevated"]
    assert _st_form(flat[:1], np.zeros(1), "V5", flat[:1]) == ["elevated"]
    # the criteria's ST depression: upsloping from a J point 0.15 mV down (Minnesota 4-4); downsloping
    # into a T wave 0.2 mV down where T is normally upright (4-3), not in III where it may be negative
    j, t = np.array([-0.15, -0.05, 0.0]), np.array([0.3, 0.3, -0.2])
    up = _st_form(np.array([0.0, 0.0, -0.02]), np.array([2.0, 2.0, -2.0]), "V5", j, t)
    assert up == ["depressed", "upsloping", "depressed"]
    assert _st_form(np.array([-0.02]), np.array([-2.0]), "III", j[2:], t[2:]) == ["downsloping"]


@pytest.mark.parametrize(("lead", "shift"), [("V5", 0.2), ("aVL", -0.2), ("V1", 0.2)])
def test_st_deviation_at_j_plus_60_follows_a_known_st_shift(lead, shift):
    """Raise or lower one lead's ST segment by a known amount (ramped in over the end of the QRS): its ST
    deviation at J+60 ms moves by that amount and the beats' ST form says so."""
    base = synthetic_ecg(heart_rate=60, duration_s=10)
    before = measure(base)
    sig = base.signal.copy()
    ms = base.times_ms()
    for b in before.leads[lead].beats:
        j, t_off = b["qrs_offset_ms"], b["t_offset_ms"]
        sig[LEADS.index(lead)] += shift * np.interp(ms, [j - 30, j - 10, t_off - 40, t_off], [0, 1, 1, 0])
    after = measure(_copy(base, sig, f"st-{lead}"))
    moved = after.leads[lead].st_deviation_mv - before.leads[lead].st_deviation_mv
    assert moved == pytest.approx(shift, abs=0.02)
    assert after.global_values["st_deviation_mv"][lead] == after.leads[lead].st_deviation_mv
    forms = [b["st_form"] for b in after.leads[lead].beats]
    assert forms.count("elevated" if shift > 0 else "depressed") >= 0.8 * len(forms)


@pytest.mark.parametrize(
    "name, wave",
    [
        ("sine 1.5 Hz", lambda t: np.sin(2 * np.pi * 1.5 * t)),
        ("sine 3 Hz", lambda t: 0.5 * np.sin(2 * np.pi * 3 * t)),
        ("triangle 2 Hz", lambda t: 2 * np.abs((2 * t) % 1 - 0.5)),
    ],
)
def test_a_periodic_wave_without_qrs_complexes_is_not_taken_for_heartbeats(name, wave):
    # strongly periodic, but with no short steep event per cycle: the periodicity fallback for wide
    # complexes the detectors miss must not turn it into a rhythm
    t = np.arange(5000) / 500.0
    m = measure(ECG(signal=np.tile(wave(t), (12, 1)).astype(np.float32), fs=500.0, record_id=name))
    assert m.enough_beats is False and m.message.startswith("not enough beats"), (
        len(m.r_peaks_ms),
        m.message,
    )


def test_one_beat_gives_not_enough_beats_not_a_crash(normal):
    short = _copy(normal, normal.signal[:, : int(1.2 * normal.fs)], "short")
    m = measure(short)
    assert m.enough_beats is False
    assert m.message.startswith("not enough beats")
    assert m.global_values["heart_rate_bpm"] is None
    json.dumps(m.to_dict(), allow_nan=False)
    assert "not enough beats" in machine_measurements_text(m)


def test_all_flat_record_gives_not_enough_beats(normal):
    m = measure(_copy(normal, np.zeros_like(normal.signal), "zeros"))
    assert m.enough_beats is False and "flat" in m.message
    assert set(m.global_values["quality"].values()) == {"flat"}


def test_nan_samples_do_not_break_measurement(normal):
    sig = normal.signal.copy()
    sig[:, 1000:1010] = np.nan
    m = measure(_copy(normal, sig, "with-nan"))
    assert abs(m.global_values["heart_rate_bpm"] - 75) <= 2
    json.dumps(m.to_dict(), allow_nan=False)


def test_signal_dropout_does_not_drag_the_rate_down(normal):
    sig = normal.signal.copy()
    sig[:, 1000:3000] = 0.0  # 4 s with no signal in any lead
    m = measure(_copy(normal, sig, "dropout"))
    assert abs(m.global_values["heart_rate_bpm"] - 75) <= 2
    assert not any(1000 < t < 6000 for t in m.r_peaks_ms[1:-1] if 2200 < t < 5800)


def test_zero_padded_record_keeps_its_rate(normal):
    sig = normal.signal.copy()
    sig[:, 3500:] = 0.0  # 7 s of signal padded to 10 s, as model inputs are
    m = measure(_copy(normal, sig, "padded"))
    assert abs(m.global_values["heart_rate_bpm"] - 75) <= 2
    assert max(m.r_peaks_ms) < 7000


def test_measure_rejects_non_ecg():
    with pytest.raises(GemError, match="needs a gem_core.ecg.ECG"):
        measure(np.zeros((12, 5000)))


def test_long_record_is_measured_whole(normal):
    """A 60 s record (the 10 s one six times over): every beat is measured, the rate stays right."""
    m = measure(_copy(normal, np.tile(normal.signal, 6), "sixty-seconds"))
    single = measure(normal).global_values["n_beats"]
    assert 6 * single <= m.global_values["n_beats"] <= 6 * single + 6
    assert m.leads["V2"].beats[-1]["r_peak_ms"] > 58_000
    # each 10 s copy gets the same R peaks as the single record (away from the joins)
    one = np.array([t for t in measure(normal).r_peaks_ms if 1000 < t < 9000])
    long = np.array(m.r_peaks_ms)
    for k in range(6):
        shifted = one + 10_000 * k
        nearest = long[np.abs(long[:, None] - shifted[None, :]).argmin(axis=0)]
        assert np.max(np.abs(nearest - shifted)) <= 4, k


def test_machine_measurements_text_lists_every_lead_and_feature(normal):
    m = measure(normal)
    text = machine_measurements_text(m)
    lines = text.splitlines()
    assert lines[0].startswith("Global: heart rate 75 bpm")
    for name in LEADS:
        assert f"Lead {name}:" in text
    for feat, unit in BEAT_FEATURES.items():
        label = feat if unit is None else f"{feat} ({unit})"
        assert text.count(f"  {label}: [") == 12
    hr_line = next(line for line in lines if line.startswith("  heart_rate (bpm)"))
    assert hr_line.count(",") == len(m.r_peaks_ms) - 1
    short = machine_measurements_text(m, max_beats=3)
    assert next(x for x in short.splitlines() if x.startswith("  heart_rate")).count(",") == 2


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "gem_core.features", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_cli_prints_json_for_a_wfdb_record(tmp_path, normal):
    import wfdb

    wfdb.wrsamp(
        "rec",
        fs=int(normal.fs),
        units=["mV"] * 12,
        sig_name=list(LEADS),
        p_signal=normal.signal.T.astype(np.float64),
        fmt=["16"] * 12,
        write_dir=str(tmp_path),
    )
    out = _cli(str(tmp_path / "rec.hea"))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    for key in ("heart_rate_bpm", "rr_ms", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "qrs_axis_deg"):
        assert key in d["global"]
    assert abs(d["global"]["heart_rate_bpm"] - 75) <= 2
    assert d["leads"]["II"]["quality"] == "ok" and d["leads"]["II"]["beats"]
    assert isinstance(d["premature_beats"], list)


def test_cli_bad_input_exits_2_with_error(tmp_path):
    out = _cli(str(tmp_path / "missing.hea"))
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and len(out.stderr.splitlines()) == 1
    junk = tmp_path / "junk.csv"
    junk.write_text("not,an,ecg\n")
    out = _cli(str(junk))
    assert out.returncode == 2 and out.stderr.startswith("error:")


@pytest.mark.parametrize("args", [(), ("a.hea", "--bogus")])
def test_cli_bad_arguments_exit_2_with_one_error_line(args):
    out = _cli(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: ") and len(out.stderr.splitlines()) == 1
