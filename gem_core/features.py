"""Beat-level measurements: the evidence GEM's interpretations are grounded on.

``measure(ecg)`` turns a 12-lead ``ECG`` into ``Measurements``: shared R peaks, per-lead and per-beat
fiducial points (ms from the record start) and the 14 per-beat features of GEM's grounding data, plus
global values (rate, rhythm, intervals, axes, ST deviation, voltage criteria, premature beats) and a
quality verdict per lead that every global value respects.

How it works (neurokit2 + scipy, vectorised over beats where it matters):

1. Every lead is cleaned as ``nk.ecg_clean`` cleans it (0.5 Hz high-pass, then a 20 ms moving average),
   but with the high-pass run on a mirrored extension of the record (``_high_pass``); a lead whose
   amplitude range is tiny is ``flat``. QRS/R/S amplitudes are measured on the lead high-passed only (the
   moving average flattens QRS peaks), so voltage criteria see the peak amplitudes.
2. R peaks are found ONCE per record: ``nk.ecg_peaks`` runs on each non-flat lead and only QRS
   complexes that enough leads agree on are kept (a noisy lead's false peaks and a flat lead's missing
   ones are out-voted; a long gap is searched again for a beat fewer leads saw). The same R peaks are
   shared by every lead.
3. Each lead gets a verdict (``ok`` / ``noisy`` / ``flat``) from its high-frequency noise and from how
   well its beats match its own median beat; global values use only ``ok`` leads.
4. Shared fiducials per beat: QRS onset/offset of the dominant beats (those shaped like the record's
   median QRS) from the representative (median) beat of each ok lead, high-passed only, as the programs
   on cardiologists' carts do (``_qrs_bounds``); other beats (premature, aberrant) keep their
   own bounds from the spatial velocity of the ok leads. Beats inside a bad time window of a lead
   (artifact burst, saturation, flat line, baseline jump) are left out of that lead. T onset/
   peak/offset from their spatial T magnitude, P waves from neurokit's dwt delineator on up to three
   representative ok leads (one limb, one right and one left precordial lead; per-beat median).
   neurokit's own QRS and T bounds were measured and found 40-90 ms off on the shared records.
5. A P wave is kept only where the pre-QRS segment matches the record's median one and the PR
   interval is plausible; in atrial fibrillation the P fields are ``None``, never a guess.
6. Every lead is then measured around the shared fiducials (its own P/T peak, amplitudes, ST level,
   areas for the axes) with array operations, so 12 leads cost little more than one.

Per-lead beats carry global onsets/offsets (so durations and intervals are the same in every lead of a
beat) and lead-specific peak times and amplitudes. Amplitudes are against the PR baseline of the beat.

>>> from gem_core.samples import synthetic_ecg
>>> m = measure(synthetic_ecg(heart_rate=60))
>>> round(m.global_values["heart_rate_bpm"])
60
>>> m.leads["II"].quality, sorted(m.to_dict())[:3]
('ok', ['duration_ms', 'enough_beats', 'fs'])
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import pickle
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter1d
from scipy.signal import butter, filtfilt, find_peaks, iirnotch, sosfiltfilt

from gem_core.criteria import (
    AF_MAX_P_WAVE_FRACTION,
    AF_MIN_NORMALISED_RMSSD,
    COMPLETE_BBB_QRS_MS,
    FIRST_DEGREE_AVB_PR_MS,
    ST_FAST_BPM,
    ST_POINT_FAST_MS,
    ST_POINT_MS,
    ST_UPSLOPE_MV_PER_S,
    T_UPRIGHT_LEADS,
    premature_is_ventricular,
    st_depression_form,
    ste_limit,
)
from gem_core.ecg import ECG, LEADS
from gem_core.ecg_spec import limb_electrode_leads
from gem_core.errors import GemError

# The 14 per-lead, per-beat features of GEM's grounding data, with their units (None: categorical).
BEAT_FEATURES: dict[str, str | None] = {
    "heart_rate": "bpm",
    "rr_interval_1": "ms",  # to the previous beat
    "rr_interval_2": "ms",  # to the next beat
    "p_amplitude": "mV",
    "p_duration": "ms",
    "pr_interval": "ms",
    "qrs_amplitude": "mV",  # peak-to-peak (highest minus lowest point) between QRS onset and offset
    "qrs_duration": "ms",
    "t_amplitude": "mV",
    "t_duration": "ms",
    "st_duration": "ms",
    "st_form": None,  # one of ST_FORMS
    "qt_interval": "ms",
    "qtc_interval": "ms",  # Bazett
}
# Extra per-beat values beyond the 14 (used by the interpreter for morphology).
EXTRA_BEAT_VALUES: dict[str, str] = {
    "qtc_fridericia": "ms",
    "r_amplitude": "mV",  # height of the largest positive QRS deflection above the PR baseline
    "s_amplitude": "mV",  # depth of the largest negative deflection after R (positive number)
    "st_deviation": "mV",  # at J+60 ms (J+40 ms above 100 bpm: global st_point_ms) against the PR baseline
    "st_j": "mV",  # (added) level at the J point (first 10 ms after the QRS offset) against the PR baseline
    "r_prime_amplitude": "mV",  # (added) terminal R' after the S nadir above the baseline (0 if none)
    "s_duration": "ms",  # (added) time the QRS spends below the baseline after R (terminal S width)
    "st_slope": "mV/s",  # (added) slope of the ST segment between J+20 and J+80 ms
    "q_amplitude": "mV",  # (added) depth of the initial Q wave under the baseline (0 if none; QS: the QRS)
    "q_duration": "ms",  # (added) QRS onset to the Q wave's return to the baseline (0 if none)
}
# Fiducial points per beat, ms from the record start; None where absent (e.g. no P wave in AF).
FIDUCIALS = (
    "p_onset_ms",
    "p_peak_ms",
    "p_offset_ms",
    "qrs_onset_ms",
    "r_peak_ms",
    "qrs_offset_ms",
    "t_onset_ms",
    "t_peak_ms",
    "t_offset_ms",
)
# ST form of a beat in a lead: level first (elevated by the UDMI limits of gem_core.criteria, 0.2 mV in
# V2-V3 where a normal ST sits higher; depressed by criteria.st_depression_form), else the slope between
# J+20 and J+80 ms against criteria.ST_UPSLOPE_MV_PER_S.
ST_FORMS = ("upsloping", "horizontal", "downsloping", "elevated", "depressed")
QUALITY = ("ok", "noisy", "flat")

# P waves count only where the pre-QRS segment correlates with the median one at least this much (per
# beat) and the median beat-to-template correlation of the record reaches P_LOCK_RECORD (sinus rhythm
# on the CPSC records: >= 0.90; atrial fibrillation: mostly 0.55-0.84).
P_LOCK_BEAT = 0.75
P_LOCK_RECORD = 0.85
# The pre-QRS segment compared: from P_LOCK_WINDOW_MS before R to 60 ms before R; from the previous T
# wave's end on the shorter cycles (10th percentile) where that is later but still P_LOCK_MIN_WINDOW_MS
# before R (room for a P wave at a PR interval of 160 ms). With 220 ms, sinus tachycardia of 117 bpm with a
# 10% sinus arrhythmia lost its P waves; 72 synthetic AF records at 90-150 bpm stay AF down to 180 ms.
P_LOCK_WINDOW_MS = 320.0
P_LOCK_MIN_WINDOW_MS = 200.0
# P onset and offset on the representative beats (``_template_p_wave``): the wave-boundary rule of
# Martinez et al. 2004 (IEEE TBME 51:570, the wavelet delineator that neurokit's dwt implements): from
# the steepest P slope, outward to where the slope falls under this share of it (their xi_Pon 0.5 and
# xi_Pend 0.9).
P_ONSET_SLOPE = 0.5
P_OFFSET_SLOPE = 0.9
P_SLOPE_SCALE_MS = 8.0  # Gaussian-derivative scale, about the dwt scale neurokit reads P bounds at
P_MIN_SNR = 3.0  # a P wave must stand this many times above the representative beat's noise
P_LEAD_SHARE = 0.5  # leads whose P is at least this share of the largest lead's P give an onset
P_LEAD_AGREE_MS = 20.0  # those onsets must lie within this of their median (outlier leads dropped)
P_VISIBLE_MV = 0.03  # the atrial wave under which _p_consistency counts a lead as having none
# The T peak of the representative beats is sought within 80 ms of the single beats' median T peak, unless
# their middle half spreads over more than T_PEAK_SPREAD_MS (a flat T wave in noise, where each beat's
# highest point is noise): the median beat is then searched whole.
T_PEAK_SPREAD_MS = 40.0
# Muscle noise on the representative beat: where the velocity of noise alone (``_qrs_velocity``) is over
# NOISY_QRS_NOISE of the QRS's peak velocity, no 20 ms after the QRS is quiet and its end ran on into the
# ST-T (a normal QRS of 90 ms read 150-200 ms, "bundle branch block", under 0.08-0.1 mV of noise above
# 20 Hz). There the median beats are smoothed (Gaussian, sigma NOISY_QRS_SMOOTH_MS: -3 dB at about 47
# Hz, near the 40 Hz of the low-pass differentiators delineators read QRS bounds on, e.g. Laguna et al.
# 1994) before their velocity is taken. Not on clean records: smoothing narrows a short PR segment and
# blurs a sharp QRS end. Clean synthetic records sit at 0.014-0.077 (the slow, wide ones highest), the
# 104 shared records at 0.002-0.059 (median 0.011); 0.05 mV of muscle noise at 0.10-0.25.
NOISY_QRS_NOISE = 0.1
NOISY_QRS_SMOOTH_MS = 4.0
BLOCKED_P_MIN_CORR = 0.85  # a second P wave half an RR before the conducted one (_blocked_p_wave)
BLOCKED_P_IN_T_MIN_CORR = 0.93  # the same inside the previous T wave, its cubic taken out (_blocked_p_wave)
# Atrial flutter with fixed conduction (_flutter_conduction): flutter waves at 240-350/min (a cycle of
# 170-250 ms; ESC 2019 SVT guideline: typical flutter about 300/min), with no baseline between them. What
# does not repeat one cycle earlier must keep under FLUTTER_RESIDUE of the T-Q window's energy, over at
# least FLUTTER_WINDOW_MS.
FLUTTER_CYCLE_MS = (170.0, 250.0)
FLUTTER_RESIDUE = 0.25
FLUTTER_WINDOW_MS = 80.0
BLOCKED_P_MARGIN_MS = 40.0  # of baseline either side of the P wave, matched with it
# Atrial waves on their own (_dissociated_atrial_rate): a P-wave-sized lobe, how far a wave must stand out
# (P_VISIBLE_MV, the size under which no P wave is counted), how many in a regular row.
ATRIAL_LOBE_MS = 100.0
ATRIAL_MIN_PROMINENCE_MV = 0.03
ATRIAL_MIN_WAVES = 4
ATRIAL_MIN_RATIO = 1.2  # atria at least this much faster than the ventricles (complete AV block)
# Baseline filter: neurokit's ecg_clean high-pass (0.5 Hz; zero-phase, as AHA 2007 allows up to 0.67 Hz
# for filters without phase distortion), run on a mirrored extension of the record (``_high_pass``).
HIGH_PASS_HZ = 0.5
EDGE_PAD_S = 2.0
# The PR-segment baseline every level is read against: the mean from 22 to 6 ms before the QRS onset.
PR_BASELINE_MS = (22.0, 6.0)
# Beat alignment (``_align_beats``): shifts up to this, kept where the QRS then matches the median one
ALIGN_MAX_MS = 40.0
ALIGN_MIN_CORR = 0.9
# A second QRS morphology this share of the beats or more (ventricular bigeminy, trigeminy) may be the
# dominant one (``_qrs_morphology_corr``).
TWO_CLASS_SHARE = 1.0 / 3.0
# A Q wave is counted from this depth under the PR baseline (half a small square at standard gain).
Q_MIN_MV = 0.05
Q_SMOOTH_MS = 8.0
PREMATURE_RATIO = 0.88  # coupling interval below this share of the local median RR is premature
# Tremor on one limb electrode (``_electrode_tremor``): what the beats do not repeat, in the band of the
# tremors that reach an ECG (TREMOR_BAND_HZ: parkinsonian 4-6 Hz, essential 4-12 Hz, physiological 8-12
# Hz), where it follows the wiring of one electrode: the limb lead without that electrode is spared
# (under TREMOR_SPARED of the two with it), the two with it carry one wave (TREMOR_MATCH_CORR, with the
# sign their wiring gives), and the chest leads' mean carries a third of it, inverted (the central
# terminal; TREMOR_CHEST_CORR, a share within TREMOR_CHEST_SHARE, the same in all six: TREMOR_CHEST_SAME),
# of TREMOR_MIN_MV RMS or more.
TREMOR_BAND_HZ = (3.0, 12.0)
TREMOR_WINDOW_S = 30.0  # judged on the record's first 30 s
# A lead whose median beat keeps more than this of the tremor (RMS) is read as noisy: the ST level is
# wanted within 0.03 mV.
TREMOR_TEMPLATE_MV = 0.02
# P waves are read only on leads keeping under half that: a P wave is 0.05-0.2 mV.
TREMOR_P_TEMPLATE_MV = 0.01
TREMOR_SPARED = 0.25
TREMOR_MATCH_CORR = 0.9
TREMOR_CHEST_CORR = 0.8
TREMOR_CHEST_SHARE = (0.2, 0.5)
TREMOR_CHEST_SAME = 0.5  # each chest lead's departure from their mean, at most this share of the mean
TREMOR_MIN_MV = 0.015
# A limb-electrode artifact reaches the six chest leads as one wave (``_drop_common_mode_artifacts``): a
# detected peak whose chest-lead differences move under this share of the beats' median is none. The
# 104 shared records' beats all stand at 0.34 or more (a wide beat in atrial fibrillation the lowest),
# spikes, taps and pops of 0.5-2 mV on one limb electrode of synthetic records at 0.02-0.12.
COMMON_MODE_RATIO = 0.2
LIMB_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF")
PRECORDIAL_LEADS = ("V1", "V2", "V3", "V4", "V5", "V6")
# Frontal-plane direction (degrees) and gain of each limb lead's projection (augmented leads: sqrt(3)/2).
_LIMB_ANGLE = {"I": 0.0, "II": 60.0, "III": 120.0, "aVR": -150.0, "aVL": -30.0, "aVF": 90.0}
_LIMB_GAIN = {"I": 1.0, "II": 1.0, "III": 1.0, "aVR": 0.866, "aVL": 0.866, "aVF": 0.866}
# Delineation runs on the first ok lead of each group (limb, right precordial, left precordial).
_REPRESENTATIVE_GROUPS = (("II", "I", "aVF", "III", "aVL"), ("V1", "V2", "V3"), ("V5", "V6", "V4"))
_NK_KEYS = {
    "p_on": "ECG_P_Onsets",
    "p_peak": "ECG_P_Peaks",
    "p_off": "ECG_P_Offsets",
    "qrs_on": "ECG_R_Onsets",
    "qrs_off": "ECG_R_Offsets",
    "t_on": "ECG_T_Onsets",
    "t_peak": "ECG_T_Peaks",
    "t_off": "ECG_T_Offsets",
}
_CACHE_MAX_BEATS = 200_000  # total beats kept in the measurement cache (about 100 long records)


def _clean(value):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class LeadMeasurements:
    lead: str
    quality: str  # one of QUALITY
    beats: list[dict] = field(
        default_factory=list
    )  # one dict per shared R peak: "index", FIDUCIALS, features
    st_deviation_mv: float | None = None  # median over beats at J+60 ms


@dataclass
class Measurements:
    """Everything measured on one ECG. Times in ms from the record start; amplitudes in mV.

    ``global_values`` keys: heart_rate_bpm, rr_ms (mean), rr_sd_ms, rr_irregularity, n_beats,
    pr_ms, qrs_ms, qt_ms, qtc_ms (Bazett), qtc_fridericia_ms, qrs_axis_deg, p_axis_deg, t_axis_deg,
    p_wave_fraction (share of beats with a P wave), st_deviation_mv ({lead: mV}), voltage
    (limb_max_qrs_mv, precordial_max_qrs_mv, low_voltage_limb, low_voltage_precordial, sokolow_lyon_mv,
    cornell_mv), quality ({lead: verdict}). Values are None where they cannot be measured.
    RR values leave out gaps over 2.5 s and 3 median RRs (signal dropouts).
    Added keys: rr_irregularity is RMSSD / mean RR (sinus rhythm < 0.05, AF usually > 0.1);
    delineation_leads (the leads the fiducials came from); ok_leads (leads used by global medians).

    ``premature_beats`` items: beat_index, time_ms, kind ("PAC" | "PVC"), qrs ("narrow" | "wide"),
    qrs_duration_ms, coupling_ms (RR before), pause_ms (RR after), compensatory (bool).
    Added item keys: morphology_corr (QRS similarity to the dominant beat, -1..1) and interpolated
    (a PVC between two sinus beats with no pause).

    Each beat dict has "index" (0-based beat number), the FIDUCIALS, the BEAT_FEATURES and the
    EXTRA_BEAT_VALUES; None where not measurable.
    """

    record_id: str
    fs: float
    duration_ms: float
    r_peaks_ms: list[float]
    global_values: dict
    leads: dict[str, LeadMeasurements]
    premature_beats: list[dict] = field(default_factory=list)
    enough_beats: bool = True
    message: str = ""  # e.g. "not enough beats: found 1 R peak in 10.0 s"
    content_hash: str = ""

    def to_dict(self) -> dict:
        return _clean(
            {
                "record_id": self.record_id,
                "fs": self.fs,
                "duration_ms": self.duration_ms,
                "enough_beats": self.enough_beats,
                "message": self.message,
                "r_peaks_ms": self.r_peaks_ms,
                "global": self.global_values,
                "leads": {
                    name: {"quality": lm.quality, "st_deviation_mv": lm.st_deviation_mv, "beats": lm.beats}
                    for name, lm in self.leads.items()
                },
                "premature_beats": self.premature_beats,
            }
        )


# ----------------------------------------------------------------------------------------------------
# Cache
# ----------------------------------------------------------------------------------------------------


class _MeasurementCache:
    """LRU of Measurements keyed by ECG content hash, bounded by the total number of beats held.

    Shared by the app's worker threads: every access holds a lock, and entries are kept pickled
    (immutable bytes), so each caller gets its own copy and no caller's change reaches another.
    """

    def __init__(self, max_beats: int = _CACHE_MAX_BEATS, max_items: int = 256):
        self.max_beats, self.max_items = max_beats, max_items
        self._items: OrderedDict[str, tuple[bytes, int]] = OrderedDict()  # key -> (pickle, beats)
        self._lock = threading.Lock()

    def get(self, key: str) -> Measurements | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            self._items.move_to_end(key)
        return pickle.loads(entry[0])

    def put(self, key: str, m: Measurements) -> None:
        entry = (pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL), len(m.r_peaks_ms))
        with self._lock:
            self._items[key] = entry
            self._items.move_to_end(key)
            while len(self._items) > 1 and (
                len(self._items) > self.max_items or sum(b for _, b in self._items.values()) > self.max_beats
            ):
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_CACHE = _MeasurementCache()


def measure(ecg: ECG) -> Measurements:
    """Measure an ECG (cached by ``ecg.content_hash``; each call returns its own copy).

    Raises ``GemError`` when ``ecg`` is not an ``ECG``. A record with fewer than 2 beats (or only
    flat leads) gives ``enough_beats=False`` and a message, not an exception.
    """
    if not isinstance(ecg, ECG):
        raise GemError(f"measure() needs a gem_core.ecg.ECG, got {type(ecg).__name__}; load it with load_ecg")
    key = ecg.content_hash
    m = _CACHE.get(key)
    if m is None:
        m = _measure_uncached(ecg)
        _CACHE.put(key, m)
    if m.record_id != ecg.record_id:
        m = dataclasses.replace(m, record_id=ecg.record_id)
    return m


def clear_cache() -> None:
    """Forget cached measurements (tests and benchmarks use this to time a fresh run)."""
    _CACHE.clear()


# ----------------------------------------------------------------------------------------------------
# Signal preparation, R peaks, quality
# ----------------------------------------------------------------------------------------------------


def _high_pass(raw: np.ndarray, fs: float) -> np.ndarray:
    """``ecg_clean``'s baseline filter (HIGH_PASS_HZ, 5th-order Butterworth, forward and backward) on
    a mirrored extension of EDGE_PAD_S at each end of the record.

    scipy's default extension is odd (point-reflected about the first and last sample): it turns the edge
    beats upside down, so a lead whose mean is not zero (most leads: R and T areas) steps at each end, and
    the filter rings for about 2 s. On synthetic records with a flat baseline that moved single beats' ST
    level (J+60 ms against the PR baseline) by up to 0.43 mV (mean 0.009, p95 0.043 mV over 36 records x
    12 leads) and spread the beats' pre-QRS segments about their median so far that a P wave could not
    be judged absent. The mirror keeps the edge beats upright: ST error up to 0.048 mV (mean 0.0015, p95
    0.007 mV).
    """
    sos = butter(5, HIGH_PASS_HZ, btype="highpass", output="sos", fs=fs)
    return sosfiltfilt(sos, raw, padtype="even", padlen=min(len(raw) - 1, int(EDGE_PAD_S * fs)))


def _finite_lead(raw: np.ndarray) -> np.ndarray:
    return np.nan_to_num(raw.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def _clean_leads(signal: np.ndarray, fs: float) -> np.ndarray:
    """Every lead cleaned as ``nk.ecg_clean`` does (``_high_pass``, then neurokit's powerline moving
    average), NaN/inf set to 0 first; float32 (12, N)."""
    from neurokit2 import signal_filter

    out = np.empty(signal.shape, dtype=np.float32)
    for i in range(signal.shape[0]):  # lead by lead: one float64 lead at a time on long records
        raw = _finite_lead(signal[i])
        if len(raw) < 3 * fs or np.ptp(raw) == 0:
            out[i] = raw - np.median(raw)  # too short to filter, or constant: nothing to clean
        else:
            out[i] = signal_filter(_high_pass(raw, fs), sampling_rate=int(round(fs)), method="powerline")
    return out


def _amplitude_lead(raw: np.ndarray, fs: float) -> np.ndarray:
    """One lead for QRS amplitudes, the J point, Q waves and the QRS bounds: the 0.5 Hz high-pass
    (``_high_pass``) and notches at 50 and 60 Hz (Q 30, forward and backward), float64.

    ``ecg_clean`` also applies neurokit's powerline filter, a 20 ms moving average that takes about a
    quarter off the QRS peaks (median measured/raw peak-to-peak 0.75 on CPSC records); voltage criteria
    (low voltage, Sokolow-Lyon, Cornell) are defined on the full peak amplitudes. The notches take the
    mains hum out without that loss. Without them the hum stays in the levels read here: the J point is
    a 10 ms mean, half a 50 Hz period, and where the hum is locked to the beats (60 bpm is 50 periods)
    the median beat keeps it whole. A normal synthetic heart with 0.3 mV of 50 Hz read J points of
    +0.07 to +0.14 mV in every lead, aVR included, and was called ST elevation on 6 of 18 records; 4 of
    the 51 shared CinC 2021 records carry 0.04 to 1.5 mV of 50 Hz in a lead.
    """
    raw = _finite_lead(raw)
    if len(raw) < 3 * fs or np.ptp(raw) == 0:
        return raw - np.median(raw)
    out = _high_pass(raw, fs)
    for f in (50.0, 60.0):
        if f < 0.45 * fs:
            b, a = iirnotch(f, 30.0, fs)
            out = filtfilt(b, a, out)
    return out


def _flat_leads(clean: np.ndarray) -> np.ndarray:
    """True for leads whose 1st-99th percentile range is under 0.04 mV (disconnected or flat)."""
    ranges = [np.subtract(*np.percentile(lead, [99, 1])) for lead in clean]
    return np.asarray(ranges) < 0.04


def _lead_peaks(sig: np.ndarray, fs: float) -> np.ndarray:
    """``nk.ecg_peaks`` on one lead, mirrored by 1 s at both ends (it misses beats at the very edges)."""
    import neurokit2 as nk

    pad = min(int(fs), len(sig) - 1)
    padded = np.concatenate([sig[pad:0:-1], sig, sig[-2 : -pad - 2 : -1]])
    try:
        _, info = nk.ecg_peaks(padded, sampling_rate=int(round(fs)))
    except Exception:  # neurokit raises on signals it cannot segment; such a lead just gets no vote
        return np.zeros(0, dtype=np.int64)
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64) - pad
    edge = int(0.04 * fs)  # a peak on the very first/last samples is the mirror's, not a beat
    return peaks[(peaks >= edge) & (peaks < len(sig) - edge)]


def _consensus_r_peaks(clean: np.ndarray, fs: float, usable: np.ndarray) -> tuple[np.ndarray, dict]:
    """R peaks that enough usable leads agree on, plus each lead's own peak per kept beat.

    Peaks of all leads within 100 ms form a candidate QRS; it is kept when at least 40% of the usable
    leads saw it, or, in a gap longer than 1.6 median RR (a missed beat), when at least 2 leads did.
    Returns (shared R peak samples, {lead index: per-beat own peak sample or -1}).
    """
    leads = np.flatnonzero(usable)
    per_lead = {int(i): _lead_peaks(clean[i], fs) for i in leads}
    times = np.concatenate([p for p in per_lead.values()] + [np.zeros(0, np.int64)])
    owner = np.concatenate([np.full(len(p), i) for i, p in per_lead.items()] + [np.zeros(0, np.int64)])
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64), {}
    order = np.argsort(times, kind="stable")
    times, owner = times[order], owner[order]
    cluster = np.concatenate([[0], np.cumsum(np.diff(times) > int(0.1 * fs))])
    n_clusters = int(cluster[-1]) + 1
    bounds = np.searchsorted(cluster, np.arange(n_clusters + 1))
    support = np.bincount(np.unique(cluster * 16 + owner) // 16, minlength=n_clusters)
    need = 1 if len(leads) < 3 else max(2, math.ceil(0.4 * len(leads)))
    kept = support >= need
    # the shared R peak: the median of the leads' peak times (one lead's detector may sit on a Q or S)
    centre = np.array([int(np.median(times[bounds[c] : bounds[c + 1]])) for c in range(n_clusters)])
    # a QRS has steep slopes in many leads: drop candidates whose spatial velocity is under 30% of the
    # typical beat's (P or T waves several leads' detectors picked up during a long pause). The typical
    # beat is the 90th percentile, not the median: in complete AV block at 30 bpm the P waves the
    # detectors took for beats outnumbered the QRS complexes (8 to 5 at atria of 75/min)
    sv = _spatial_velocity(clean, leads)
    half = int(0.1 * fs)
    strength = np.array([sv[max(0, t - half) : t + half + 1].max() for t in centre])
    typical = float(np.percentile(strength[kept], 90)) if kept.any() else 0.0
    strong = strength >= 0.3 * typical if kept.any() else np.ones(n_clusters, bool)
    kept &= strong
    _search_back(kept, centre, np.where(strong, support, 0), fs, min_support=min(need, 2))
    shared: list[int] = []
    chosen: list[int] = []
    for c in np.flatnonzero(kept):
        if shared and centre[c] - shared[-1] < 0.25 * fs:  # one wide QRS split in two: keep the stronger
            if support[c] <= support[chosen[-1]]:
                continue
            shared.pop(), chosen.pop()
        shared.append(int(centre[c]))
        chosen.append(int(c))
    own = {i: np.full(len(chosen), -1, dtype=np.int64) for i in per_lead}
    for k, c in enumerate(chosen):
        for t, o in zip(times[bounds[c] : bounds[c + 1]], owner[bounds[c] : bounds[c + 1]], strict=True):
            if own[int(o)][k] < 0:
                own[int(o)][k] = t
    return np.asarray(shared, dtype=np.int64), own


def _dropout_mask(signal: np.ndarray, fs: float) -> np.ndarray:
    """True where every lead holds a constant value (zero padding, leads off) for at least 0.5 s."""
    still = np.ones(max(signal.shape[1] - 1, 0), dtype=bool)
    for lead in signal:
        still &= np.diff(lead) == 0
    still = np.concatenate([still, [still[-1]]]) if len(still) else np.zeros(signal.shape[1], bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], still.astype(np.int8), [0]])))
    mask = np.zeros(signal.shape[1], dtype=bool)
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a >= 0.5 * fs:
            mask[a:b] = True
    return mask


def _drop_dropout_edges(signal: np.ndarray, r: np.ndarray, own: dict, fs: float):
    """Drop R peaks in or within 150 ms of a dropout: the step there is not a heartbeat."""
    mask = _dropout_mask(signal, fs)
    if not mask.any() or len(r) == 0:
        return r, own
    near = uniform_filter1d(mask.astype(np.float64), int(0.3 * fs) + 1) > 0
    keep = ~near[r]
    return r[keep], {i: v[keep] for i, v in own.items()}


def _drop_common_mode_artifacts(clean: np.ndarray, r: np.ndarray, own: dict, fs: float, usable: np.ndarray):
    """Drop R peaks that the chest leads, read against each other, do not show.

    Every chest lead is its electrode against the central terminal, the mean of the three limb
    electrodes: a pop or tap on one limb electrode reaches all six chest leads as the same wave, besides
    the limb leads that use that electrode, and the detectors took it for a beat (a "PAC" in a normal
    record). The differences between neighbouring chest leads (V2 - V1, ..., V6 - V5) hold no central
    terminal, so such a wave cancels there, while a heartbeat's QRS differs from V1 to V6 (an rS in V1, a
    qR in V6). A peak is dropped where the steepest slope of those differences within 40 ms of it is
    under COMMON_MODE_RATIO of the detected beats' median, for fewer than half the beats, with four or
    more usable chest leads (chest leads left floating show nearly nothing against each other on every
    beat: nothing is dropped then). A beat the detectors passed over beside the artifact (within their
    refractory time) is looked for again (``_hidden_beat``)."""
    chest = [i for i in range(6, 12) if usable[i]]
    if len(chest) < 4 or len(r) < 3:
        return r, own
    half = int(round(0.04 * fs))
    idx = np.clip(r[:, None] + np.arange(-half, half + 1)[None, :], 0, clean.shape[1] - 1)
    bipolar = np.diff(clean[chest][:, idx].astype(np.float64), axis=0)  # (5, beats, window): near each peak
    peak = np.sqrt((np.gradient(bipolar, axis=2) ** 2).sum(axis=0)).max(axis=1)
    common = peak < COMMON_MODE_RATIO * np.median(peak)
    if not common.any() or common.mean() >= 0.5:
        return r, own
    kept = r[~common]
    found = [
        at for k in np.flatnonzero(common) if (at := _hidden_beat(clean, kept, r[k], fs, usable)) is not None
    ]
    out = np.unique(np.concatenate([kept, np.asarray(found, dtype=kept.dtype)]))
    at_kept = np.searchsorted(out, kept)  # a beat found again has no lead's own peak (-1)
    own_out = {i: np.full(len(out), -1, dtype=np.asarray(v).dtype) for i, v in own.items()}
    for i, v in own.items():
        own_out[i][at_kept] = v[~common]
    return out, own_out


def _electrode_tremor(clean: np.ndarray, r: np.ndarray, fs: float, dominant: np.ndarray, flat: np.ndarray):
    """A tremor on one limb electrode, as {"electrode", "hz", "mv", "leads", "p_leads"}, or None.

    A trembling limb (parkinsonian or essential tremor, shivering) moves its electrode's potential by
    a few hundred microvolts at 4-12 Hz. It is not locked to the beats, yet a median of ten beats keeps
    about 0.4 of it (and what it keeps is locked to the beat, so no template can take it out again):
    0.1 mV on an arm read as ST elevation or depression, 0.2 mV as a bundle branch block, a long PR or
    an ectopic P wave (tremor is also the classic mimic of atrial flutter or fibrillation). What the beats
    do not repeat is each lead less its median beat laid on every dominant beat (band-passed to
    TREMOR_BAND_HZ; the QRS +-60 ms and the other beats left out); it is one electrode's where its wiring
    shows (constants above). ``leads``: those whose median beat keeps more than TREMOR_TEMPLATE_MV of it
    by their share of the electrode (1 for the two limb leads with it and the augmented lead at it, 1/2
    for the other augmented leads, 1/3 for the chest leads), read as noisy; ``p_leads``: those keeping
    more than TREMOR_P_TEMPLATE_MV, where no P wave is read. Atrial fibrillatory waves
    spare no limb lead in that way nor reach V1-V6 alike; two trembling electrodes spare none either
    and are left to the other quality checks."""
    from scipy.signal import butter, sosfiltfilt

    # judged on the first TREMOR_WINDOW_S (a tremor runs through the record; a long one held whole in
    # float64 four times over would take gigabytes)
    span = min(clean.shape[1], int(TREMOR_WINDOW_S * fs))
    inside = r < span
    if inside.sum() < 4 or flat[:3].any() or flat[6:].sum() > 2 or span < 3 * fs:
        return None
    resid, judged = _unrepeated(clean[:, :span].astype(np.float64), r[inside], dominant[inside], fs)
    if judged.sum() < 2 * fs:
        return None
    band = butter(2, TREMOR_BAND_HZ, "bandpass", fs=fs, output="sos")
    u = sosfiltfilt(band, resid, axis=1)
    chest_leads = u[6:][~flat[6:]]
    chest = chest_leads.mean(axis=0)

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(x[judged] ** 2)))

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a[judged], b[judged]
        denom = float(np.linalg.norm(a) * np.linalg.norm(b))
        return float(a @ b) / denom if denom > 0 else 0.0

    # electrode: (the lead without it, the two with it, the sign between them, its wave from leads I-III)
    wiring = {
        "RA": (2, 0, 1, 1.0, lambda x: -(x[0] + x[1]) / 2.0),
        "LA": (1, 0, 2, -1.0, lambda x: (x[0] - x[2]) / 2.0),
        "LL": (0, 1, 2, 1.0, lambda x: (x[1] + x[2]) / 2.0),
    }
    for electrode, (spared, a, b, sign, wave_of) in wiring.items():
        wave = wave_of(u)
        size = rms(wave)
        if not (
            size >= TREMOR_MIN_MV
            and rms(u[spared]) <= TREMOR_SPARED * min(rms(u[a]), rms(u[b]))
            and corr(u[a], sign * u[b]) >= TREMOR_MATCH_CORR
            and corr(chest, -wave) >= TREMOR_CHEST_CORR
            and TREMOR_CHEST_SHARE[0] <= rms(chest) / size <= TREMOR_CHEST_SHARE[1]
            and max(rms(lead - chest) for lead in chest_leads) <= TREMOR_CHEST_SAME * rms(chest)
        ):
            continue
        spectrum = np.abs(np.fft.rfft(wave[judged]))
        hz = float(np.fft.rfftfreq(int(judged.sum()), 1.0 / fs)[int(np.argmax(spectrum))])
        # what the median beat of each lead keeps of it: the lead's share of the electrode's wave (1, 1/2
        # or 1/3 by the wiring) over the dominant beats' median (sqrt(pi / 2n) of it)
        share = np.abs(np.array(limb_electrode_leads(electrode, 1.0)))
        kept = share * size * math.sqrt(math.pi / (2.0 * max(1, int(dominant.sum()))))
        return {
            "electrode": electrode,
            "hz": round(hz, 1),
            "mv": round(size * math.sqrt(2.0), 3),  # as a sine's amplitude
            "leads": [LEADS[i] for i in np.flatnonzero(kept > TREMOR_TEMPLATE_MV)],
            "p_leads": [LEADS[i] for i in np.flatnonzero(kept > TREMOR_P_TEMPLATE_MV)],
        }
    return None


def _unrepeated(x: np.ndarray, r: np.ndarray, dominant: np.ndarray, fs: float):
    """(residual, judged): each lead less its median dominant beat laid on every dominant beat (from 0.4
    RR before its R to 0.6 RR after; beats of another shape are left as they are); ``judged`` the
    dominant beats' samples outside their QRS (+-60 ms)."""
    n, qrs = x.shape[1], int(0.06 * fs)
    rr = np.diff(r).astype(np.float64)
    before, after = int(0.4 * np.median(rr)), int(0.6 * np.median(rr))
    idx = np.clip(r[dominant][:, None] + np.arange(-before, after)[None, :], 0, n - 1)
    templates = np.median(x[:, idx], axis=1)  # (12, before + after)
    tiled = np.zeros(x.shape)
    judged = np.zeros(n, dtype=bool)
    for k, at in enumerate(r):
        if not dominant[k]:
            continue
        lo = at - int(min(before, 0.4 * rr[k - 1])) if k else at - before
        hi = at + int(min(after, 0.6 * rr[k])) if k < len(rr) else at + after
        lo, hi = max(0, lo), min(n, hi)
        tiled[:, lo:hi] = templates[:, lo - at + before : hi - at + before]
        judged[lo:hi] = True
        judged[max(0, at - qrs) : at + qrs] = False
    return x - tiled, judged


def _hidden_beat(clean: np.ndarray, kept: np.ndarray, artifact: int, fs: float, usable: np.ndarray):
    """The beat a detector passed over beside an artifact it took for one (its refractory time after
    the artifact): the best match of the kept beats' median QRS (all usable leads, +-60 ms) between the
    kept beats around the artifact, half a median RR from each, where it correlates at ALIGN_MIN_CORR or
    more and lies 60 ms or more from the artifact; None where there is none (the gap is one RR)."""
    if len(kept) < 3:
        return None
    rr = float(np.median(np.diff(kept)))
    before, after = kept[kept < artifact], kept[kept > artifact]
    lo = (before[-1] if len(before) else artifact - rr) + 0.5 * rr
    hi = (after[0] if len(after) else artifact + rr) - 0.5 * rr
    half = int(round(0.06 * fs))
    leads = np.flatnonzero(usable)
    lo, hi = max(int(lo), half), min(int(hi), clean.shape[1] - half - 1)
    if hi <= lo or not len(leads):
        return None
    offs = np.arange(-half, half + 1)
    # the leads read only around the beats and the candidates (a long record is large)
    rows = leads[:, None, None]
    whole = kept[(kept >= half) & (kept < clean.shape[1] - half)]
    template = np.median(clean[rows, (whole[:, None] + offs)[None]].astype(np.float64), axis=1)
    candidates = np.arange(lo, hi + 1)
    candidates = candidates[np.abs(candidates - artifact) >= half]
    if not len(candidates):
        return None
    windows = clean[rows, (candidates[:, None] + offs)[None]].astype(np.float64)
    windows = windows.transpose(1, 0, 2).reshape(len(candidates), -1)
    corr = _row_corr(windows, template.ravel())
    best = int(np.argmax(corr))
    return int(candidates[best]) if corr[best] >= ALIGN_MIN_CORR else None


def _periodic_r_peaks(clean: np.ndarray, fs: float, usable: np.ndarray, found: int) -> np.ndarray | None:
    """R peaks of a record whose QRS complexes the per-lead detectors miss, or None.

    A wide, slurred complex at a fast rate (a sine-like ventricular tachycardia) has no steep upstroke
    for neurokit's detector: 0-2 beats are found in 10 s of a 180 bpm rhythm. Its spatial velocity is
    still strongly periodic. When the velocity's autocorrelation peaks at a cycle of 0.25-2 s (30-240
    bpm) with a correlation of at least 0.5 and the detectors found fewer than half the beats that cycle
    implies, the beats are the velocity's peaks at least 0.6 cycle apart and at least a third as high as
    its typical peak, provided that peak stands 1.8 times over the velocity's median (a QRS is the
    steepest part of its cycle: 2.0-3.3 times on sine-like wide complexes at 150-180 bpm; a sine wave's
    velocity peaks at 1.4 times its median, a triangle wave's at 1). Each peak is placed on the largest
    absolute deflection within 60 ms of it."""
    leads = np.flatnonzero(usable)
    n = clean.shape[1]
    if len(leads) == 0 or n < 2 * fs or found >= 0.5 * n / (0.25 * fs):  # found half the most there can be
        return None
    sv = uniform_filter1d(_spatial_velocity(clean, leads).astype(np.float64), max(1, int(0.04 * fs)))
    x = sv - sv.mean()
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    if ac[0] <= 0:
        return None
    ac /= ac[0]
    lo, hi = int(0.25 * fs), min(int(2.0 * fs), n // 2)
    if hi <= lo:
        return None
    lag = lo + int(np.argmax(ac[lo:hi]))
    if ac[lag] < 0.5 or found >= 0.5 * n / lag:
        return None
    peaks, _ = find_peaks(sv, distance=max(1, int(0.6 * lag)))
    if len(peaks) < 2:
        return None
    peaks = peaks[sv[peaks] >= np.median(sv[peaks]) / 3]
    if len(peaks) < 2 or np.median(sv[peaks]) < 1.8 * np.median(sv):
        return None  # no short, steep event per cycle: a sine, triangle or square wave is not a heartbeat
    half = int(0.06 * fs)
    amp = np.abs(clean[leads]).sum(axis=0)
    out = [int(max(0, p - half) + np.argmax(amp[max(0, p - half) : p + half + 1])) for p in peaks]
    return np.unique(np.asarray(out, dtype=np.int64))


def _spatial_velocity(clean: np.ndarray, leads) -> np.ndarray:
    """Root sum of squared sample-to-sample slopes over ``leads`` (float32, length N)."""
    acc = np.zeros(clean.shape[1], dtype=np.float32)
    for i in leads:
        acc += np.gradient(clean[i]) ** 2
    return np.sqrt(acc)


def _search_back(kept: np.ndarray, centre: np.ndarray, support: np.ndarray, fs: float, min_support: int):
    """In each gap over 1.6 median RR, also keep the best-supported candidate (a missed beat)."""
    idx = np.flatnonzero(kept)
    if len(idx) < 3:
        return
    rr = np.diff(centre[idx])
    median_rr = float(np.median(rr))
    for a, b in zip(idx[:-1][rr > 1.6 * median_rr], idx[1:][rr > 1.6 * median_rr], strict=True):
        inside = np.arange(a + 1, b)
        inside = inside[
            (support[inside] >= min_support)
            & (centre[inside] - centre[a] >= 0.25 * fs)
            & (centre[b] - centre[inside] >= 0.25 * fs)
        ]
        if len(inside):
            kept[inside[np.argmax(support[inside])]] = True


def _align_beats(clean: np.ndarray, r: np.ndarray, fs: float, leads) -> np.ndarray:
    """R peaks moved to where each beat's QRS best matches the median beat's, as the cart programs align
    beats before averaging them: the cross-correlation over ``leads`` of the QRS window (80 ms before to
    120 ms after R) with the median one, at shifts up to ALIGN_MAX_MS, twice (the second time against
    the median of the aligned beats). The leads' detectors sit on either lobe of a notched or slurred R:
    the shared peak (their median) jumped by 15-35 ms from beat to beat on synthetic slurred complexes,
    smearing the median beats, the P-wave lock test and every per-beat bound. A beat that matches the
    median beat at no shift by ALIGN_MIN_CORR (an ectopic beat) keeps its peak."""
    before, after = int(0.08 * fs), int(0.12 * fs)
    m = int(ALIGN_MAX_MS * fs / 1000.0)
    if len(r) < 3 or not len(leads) or m < 1:
        return r
    width = before + after
    out = r.astype(np.int64).copy()
    for _ in range(2):
        idx = np.clip(out[:, None] + np.arange(-before - m, after + m)[None, :], 0, clean.shape[1] - 1)
        wins = np.stack([clean[i][idx].astype(np.float64) for i in leads])  # (leads, beats, width + 2m)
        template = np.median(wins[:, :, m : m + width], axis=1)
        template -= template.mean(axis=1, keepdims=True)
        norm_t = float(np.linalg.norm(template))
        best, best_shift = np.full(len(out), -np.inf), np.zeros(len(out), dtype=np.int64)
        for shift in range(-m, m + 1):
            seg = wins[:, :, m + shift : m + shift + width]
            seg = seg - seg.mean(axis=2, keepdims=True)
            denom = np.sqrt((seg**2).sum(axis=(0, 2))) * norm_t
            corr = np.einsum("lbw,lw->b", seg, template) / np.where(denom > 0, denom, np.inf)
            better = corr > best
            best, best_shift = np.where(better, corr, best), np.where(better, shift, best_shift)
        moved = np.where(best >= ALIGN_MIN_CORR, best_shift, 0)
        out = np.clip(out + moved, 0, clean.shape[1] - 1)
        if not moved.any():
            break
    return out


def _beat_matrix(sig: np.ndarray, centres: np.ndarray, before: int, after: int) -> np.ndarray:
    """(n_beats, before+after) samples around each centre (edges clamped), each row mean-removed."""
    idx = np.clip(centres[:, None] + np.arange(-before, after)[None, :], 0, len(sig) - 1)
    rows = sig[idx].astype(np.float64)
    return rows - rows.mean(axis=1, keepdims=True)


def _curve_part(x: np.ndarray, deg: int) -> np.ndarray:
    """The least-squares polynomial of degree ``deg`` through each row of ``x`` (along its last axis)."""
    q = _poly_basis(x.shape[-1], deg)
    return (x @ q) @ q.T


@functools.lru_cache(maxsize=64)
def _poly_basis(n: int, deg: int) -> np.ndarray:
    """An orthonormal basis of the polynomials of degree ``deg`` over ``n`` samples."""
    return np.linalg.qr(np.vander(np.linspace(-1.0, 1.0, n), deg + 1))[0]


def _minus_wander(rows: np.ndarray, template: np.ndarray | None = None) -> np.ndarray:
    """``rows`` (beats' segments, one per row) less a straight line fitted to each one's difference from
    ``template`` (by default their median): what baseline wander adds to a short segment of one beat,
    left out before the beats are compared or their median taken. A P wave common to the beats is in the
    template and stays; lines under P_VISIBLE_MV / 2 are left in (noise: the beats' spread as it was)."""
    template = np.median(rows, axis=0) if template is None else template
    lines = _curve_part(rows - template, 1)
    # a line that moves less than half the smallest P wave counted is noise, not wander: left alone
    lines[np.abs(lines).max(axis=1) < P_VISIBLE_MV / 2.0] = 0.0
    return rows - lines


def _row_corr(rows: np.ndarray, template: np.ndarray) -> np.ndarray:
    t = template - template.mean()
    r = rows - rows.mean(axis=1, keepdims=True)
    denom = np.linalg.norm(r, axis=1) * np.linalg.norm(t)
    return np.where(denom > 0, r @ t / np.where(denom > 0, denom, 1.0), 0.0)


def _lead_quality(clean: np.ndarray, r: np.ndarray, fs: float, flat: np.ndarray) -> list[str]:
    """ok / noisy / flat per lead.

    noisy: high-frequency noise (robust SD of what a 40 ms moving average removes, outside the QRS
    complexes or, where less, after the beats' median of it is taken away) above
    max(0.03 mV, 2% of the lead's 1-99 percentile range) or above 10% of that range (on the 1254 real leads in ../shared the 99th percentile
    is 0.018 mV), or beats that do not resemble the lead's own median beat (median correlation < 0.5).
    """
    before, after = int(0.25 * fs), int(0.45 * fs)
    # high-frequency noise is judged outside the QRS complexes: at fast rates the QRS itself fills a
    # large share of the record and its steep slopes would read as noise
    outside = np.ones(clean.shape[1], dtype=bool)
    for t in r:
        outside[max(0, int(t - 0.1 * fs)) : int(t + 0.12 * fs)] = False
    if outside.mean() < 0.2:
        outside[:] = True
    verdicts = []
    for i in range(clean.shape[0]):
        if flat[i]:
            verdicts.append("flat")
            continue
        sig = clean[i].astype(np.float64)
        resid = sig - uniform_filter1d(sig, max(2, int(0.04 * fs)))
        noise = 1.4826 * float(np.median(np.abs(resid[outside] - np.median(resid[outside]))))
        # what repeats from beat to beat is the waveform's own curvature (a wide, sine-like QRS filling
        # the record at 180 bpm), not noise: the same residual less its median beat
        locked = _beat_matrix(resid, r, before, after)
        locked = locked - np.median(locked, axis=0)
        noise = min(noise, 1.4826 * float(np.median(np.abs(locked))))
        lo, hi = np.percentile(sig, [1, 99])
        rows = _beat_matrix(sig, r, before, after)
        corr = float(np.median(_row_corr(rows, np.median(rows, axis=0))))
        noisy = noise > max(0.03, 0.02 * (hi - lo)) or noise > 0.1 * (hi - lo) or corr < 0.5
        verdicts.append("noisy" if noisy else "ok")
    return verdicts


def _bad_beats(raw: np.ndarray, clean: np.ndarray, r: np.ndarray, fs: float) -> np.ndarray:
    """(12, n_beats) True where a beat of a lead lies in a bad time window: a high-frequency burst (the
    noise a 40 ms moving average removes, robust SD, above 0.05 mV and 4 times the lead's typical beat),
    saturation (the raw lead held at its extreme for 40 ms) or a flat line (held for 200 ms), or a
    baseline jump (the level
    before the QRS more than 1 mV from the lead's median level). Such beats are left out of that lead's
    measurements and evidence; a lead bad everywhere is already ``noisy`` or ``flat``."""
    n = len(r)
    out = np.zeros((clean.shape[0], n), dtype=bool)
    if n == 0:
        return out
    lo = np.clip(r - int(0.2 * fs), 0, clean.shape[1] - 1)
    hi = np.clip(r + int(0.4 * fs), 1, clean.shape[1])
    run = max(2, int(0.04 * fs))
    for i in range(clean.shape[0]):
        sig = clean[i].astype(np.float64)
        resid = np.abs(sig - uniform_filter1d(sig, max(2, int(0.04 * fs))))
        spread = np.array([1.4826 * np.median(resid[a:b]) for a, b in zip(lo, hi, strict=True)])
        typical = float(np.median(spread))
        hf = spread > max(0.05, 4.0 * typical)
        # saturation: the raw lead held at its own extreme (the amplifier's rail) for 40 ms; a flat line:
        # held at any value for 200 ms (quantisation alone gives short plateaus on quiet segments)
        still = np.concatenate([[False], np.diff(raw[i]) == 0])
        held = uniform_filter1d(still.astype(np.float64), run) > 0.999
        rail = held & ((raw[i] >= raw[i].max()) | (raw[i] <= raw[i].min()))
        long_flat = uniform_filter1d(still.astype(np.float64), max(2, int(0.2 * fs))) > 0.999
        flat = np.array([(rail[a:b] | long_flat[a:b]).any() for a, b in zip(lo, hi, strict=True)])
        level = np.array([np.median(sig[max(0, a - int(0.05 * fs)) : a + 1]) for a in lo])
        jump = np.abs(level - np.median(level)) > 1.0
        out[i] = hf | flat | jump
    if np.all(np.ptp(raw, axis=1) == 0):
        return np.zeros_like(out)
    return out


def bad_windows(m: Measurements) -> dict[str, list[tuple[float, float]]]:
    """{lead: [(start ms, end ms), ...]} of the time windows whose beats were left out of that lead."""
    return {lead: [tuple(w) for w in ws] for lead, ws in (m.global_values.get("bad_windows") or {}).items()}


def _windows_ms(bad: np.ndarray, r: np.ndarray, fs: float, duration_ms: float) -> list[list[float]]:
    """Runs of bad beats as [start, end] ms (from 200 ms before the first R to 400 ms after the last)."""
    out: list[list[float]] = []
    k = 0
    while k < len(bad):
        if not bad[k]:
            k += 1
            continue
        j = k
        while j + 1 < len(bad) and bad[j + 1]:
            j += 1
        start = max(0.0, float(r[k]) * 1000.0 / fs - 200.0)
        end = min(duration_ms, float(r[j]) * 1000.0 / fs + 400.0)
        out.append([round(start, 1), round(end, 1)])
        k = j + 1
    return out


# ----------------------------------------------------------------------------------------------------
# Delineation (shared fiducials)
# ----------------------------------------------------------------------------------------------------


def _ok_leads(quality: list[str]) -> list[int]:
    """The leads global values are read on: the ok ones, or every lead not flat where none is ok."""
    return [i for i, q in enumerate(quality) if q == "ok"] or [
        i for i, q in enumerate(quality) if q != "flat"
    ]


def _representative_leads(quality: list[str]) -> list[int]:
    reps = []
    for group in _REPRESENTATIVE_GROUPS:
        for name in group:
            i = LEADS.index(name)
            if quality[i] == "ok":
                reps.append(i)
                break
    if not reps:  # no ok lead: fall back to the noisy ones rather than measuring nothing
        reps = [i for i, q in enumerate(quality) if q != "flat"][:3]
    return reps


def _dwt_p_waves(sig: np.ndarray, peaks: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """P onset/peak/offset of one lead by neurokit's dwt delineator, without its Q/S and T steps.

    ``nk.ecg_delineate(method="dwt")`` spends most of its time finding Q and S peaks (per-beat pandas
    epochs) that only feed its QRS bounds, which we replace (``_qrs_bounds``), as we do its T waves
    (``_t_waves``); so its P steps are called directly (neurokit2 is pinned). Falls back to the public
    function if those private names move. Measured on the 18 CPSC Normal/AF/I-AVB records: these steps
    took 2.2 s in all against 12.3 s for ``method="peak"``, which also found no P onset on 2 of the 8
    Normal records (PR agreed within 5 ms elsewhere).
    """
    try:
        from neurokit2.ecg.ecg_delineate import (
            _dwt_compute_multiscales,
            _dwt_delineate_tp_onsets_offsets,
            _dwt_delineate_tp_peaks,
            _dwt_resample_points,
        )
        from neurokit2.signal import signal_resample
    except ImportError:
        return _delineate_public(sig, peaks, fs)
    rate = 2000  # neurokit's analysis rate for the dwt delineator
    ecg = signal_resample(sig, sampling_rate=int(round(fs)), desired_sampling_rate=rate)
    dwt = _dwt_compute_multiscales(ecg, 9)
    rp = _dwt_resample_points(peaks.astype(np.float64), fs, rate)
    # neurokit stretches its expected P-to-R distance (200 ms) by 60/heart rate and scores P candidates
    # by closeness to it, so below 60 bpm it picked baseline wiggles ~250-300 ms before R (PR 258 ms
    # measured on a simulated PR of 130 ms at 50 bpm; 4 false PR > 200 ms on the shared records under
    # 55 bpm). The PR interval does not lengthen as the rate slows: keep 200 ms there.
    bpm = 60.0 * fs / float(np.median(np.diff(peaks))) if len(peaks) > 1 else 60.0
    _, ppeaks = _dwt_delineate_tp_peaks(
        ecg, rp, dwt, sampling_rate=rate, p2r_duration=0.2 * min(bpm / 60, 1.0)
    )
    pon, poff = _dwt_delineate_tp_onsets_offsets(ppeaks, rp, dwt, sampling_rate=rate)
    points = {"p_on": pon, "p_peak": ppeaks, "p_off": poff}
    # a list, not an array: neurokit casts arrays to int64 (NaN -> garbage); lists keep NaN for "not found"
    return {k: np.asarray(_dwt_resample_points(list(v), rate, fs), float) for k, v in points.items()}


def _delineate_public(sig: np.ndarray, peaks: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    import neurokit2 as nk

    _, waves = nk.ecg_delineate(sig, peaks, sampling_rate=int(round(fs)), method="dwt")
    return {k: np.asarray(waves[v], dtype=np.float64) for k, v in _NK_KEYS.items() if not k.startswith("qrs")}


def _delineate_lead(sig: np.ndarray, peaks: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """dwt P onsets, peaks and offsets per beat (NaN = not found), in chunks of about 30 s.

    Chunking keeps memory flat on long records (the dwt works on a 2 kHz copy of the signal).
    """
    n = len(peaks)
    out = {k: np.full(n, np.nan) for k in _NK_KEYS if not k.startswith("qrs")}
    margin, span = int(1.5 * fs), int(30 * fs)
    start = 0
    while start < n:
        stop = int(np.searchsorted(peaks, peaks[start] + span))
        stop = max(stop, start + 1)
        if n - stop < 3:  # do not leave a stub of one or two beats
            stop = n
        lo = max(0, int(peaks[start]) - margin)
        hi = min(len(sig), int(peaks[stop - 1]) + margin)
        try:
            part = _dwt_p_waves(sig[lo:hi].astype(np.float64), peaks[start:stop] - lo, fs)
        except Exception:  # the dwt delineator fails on some short or odd signals: no vote from here
            part = {}
        for k, v in part.items():
            if len(v) == stop - start:
                out[k][start:stop] = v + lo
        start = stop
    return out


def _qrs_velocity(sig: np.ndarray, r: np.ndarray, fs: float, leads: list[int], dominant: np.ndarray) -> dict:
    """Spatial velocity (root sum of squared slopes over the leads) of every beat and of the median beat.

    ``sig`` is ``_amplitude_lead`` (high-passed, mains notched): ecg_clean's moving average (filtfilt,
    +-18 ms) would smear every QRS outward. Per lead, the slope
    noise of one beat is the robust SD of the beats' slope residuals from the median beat of the
    ``dominant`` ones; a lead whose noise is over 3 times the median lead's is left out (alone it
    would hold the QRS open). Returns offs (samples from R), beat_sv (n_beats, width), median_sv
    (width,), beat_noise and median_noise (velocity RMS of noise alone: one beat, the median beat).
    """
    ms = fs / 1000.0
    rr = float(np.median(np.diff(r))) if len(r) > 1 else fs
    offs = np.arange(-int(min(160 * ms, 0.45 * rr)), int(min(240 * ms, 0.65 * rr)))
    idx = np.clip(r[:, None] + offs[None, :], 0, sig.shape[1] - 1)
    dom = np.flatnonzero(dominant) if dominant.any() else np.arange(len(r))
    notched, median_slopes, noise_sd, templates = [], [], [], []
    for i in leads:
        lead = sig[i].astype(np.float64)
        beats = lead[idx]
        template = np.median(beats[dom], axis=0)
        median_slope = np.gradient(template)
        templates.append(template)
        resid = np.gradient(beats[dom], axis=1) - median_slope
        noise_sd.append(1.4826 * float(np.median(np.abs(resid - np.median(resid)))))
        notched.append(lead)
        median_slopes.append(median_slope)
    noise_sd = np.asarray(noise_sd)
    keep = np.flatnonzero(noise_sd <= 3.0 * np.median(noise_sd))
    beat_sv = np.zeros(idx.shape)
    for j in keep:  # one lead at a time: long records have thousands of beats
        beat_sv += np.gradient(notched[j][idx], axis=1) ** 2
    beat_noise = math.sqrt(float((noise_sd[keep] ** 2).sum()))
    # the median of n beats keeps sqrt(pi / 2n) of one beat's noise
    shrink = math.sqrt(np.pi / (2 * len(dom)))
    median_sv = np.sqrt((np.asarray(median_slopes)[keep] ** 2).sum(axis=0))
    if beat_noise * shrink > NOISY_QRS_NOISE * median_sv.max():
        slopes, sds = [], []
        for j in keep:
            d = gaussian_filter1d(notched[j][idx][dom], NOISY_QRS_SMOOTH_MS * ms, axis=1)
            slopes.append(np.gradient(np.median(d, axis=0)))
            resid = np.gradient(d, axis=1) - slopes[-1]
            sds.append(1.4826 * float(np.median(np.abs(resid - np.median(resid)))))
        median_sv = np.sqrt((np.asarray(slopes) ** 2).sum(axis=0))
        median_noise = math.sqrt(float((np.asarray(sds) ** 2).sum())) * shrink
    else:
        median_noise = beat_noise * shrink
    return {
        "offs": offs,
        "beat_sv": np.sqrt(beat_sv),
        "median_sv": median_sv,
        "median_beats": np.asarray(templates)[keep],  # (leads, width): the representative beats
        "beat_noise": beat_noise,
        "median_noise": median_noise,
    }


def _qrs_edges(
    sv: np.ndarray, offs: np.ndarray, fs: float, noise: float, beats: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """QRS onset and offset (samples from R, NaN where none) in each row of a spatial velocity.

    Read outward from the row's velocity peak near R, the QRS ends at its last sample before a quiet
    20 ms (a notch between S and R' is shorter): a window whose mean velocity is under a threshold set
    4% of the peak above the quiet level (the lowest 20 ms mean on that side) and whose every sample
    stays under that threshold, or, where noise is larger, under the quiet level plus 3 times the
    velocity RMS of noise alone (``noise``). A window's mean steadies noise; the cap on each sample keeps
    a slow terminal R' or slurred S, whose velocity dips under the threshold only briefly, inside the
    QRS. Where the QRS runs straight into the ST-T without a quiet gap (tachycardia, LBBB, ventricular
    beats), the ST-T slope keeps the velocity above 4%; the offset is then read at 8%, then 15% of the
    peak: the knee between the steep QRS and the slower ST-T. From there each bound moves out while the
    velocity stays over the quiet level plus twice the noise RMS (hysteresis, at most 20 ms), so a
    QRS that tapers into the baseline ends where the taper does. The velocity is not smoothed, so a
    bound is the QRS's own sample.
    """
    ms = fs / 1000.0
    n, width = sv.shape
    k = max(1, int(round(20 * ms)))
    rows = np.arange(n)
    centre = np.abs(offs) <= 60 * ms
    pk_i = np.where(centre[None, :], sv, -1.0).argmax(axis=1)
    pk = sv[rows, pk_i]
    cols = np.arange(width)[None, :]
    # window sums over sv[j:j + k] (j = 0 .. width - k), padded to the full width
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(sv, axis=1)], axis=1)
    mean_k = np.full((n, width), np.inf)
    mean_k[:, : width - k + 1] = (csum[:, k:] - csum[:, : width - k + 1]) / k
    before = cols + k - 1 <= pk_i[:, None]  # windows wholly before the peak
    after = cols >= pk_i[:, None]
    floor_on = np.where(before, mean_k, np.inf).min(axis=1)
    floor_off = np.where(after, mean_k, np.inf).min(axis=1)

    def quiet_windows(floor: np.ndarray, frac: float) -> np.ndarray:
        """Windows sv[j:j + k] whose mean is under the threshold and whose every sample is under it or,
        where noise is larger, under the quiet level plus 3 times the noise RMS."""
        thr = floor + frac * (pk - floor)
        hi = np.maximum(thr, floor + 3.0 * noise)
        below = np.concatenate([np.zeros((n, 1)), np.cumsum(sv < hi[:, None], axis=1)], axis=1)
        q = np.zeros((n, width), dtype=bool)
        q[:, : width - k + 1] = below[:, k:] - below[:, : width - k + 1] > k - 0.5
        return q & (mean_k < thr[:, None])

    last = np.where(quiet_windows(floor_on, 0.04) & before, cols, -1).max(axis=1)  # nearest the QRS
    on = np.where((last >= 0) & np.isfinite(floor_on) & (pk > 0), last + k, -1)
    off = np.full(n, -1)
    windows = [quiet_windows(floor_off, frac) & after for frac in (0.04, 0.08, 0.15)]
    for quiet in windows:
        first = np.where(quiet, cols, width).min(axis=1)
        off = np.where((off < 0) & (first < width) & (pk > 0), first - 1, off)
    if beats is not None and n == 1 and on[0] >= 0:  # the representative beat: its leads' waveforms
        base = beats[:, _pr_window(int(on[0]), fs)]
        mag = np.sqrt(((beats - base.mean(axis=1, keepdims=True)) ** 2).sum(axis=0))[None, :]
        off = _not_at_an_apex(off, windows, mean_k, mag, fs)
    # hysteresis: from where the velocity crossed the threshold, out to where it is back at the quiet
    # level (within 2 noise RMS, which noise alone seldom exceeds), at most 20 ms: a smooth QRS end
    # tapers under the threshold first (Gaussian waves read 3-4 samples short at each end without this)
    steps = np.arange(1, k + 1)[None, :]
    tail_on = np.take_along_axis(sv, np.clip(on[:, None] - steps, 0, width - 1), axis=1)
    tail_off = np.take_along_axis(sv, np.clip(off[:, None] + steps, 0, width - 1), axis=1)
    # the quiet level a taper returns to is the lowest 20 ms mean in the 40 ms beyond the bound, not the
    # beat's lowest (which, where the T wave rises straight out of the QRS, lies at the T apex)
    near_on = np.take_along_axis(mean_k, np.clip(on[:, None] - k - steps, 0, width - 1), axis=1).min(axis=1)
    near_off = np.take_along_axis(mean_k, np.clip(off[:, None] + steps, 0, width - 1), axis=1).min(axis=1)
    level_on, level_off = np.maximum(floor_on, near_on), np.maximum(floor_off, near_off)
    on = on - np.cumprod(tail_on > (level_on + 2.0 * noise)[:, None], axis=1).sum(axis=1)
    off = off + np.cumprod(tail_off > (level_off + 2.0 * noise)[:, None], axis=1).sum(axis=1)
    ok_on, ok_off = (on >= 0) & (on < width), (off >= 0) & (off < width)
    return (
        np.where(ok_on, offs[np.clip(on, 0, width - 1)], np.nan).astype(np.float64),
        np.where(ok_off, offs[np.clip(off, 0, width - 1)], np.nan).astype(np.float64),
    )


def _not_at_an_apex(
    off: np.ndarray, windows: list, mean_k: np.ndarray, mag: np.ndarray, fs: float
) -> np.ndarray:
    """QRS offsets (columns) moved back off the T wave. Where the ST-T rises straight out of the QRS (fast
    rates) its slope can keep every 20 ms after J above the quiet threshold up to the T wave's apex,
    where the velocity is briefly near zero. An offset whose spatial magnitude (``mag``: the leads'
    deviation from the PR baseline) is the highest point since the knee (the first quiet window at 15%
    of the peak) and 0.1 mV above the lowest has ridden up a wave after the QRS: the offset is then the
    first quiet window before the velocity's lowest point between the knee and the steepest of that
    rise (the junction of QRS and ST-T), or that point itself. A QRS that ends on its ST segment, a terminal
    R' included, is not above its own end and keeps its offset; so does every offset found at J with an
    ST segment after it."""
    ms = fs / 1000.0
    smooth = uniform_filter1d(mag, max(1, int(round(10 * ms))), axis=1)
    out = off.copy()
    for row in np.flatnonzero(off >= 0):
        o = int(off[row])
        knees = np.flatnonzero(windows[-1][row])
        if not len(knees) or knees[0] >= o:
            continue
        knee = int(knees[0])
        since = smooth[row, knee : o + 1]
        if smooth[row, o] < since.max() or smooth[row, o] - since.min() < 0.1:
            continue  # not the highest point since the knee (a terminal R' stands above its end), or level
        rise = knee + int(np.argmax(mean_k[row, knee:o]))  # the steepest of the T upslope
        trough = knee + int(np.argmin(mean_k[row, knee : rise + 1]))
        before = [int(np.flatnonzero(q[row, : trough + 1])[0]) for q in windows if q[row, : trough + 1].any()]
        out[row] = before[0] - 1 if before else trough
    return out


def _qrs_bounds(
    sig: np.ndarray, r: np.ndarray, fs: float, leads: list[int], dominant: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Global QRS onset/offset per beat (float samples, NaN = none) from the spatial velocity of the leads.

    Hand-written on purpose: neurokit's per-lead QRS bounds were 40-90 ms too wide on the CPSC Normal
    records (they latch onto P or T slopes). The beats of the dominant QRS morphology (``dominant``: shaped
    like the record's median beat) take the bounds of the representative beat, as the programs on
    cardiologists' carts do (GE 12SL, Glasgow): each lead's median beat over the dominant beats, which
    removes noise and the odd beat; the spatial velocity of those median beats spans the QRS of every
    lead at once, so the global onset is the earliest and the offset the latest point any lead's QRS
    reaches. Other beats (premature, aberrant) are read on their own velocity; both by ``_qrs_edges``.
    """
    dominant = np.ones(len(r), dtype=bool) if dominant is None else dominant
    if not leads or len(r) == 0:
        return np.full(len(r), np.nan), np.full(len(r), np.nan)
    v = _qrs_velocity(sig, r, fs, leads, dominant)
    on, off = _qrs_edges(v["beat_sv"], v["offs"], fs, v["beat_noise"])
    t_on, t_off = _qrs_edges(v["median_sv"][None, :], v["offs"], fs, v["median_noise"], v["median_beats"])
    if np.isfinite(t_on[0]) and np.isfinite(t_off[0]):
        on = np.where(dominant, t_on[0], on)
        off = np.where(dominant, t_off[0], off)
    rf = r.astype(np.float64)
    return rf + on, rf + off


def _shared_fiducials(
    clean: np.ndarray,
    r: np.ndarray,
    own: dict,
    fs: float,
    reps: list[int],
    ok_idx: list[int],
    dominant: np.ndarray | None = None,
    amp: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-beat fiducials (float sample indices, NaN = absent).

    QRS bounds from the spatial velocity of the ok leads; P and T points from neurokit's dwt on the
    representative leads (each checked against those QRS bounds), median over the leads.
    """
    on, off = _qrs_bounds(amp if amp is not None else clean, r, fs, ok_idx, dominant)
    per_lead = []
    for i in reps:
        peaks = own.get(i, np.full(len(r), -1))
        peaks = np.where(peaks >= 0, peaks, r)
        d = _delineate_lead(clean[i], peaks, fs)
        d["qrs_on"], d["qrs_off"] = on.copy(), off.copy()
        per_lead.append(_validate_fiducials(d, r, fs, fill=False))
    fid = {k: _nanmedian_columns(np.stack([d[k] for d in per_lead])) for k in _NK_KEYS}
    fid["qrs_on"], fid["qrs_off"] = on, off
    fid = _validate_fiducials(fid, r, fs, fill=True)
    fid.update(_t_waves(clean, fid, r, fs, ok_idx))
    if dominant is not None:  # dominant beats: T offset of the representative beats (tangent method)
        t_end = _template_t_offset(clean, r, fs, ok_idx, dominant, fid)
        if t_end is not None:
            fid["t_off"] = np.where(dominant & np.isfinite(fid["t_off"]), r + t_end, fid["t_off"])
    return _validate_fiducials(fid, r, fs, fill=True)


def _template_t_offset(
    clean: np.ndarray, r: np.ndarray, fs: float, leads: list[int], dominant: np.ndarray, fid: dict
) -> float | None:
    """The T offset of the representative beats (samples after R), or None.

    Each lead's median beat over the dominant beats, its deviation from the PR baseline; the spatial
    magnitude of those deviations peaks at the T wave, and the T wave ends where the tangent at the
    steepest point of its descent meets the level after it: the tangent method readers use by hand
    (Lepeschkin & Surawicz 1952; Postema & Wilde 2014), read on the leads together, so the global T end
    is the latest end any lead's T reaches, as cart programs take it.
    """
    ms = fs / 1000.0
    idx_dom = np.flatnonzero(dominant & np.isfinite(fid["t_peak"]) & np.isfinite(fid["qrs_off"]))
    if len(idx_dom) < 1 or not leads:
        return None
    # the RR to the next beat of the dominant beats themselves: in ventricular bigeminy the record's median
    # RR runs past the premature beat that follows each of them, into its QRS
    nxt = idx_dom[idx_dom < len(r) - 1]
    rr = float(np.median(r[nxt + 1] - r[nxt])) if len(nxt) else fs
    rel_on = float(np.median(fid["qrs_on"][idx_dom] - r[idx_dom]))
    rel_off = float(np.median(fid["qrs_off"][idx_dom] - r[idx_dom]))
    rel_tpk = float(np.median(fid["t_peak"][idx_dom] - r[idx_dom]))
    if not all(map(math.isfinite, (rel_on, rel_off, rel_tpk))):
        return None
    before = int(max(-rel_on + 20 * ms, 30 * ms))
    after = int(min(rel_on + 600 * ms * math.sqrt(rr / fs), rr - 30 * ms))  # QTc 600 ms, or the next QRS
    idx_dom = idx_dom[r[idx_dom] + after < clean.shape[1]]  # whole beats only
    if len(idx_dom) < 1 or after <= rel_tpk + 10 * ms:
        return None
    offs = np.arange(-before, after)
    idx = np.clip(r[idx_dom][:, None] + offs[None, :], 0, clean.shape[1] - 1)
    base_win = (offs >= rel_on - PR_BASELINE_MS[0] * ms) & (offs <= rel_on - PR_BASELINE_MS[1] * ms)
    acc = np.zeros(len(offs))
    for i in leads:
        template = np.median(clean[i].astype(np.float64)[idx], axis=0)
        acc += (template - template[base_win].mean()) ** 2
    mag = uniform_filter1d(np.sqrt(acc), max(1, int(20 * ms)))
    lo = int(np.searchsorted(offs, rel_off + 60 * ms))
    spread = np.subtract(*np.percentile(fid["t_peak"][idx_dom] - r[idx_dom], [75, 25]))
    if spread > T_PEAK_SPREAD_MS * ms:
        # the single beats' T peaks disagree (a flat T wave in noise): the median beat, whose noise is a
        # fraction of one beat's, is searched instead, for its highest peak before the next P wave
        stop = int(
            np.searchsorted(offs, rel_off - 50 * ms + float(_t_peak_search_end(np.array(rr / fs))) * fs)
        )
        window = slice(lo, max(lo + 1, min(stop, len(offs))))
    else:
        pk = int(np.argmin(np.abs(offs - rel_tpk)))
        window = slice(max(lo, pk - int(80 * ms)), min(len(offs), pk + int(80 * ms)))
    pk = window.start + int(np.argmax(mag[window]))  # the T peak on the representative beats
    tail = mag[pk:]
    if len(tail) < 4:
        return None
    slope = np.gradient(tail)
    steep = int(np.argmin(slope))
    if slope[steep] >= 0:
        return None
    floor = float(tail[steep:].min())
    end = steep + (tail[steep] - floor) / -slope[steep]
    if pk + end >= len(offs):
        return None
    return float(offs[0] + pk + end)


def _t_peak_search_end(rr_s: np.ndarray) -> np.ndarray:
    """Seconds after R by which a T wave has peaked, from the RR (s): 0.7 RR - 36 ms under an RR of 880 ms,
    else 0.2 RR + 404 ms (the T-wave search window of Elgendi et al., Sensors 2015;15:17693). Later in the
    cycle stands the next P wave.

    >>> np.round(_t_peak_search_end(np.array([0.545, 1.0])), 3).tolist()
    [0.346, 0.604]
    """
    return np.where(rr_s < 0.88, 0.7 * rr_s - 0.036, 0.2 * rr_s + 0.404)


def _t_waves(
    clean: np.ndarray, fid: dict, r: np.ndarray, fs: float, leads: list[int]
) -> dict[str, np.ndarray]:
    """Global T onset/peak/offset per beat from the spatial T magnitude of the given leads.

    neurokit's dwt T search latched onto the ST segment on low or inverted T waves (QT 210-280 ms at
    normal rates on several shared records), so the T wave is taken where the root sum of squares of
    the leads' deviations from their PR baselines (40 ms smoothed) peaks, between J+60 ms and the
    longest plausible QT for the beat's RR (QTc 600 ms) or the next QRS. The onset is where that magnitude
    falls to 15% of its rise above the lowest level before the peak, the offset where it falls to 25%
    after it (median QTc over the 104 shared records: 412 ms; 5-95%: 360-497 ms).
    """
    ms = fs / 1000.0
    n = len(r)
    on, off = fid["qrs_on"], fid["qrs_off"]
    rf = r.astype(np.float64)
    rr = np.diff(rf)
    rr_prev = np.concatenate([[rr[0]], rr]) if n > 1 else np.full(n, fs)
    rr_next = np.concatenate([rr, [np.median(rr)]]) if n > 1 else np.full(n, fs)
    next_on = np.concatenate([on[1:], [np.inf]])
    start = off + 60 * ms
    stop = np.fmin(on + 600 * ms * np.sqrt(rr_prev / fs), next_on - 30 * ms)
    stop = np.fmin(stop, clean.shape[1] - 1)
    # the T peak lies before the next P wave: Elgendi's window is from R, about 50 ms before the end of a
    # normal QRS; from the QRS end, so that it moves with the T wave after a wide QRS. Scaled by the
    # longer of the RRs either side: the T wave follows the RR before the beat, the next P wave the RR
    # after it, and where they differ (atrial fibrillation, a PAC's P wave on the T wave) the shorter one
    # would cut off the T wave
    rr_either = np.fmax(rr_prev, rr_next)
    peak_stop = np.where(np.isfinite(off), off - 50 * ms, rf) + _t_peak_search_end(rr_either / fs) * fs
    empty = {k: np.full(n, np.nan) for k in ("t_on", "t_peak", "t_off")}
    if not np.isfinite(start).any():
        return empty
    acc = None
    for i in leads:
        sig = uniform_filter1d(clean[i].astype(np.float64), max(1, int(40 * ms)))
        base = _pr_baseline(sig, on, fs)
        vals, valid, idx = _window(sig, start, stop)
        dev = (vals - base[:, None]) ** 2
        acc = dev if acc is None else acc + dev
    mag = np.where(valid, np.sqrt(acc), np.nan)
    has = valid.sum(axis=1) > 10
    mag_f = np.where(valid, mag, -np.inf)
    # the T wave is a wave: the highest local maximum inside the window; the window's first sample is the
    # highest only where a deep ST deviation carried over from J outweighs the T wave (0.3 mV ST
    # depression in three leads under a small T), and then it is no T peak
    inner = np.zeros_like(valid)
    inner[:, 1:-1] = (mag_f[:, 1:-1] >= mag_f[:, :-2]) & (mag_f[:, 1:-1] > mag_f[:, 2:]) & valid[:, 2:]
    early = idx <= peak_stop[:, None]
    inner &= early
    first_part = np.where(early, mag_f, -np.inf)
    pk_i = np.where(
        inner.any(axis=1), np.where(inner, mag_f, -np.inf).argmax(axis=1), first_part.argmax(axis=1)
    )
    rows = np.arange(n)
    pk = mag[rows, pk_i]
    cols = np.arange(mag.shape[1])[None, :]
    after = valid & (cols >= pk_i[:, None])
    before = valid & (cols <= pk_i[:, None])
    lo_after = np.where(after, mag, np.inf).min(axis=1)
    lo_before = np.where(before, mag, np.inf).min(axis=1)
    below_after = after & (mag <= (lo_after + 0.25 * (pk - lo_after))[:, None])
    below_before = before & (mag <= (lo_before + 0.15 * (pk - lo_before))[:, None])
    off_i = np.where(below_after, cols, mag.shape[1]).min(axis=1)
    on_i = np.where(below_before, cols, -1).max(axis=1)
    good = has & np.isfinite(pk) & (pk >= 0.03) & (off_i < mag.shape[1]) & np.isfinite(start)
    first = idx[:, 0].astype(np.float64)
    return {
        "t_on": np.where(good, first + np.maximum(on_i, 0), np.nan),
        "t_peak": np.where(good, first + pk_i, np.nan),
        "t_off": np.where(good, first + off_i, np.nan),
    }


def _validate_fiducials(fid: dict, r: np.ndarray, fs: float, fill: bool) -> dict[str, np.ndarray]:
    """Drop fiducials that break the order P < QRS < T or physiological limits.

    With ``fill``, a beat whose QRS bounds are missing gets the record's typical offsets from R.
    """
    ms = fs / 1000.0
    rf = r.astype(np.float64)
    for v in fid.values():  # the dwt helpers give 0 or huge negatives for points they could not place
        v[(v <= 0) | (v > rf[-1] + 2 * fs)] = np.nan
    prev_r = np.concatenate([[-np.inf], rf[:-1]])
    next_r = np.concatenate([rf[1:], [np.inf]])
    on, off = fid["qrs_on"], fid["qrs_off"]
    on[~((on >= rf - 160 * ms) & (on <= rf))] = np.nan
    off[~((off >= rf) & (off <= rf + 220 * ms))] = np.nan
    for arr in (on, off) if fill else ():
        rel = arr - rf
        if np.isfinite(rel).any():
            arr[~np.isfinite(arr)] = (rf + np.nanmedian(rel))[~np.isfinite(arr)]
    p_on, p_peak, p_off = fid["p_on"], fid["p_peak"], fid["p_off"]
    p_off[:] = np.fmin(p_off, on)  # P and QRS may touch, not overlap
    p_bad = ~(
        (p_on < p_peak)
        & (p_peak < p_off)
        & (on - p_on >= 60 * ms)
        & (on - p_on <= 400 * ms)
        & (p_on > prev_r + 100 * ms)
    )
    for k in ("p_on", "p_peak", "p_off"):
        fid[k][p_bad] = np.nan
    t_on, t_peak, t_off = fid["t_on"], fid["t_peak"], fid["t_off"]
    t_on[t_on < off - 40 * ms] = np.nan
    t_on[:] = np.fmax(t_on, off)
    t_bad = ~((off + 50 * ms <= t_peak) & (t_on < t_peak) & (t_peak < t_off) & (t_off < next_r - 40 * ms))
    t_bad |= ((t_off - on) > 700 * ms) | ((t_off - on) < 200 * ms)
    for k in ("t_on", "t_peak", "t_off"):
        fid[k][t_bad] = np.nan
    return fid


def _p_consistency(
    clean: np.ndarray,
    r: np.ndarray,
    fs: float,
    leads: list[int],
    dominant: np.ndarray | None = None,
    t_off: np.ndarray | None = None,
) -> np.ndarray:
    """Per beat, the best correlation (over ``leads``) of its pre-QRS segment with the median one of the
    ``dominant`` beats (all by default; ventricular beats in bigeminy have none to share).

    Sinus P waves are time-locked to the QRS, so each beat's pre-QRS segment looks like the median;
    fibrillation waves are not, and the median of random waves is close to flat. Baseline wander is taken
    out of each segment first (``_minus_wander``): under 0.3 mV of it a sinus P wave of 0.06 mV lost its
    lock and the rhythm read as one without P waves.
    """
    dominant = np.ones(len(r), dtype=bool) if dominant is None or not dominant.any() else dominant
    before, after = int(P_LOCK_WINDOW_MS * fs / 1000.0), -int(0.06 * fs)
    if t_off is not None and len(r) > 1:
        # the segment starts after the previous T wave: where the RR varies (sinus arrhythmia at fast
        # rates) a T end inside it moves from beat to beat and the segments stop matching. Where the T
        # waves run on closer to the next QRS (atrial fibrillation at fast rates, P on T) the segment
        # keeps its full length: a shorter one would match by chance
        gap = (r[1:] - t_off[:-1])[dominant[1:]]
        gap = gap[np.isfinite(gap)]
        start = np.percentile(gap, 10) if len(gap) else math.nan
        if P_LOCK_MIN_WINDOW_MS * fs / 1000.0 <= start < before:
            before = int(start)
    best = np.full(len(r), -1.0)
    for i in leads:
        rows = _beat_matrix(clean[i], r, before, after)
        rows = _minus_wander(rows, np.median(rows[dominant], axis=0))
        template = np.median(rows[dominant], axis=0)
        if np.ptp(template) < P_VISIBLE_MV:  # no consistent atrial wave at all in this lead
            continue
        best = np.maximum(best, _row_corr(rows, template))
    return best


def _lead_p_bounds(
    template: np.ndarray, end: int, noise: float, fs: float
) -> tuple[float, float, float] | None:
    """(onset, offset, prominence) of the P wave in one lead's representative pre-QRS segment.

    ``template[end]`` is the QRS onset (the segment runs on a little, so that the slope there is not an
    edge effect). The P wave is the most prominent peak (either polarity) before it, prominence taken
    over both its bases and over the PR-segment level (``PR_BASELINE_MS`` before the QRS onset), in a segment that
    starts at the previous beat's T end so the T wave is not in it; a peak at the segment's edge is not
    a peak. Its bounds follow Martinez et al. 2004 on a Gaussian-derivative slope: from the steepest
    rise into the peak, back to where the slope falls under P_ONSET_SLOPE of it; from the steepest fall
    after the peak, on to where it falls under P_OFFSET_SLOPE of that. None where no peak stands
    P_MIN_SNR times above ``noise``; NaN bounds (with the prominence) where a bound runs off the segment
    or into the QRS (a wave that has not ended by the QRS onset is not a P wave whose bounds can be read).
    """
    sigma = P_SLOPE_SCALE_MS * fs / 1000.0
    smooth = gaussian_filter1d(template, sigma, mode="nearest")[: end + 1]
    slope = gaussian_filter1d(template, sigma, order=1, mode="nearest")
    pr_level = float(np.mean(template[_pr_window(end, fs)]))
    best = None
    for sign in (1.0, -1.0):
        peaks, props = find_peaks(sign * smooth, prominence=P_MIN_SNR * noise)
        for k, p in enumerate(peaks):
            # its height over both its bases and over the PR-segment level: the trough
            # between a T wave's tail and the P wave stands over its bases but not over that level
            prom = min(float(props["prominences"][k]), sign * (float(smooth[p]) - pr_level))
            if prom >= P_MIN_SNR * noise and (best is None or prom > best[3]):
                best = (sign, int(p), (int(props["left_bases"][k]), int(props["right_bases"][k])), prom)
    if best is None:
        return None
    sign, p, (lb, rb), prom = best
    d = sign * slope
    up = lb + int(np.argmax(d[lb : p + 1]))
    quiet = np.flatnonzero(d[:up] < P_ONSET_SLOPE * d[up])
    # the steepest return after the peak, sought short of the QRS onset: within two slope scales of it the
    # slope holds the QRS's first deflection, which follows an inverted P wave upward in II (a low atrial
    # rhythm read PR 192 ms for 140) or an upright one downward in V1
    down = p + int(np.argmin(d[p : max(p + 1, min(rb, end - int(round(2 * sigma)))) + 1]))
    settled = np.flatnonzero(-d[down:] < P_OFFSET_SLOPE * -d[down])
    if d[up] <= 0 or d[down] >= 0 or not len(quiet) or not len(settled) or down + settled[0] > end:
        return math.nan, math.nan, prom
    return float(quiet[-1]), float(down + settled[0]), prom


def _blocked_p_wave(
    clean: np.ndarray,
    r: np.ndarray,
    fs: float,
    fid: dict,
    beats: np.ndarray,
    leads: list[int],
    pr_ms,
    p_ms,
    in_t_leads: list[int] | None = None,
) -> float | None:
    """Where a second P wave, not conducted, stands half an RR before the conducted one on the
    representative beats (2:1 AV block: the atria at twice the ventricular rate), as ms before the QRS
    onset; None where there is none.

    Per lead, the median over ``beats`` of the conducted P wave (its onset to offset, 10 ms either side)
    and of the same span half a median RR earlier, searched +-10% of that half RR. Each span has its
    straight line taken out (a T wave's slope under it); the spans of the ``leads`` are joined. Counted
    where the earlier span matches the P wave at BLOCKED_P_MIN_CORR or more with a size between half and
    twice its own, and the P wave itself stands out (P_VISIBLE_MV). A U wave seldom has the P wave's shape
    in two leads at once, nor its size.

    Inside the previous beat's T wave (the ventricles at 50-80 bpm put the blocked P wave there) a straight
    line does not take the T wave out: there the span's cubic is taken out of both (a T wave's curve over
    the span; a P wave's narrower hump keeps most of its shape), the spans of every lead in ``in_t_leads``
    are joined (the P wave's spread over the leads differs from the T wave's) and the match must reach
    BLOCKED_P_IN_T_MIN_CORR; ``in_t_leads`` None: not looked for there. Never over the previous QRS."""
    ms = fs / 1000.0
    frame = _median_frame(r, fid, beats)
    if frame is None or not leads or pr_ms is None or p_ms is None or not (pr_ms > 0 and p_ms > 0):
        return None
    use, rel_on, rel_t_end, rr = frame
    rel_qrs_end = float(_nanmedian(fid["qrs_off"][use - 1] - r[use - 1].astype(np.float64)))
    if not (math.isfinite(rel_on) and math.isfinite(rel_t_end) and math.isfinite(rel_qrs_end)):
        return None
    p_on = rel_on - pr_ms * ms
    span = np.arange(int(round(-BLOCKED_P_MARGIN_MS * ms)), int(round((p_ms + BLOCKED_P_MARGIN_MS) * ms)))
    half = rr / 2.0
    shifts = np.arange(int(round(-0.1 * half)), int(round(0.1 * half)) + 1)

    def flat(x: np.ndarray, deg: int) -> np.ndarray:  # the span's line (or cubic) taken out, per lead
        return x - _curve_part(x, deg)

    # the median beat once, from the earliest span searched to the conducted P wave's end
    lo = int(round(p_on - half + shifts[0])) + span[0]
    hi = int(round(p_on)) + span[-1] + 1
    idx = np.clip(r[use][:, None] + np.arange(lo, hi)[None, :], 0, clean.shape[1] - 1)
    rows = sorted(set(leads) | set(in_t_leads or ()))
    beat = dict(zip(rows, np.median(clean[rows][:, idx].astype(np.float64), axis=1), strict=True))

    def spans_at(leads_: list[int], start: float) -> np.ndarray:
        at = int(round(start)) + span - lo
        return np.stack([beat[i][at] for i in leads_])

    own = spans_at(leads, p_on)
    if np.ptp(own, axis=1).max() < P_VISIBLE_MV:
        return None
    templates = {False: flat(own, 1).ravel()}
    if in_t_leads:
        templates[True] = flat(spans_at(in_t_leads, p_on), 3).ravel()
    best = None  # (margin over the threshold, start, size against the P wave)
    for shift in shifts:
        start = p_on - half + shift
        if start + span[0] < rel_qrs_end - rr:  # over the previous QRS complex
            continue
        inside = start + span[0] < rel_t_end - rr  # inside the previous beat's T wave
        if inside not in templates:
            continue
        template = templates[inside]
        cand = flat(spans_at(in_t_leads if inside else leads, start), 3 if inside else 1).ravel()
        denom = np.linalg.norm(cand) * np.linalg.norm(template)
        corr = float(cand @ template / denom) if denom > 0 else 0.0
        margin = corr - (BLOCKED_P_IN_T_MIN_CORR if inside else BLOCKED_P_MIN_CORR)
        if best is None or margin > best[0]:
            best = (
                margin,
                start,
                float(np.linalg.norm(cand) / np.linalg.norm(template)) if denom > 0 else 0.0,
            )
    if best is None or best[0] < 0 or not 0.5 <= best[2] <= 2.0:
        return None
    return float((rel_on - best[1]) / ms)


def _dissociated_atrial_rate(
    clean: np.ndarray, r: np.ndarray, fs: float, leads: list[int], fid: dict
) -> float | None:
    """The rate (bpm) of atrial waves that recur regularly on their own, unrelated to the QRS complexes,
    or None: complete AV block's P waves, which no QRS-locked search finds.

    The QRS-T complexes are cancelled (each lead's median beat from the QRS onset to the T wave's end
    subtracted at every beat: the atrial waves, at their own rate, average out of it; the TP segments are
    left as they are, since with few beats the median keeps the P waves of the phase most beats share and
    its subtraction would leave inverted ones between them), and what is left is matched with a P-wave-sized lobe (ATRIAL_LOBE_MS), the ``leads`` joined. Counted where at
    least ATRIAL_MIN_WAVES peaks stand ATRIAL_MIN_PROMINENCE_MV or more out of it (and three times its
    median) at intervals within 10% of their median, for an atrial rate of 40-180 bpm (cancellation after
    Slocum et al. 1992, Stridh & Sornmo 2001, used there for fibrillatory waves)."""
    if len(r) < 4 or not leads:
        return None
    rr = int(np.median(np.diff(r)))
    ms = fs / 1000.0
    rel_on = _nanmedian(fid["qrs_on"] - r) if np.isfinite(fid["qrs_on"]).any() else math.nan
    rel_end = _nanmedian(fid["t_off"] - r) if np.isfinite(fid["t_off"]).any() else math.nan
    if not (math.isfinite(rel_on) and math.isfinite(rel_end)):
        return None
    before, after = int(-rel_on + 10 * ms), int(min(rel_end + 20 * ms, rr - 10 * ms))
    n = int(round(ATRIAL_LOBE_MS * fs / 1000.0))
    lobe = np.sin(np.pi * np.arange(n) / n)
    kernel = (lobe - lobe.mean()) / float(((lobe - lobe.mean()) ** 2).sum())  # output: a lobe's height in mV
    energy = np.zeros(clean.shape[1])
    for i in leads:
        sig = clean[i].astype(np.float64)
        idx = np.clip(r[:, None] + np.arange(-before, after)[None, :], 0, len(sig) - 1)
        template = np.median(sig[idx], axis=0)
        left = sig.copy()
        for k in range(len(r)):
            lo, hi = r[k] - before, r[k] + after
            a, b = max(lo, 0), min(hi, len(sig))
            left[a:b] = sig[a:b] - template[a - lo : b - lo]
        energy += np.convolve(left, kernel[::-1], mode="same") ** 2
    energy = np.sqrt(energy)
    edge = r[0] - before, r[-1] + after  # between the first and the last beat
    peaks, props = find_peaks(energy, distance=int(0.3 * fs), prominence=ATRIAL_MIN_PROMINENCE_MV)
    prom = props["prominences"]
    keep = (peaks > edge[0]) & (peaks < edge[1]) & (prom >= 3.0 * np.median(energy))
    if keep.any():  # waves of one size: noise peaks that pass the floor are smaller than the P waves
        keep &= prom >= 0.5 * float(np.max(prom[keep]))
    peaks = peaks[keep]
    if len(peaks) < ATRIAL_MIN_WAVES:
        return None
    pp = np.diff(peaks) * 1000.0 / fs
    mid = float(np.min(pp[pp >= 0.8 * np.median(pp)]))  # the atrial cycle (a wave lost in a QRS doubles one)
    # a peak that splits one atrial cycle into two short parts is what the cancellation left of a QRS
    # between two atrial waves: dropped
    k = 1
    while k < len(peaks) - 1:
        a, b = (peaks[k] - peaks[k - 1]) * 1000.0 / fs, (peaks[k + 1] - peaks[k]) * 1000.0 / fs
        if max(a, b) < 0.8 * mid and abs((a + b) / mid - round((a + b) / mid)) <= 0.1 * round((a + b) / mid):
            peaks = np.delete(peaks, k)
        else:
            k += 1
    pp = np.diff(peaks) * 1000.0 / fs
    steps = pp / mid
    on_beat = np.abs(steps - np.round(steps)) <= 0.1 * np.round(steps)
    ventricular = 60000.0 * fs / 1000.0 / float(rr)
    if np.mean(on_beat & (np.round(steps) <= 2)) < 0.8 or not 40.0 <= 60000.0 / mid <= 180.0:
        return None
    if not (np.round(steps) == 1).any():
        return None
    cycle = float(np.median(pp[np.round(steps) == 1]))
    ratio = 60000.0 / cycle / ventricular
    # both cycles as the slope of a line through every wave (the atrial count of waves lost in a QRS
    # filled in): a median of single steps is off by a sample or two, which the drift below multiplies
    count = np.concatenate([[0.0], np.cumsum(np.round(steps))])
    atrial_ms = float(np.polyfit(count, peaks * 1000.0 / fs, 1)[0])
    rr_ms = float(np.polyfit(np.arange(len(r)), r * 1000.0 / fs, 1)[0])
    # atria slower than the ventricles are not a complete AV block's. Near 1, 2 or 3 times the ventricular
    # rate the waves may be what the cancellation leaves of each beat (its edges), and a whole-number
    # ratio locks to the QRS like conduction does (2:1 is _blocked_p_wave's): counted there only where
    # the atrial waves march through the QRS complexes, moving at least a P wave's width against them
    # between the first beat and the last
    n = round(ratio)
    drift = abs(rr_ms - n * atrial_ms) * (len(r) - 1)
    if ratio < ATRIAL_MIN_RATIO or (abs(ratio - n) < 0.1 and drift < ATRIAL_LOBE_MS):
        return None
    return 60000.0 / cycle


def _flutter_conduction(
    clean: np.ndarray, r: np.ndarray, fs: float, fid: dict, beats: np.ndarray, leads: list[int]
) -> int | None:
    """n where the atria flutter at n times the ventricular rate with fixed n:1 conduction, or None.

    Flutter waves follow one another with no baseline between them, and with fixed conduction they lock
    to the QRS: the RR holds exactly n flutter cycles (a cycle of FLUTTER_CYCLE_MS). On the median beat of
    each of ``leads`` (over ``beats``), between the previous T wave's end and the QRS onset (less 10 ms),
    the signal less itself one cycle (RR/n) earlier is what does not repeat at that cycle: near nothing
    for flutter waves, the P wave itself for a sinus beat (one cycle before a P wave there is baseline, or
    the T wave, which the window leaves out), noise alone doubled where there is no atrial wave. Counted
    where that difference keeps under FLUTTER_RESIDUE of the window's own energy, the window holds at
    least FLUTTER_WINDOW_MS of comparison and its waves stand out (P_VISIBLE_MV in some lead). Needs a
    T-Q stretch longer than a cycle: 4:1 conduction and slower; at 2:1 and 3:1 the QRS-T leaves too
    little."""
    ms = fs / 1000.0
    frame = _median_frame(r, fid, beats)
    if frame is None or not leads:
        return None
    use, rel_on, t_end, rr = frame
    t_end -= rr  # the previous beat's T end, from this beat's R
    if not (math.isfinite(rel_on) and math.isfinite(t_end)):
        return None
    end = int(round(rel_on - 10 * ms))
    offs = np.arange(int(round(t_end)), end + 1)
    # n:1 with a cycle in range and a window that holds one cycle and FLUTTER_WINDOW_MS to compare
    lags = {
        n: int(round(rr / n))
        for n in range(2, 9)
        if FLUTTER_CYCLE_MS[0] * ms <= rr / n <= FLUTTER_CYCLE_MS[1] * ms
        and len(offs) - round(rr / n) >= FLUTTER_WINDOW_MS * ms
    }
    if not lags:
        return None
    idx = np.clip(r[use][:, None] + offs[None, :], 0, clean.shape[1] - 1)
    # (leads, window): each beat's baseline wander taken out before the median
    beat = np.stack([np.median(_minus_wander(clean[i].astype(np.float64)[idx]), axis=0) for i in leads])
    best = None
    for n, lag in lags.items():
        now, before = beat[:, lag:], beat[:, :-lag]
        if np.ptp(now, axis=1).max() < P_VISIBLE_MV:
            continue
        # what is left of the wander, a straight line, taken out
        diff = (now - before) - _curve_part(now - before, 1)
        own = now - _curve_part(now, 1)
        residue = float((diff**2).sum() / max((own**2).sum(), 1e-12))
        if residue < FLUTTER_RESIDUE and (best is None or residue < best[0]):
            best = (residue, n)
    return None if best is None else best[1]


def _p_inside_previous_t(fid: dict, r: np.ndarray, fs: float, beats: np.ndarray) -> bool:
    """True where the per-beat P peaks of ``beats`` lie, in the median, before the previous beat's T
    offset: inside the T wave, where a P wave cannot be told from the T wave it rides on (at fast rates,
    or a wide QRS with a long QT, there is no TP segment). ``_template_p_wave`` cannot judge such beats
    (it reads the segment from the T end on) and answers None; the per-beat dwt peaks then are no
    evidence of P waves. Regular rhythms only."""
    use = np.flatnonzero(beats)
    use = use[use >= 1]
    if len(use) < 3:
        return False
    if not _rr_irregularity(_rr_ms(r, fs)) <= AF_MIN_NORMALISED_RMSSD:
        return False  # irregular: a premature atrial beat's P wave rides on the T wave by definition
    rf = r.astype(np.float64)
    p_peak = _nanmedian(fid["p_peak"][use] - rf[use])
    t_end = _nanmedian(fid["t_off"][use - 1] - rf[use])  # the previous beat's T offset, from this R
    return bool(math.isfinite(p_peak) and math.isfinite(t_end) and p_peak < t_end)


def _median_frame(
    r: np.ndarray, fid: dict, beats: np.ndarray
) -> tuple[np.ndarray, float, float, float] | None:
    """The representative beats' frame, in samples: (the ``beats`` that have a beat before them, their
    median QRS onset from the R peak, the previous beat's median T end from its own R, the median RR);
    None with fewer than three such beats."""
    use = np.flatnonzero(beats)
    use = use[use >= 1]
    if len(use) < 3:
        return None
    rf = r.astype(np.float64)
    qrs_on = float(_nanmedian(fid["qrs_on"][use] - rf[use]))
    t_end = float(_nanmedian(fid["t_off"][use - 1] - rf[use - 1]))
    return use, qrs_on, t_end, float(np.median(rf[use] - rf[use - 1]))


def _template_p_wave(
    clean: np.ndarray, r: np.ndarray, fs: float, fid: dict, beats: np.ndarray, leads: list[int]
) -> tuple[float, float] | None:
    """(PR interval, P duration) in ms from the representative beats of ``leads``.

    As for the QRS (``_qrs_bounds``): per lead, the sample-wise median of ``beats`` (dominant
    beats with a time-locked P wave) from the previous beat's T end to the QRS onset; each lead's P
    bounds by ``_lead_p_bounds``. Guarded as the cart programs guard theirs: only leads whose P is at
    least P_LEAD_SHARE of the largest one vote, a lead whose onset lies more than P_LEAD_AGREE_MS from
    the voters' median is dropped, and at least two leads must agree; the global bounds are the median
    of the agreeing leads; the PR runs to the QRS onset of the same beats.

    (NaN, NaN), no P wave, where fewer than two leads show a peak at all in a segment quiet enough that
    a P wave of P_VISIBLE_MV would stand out in most leads (beat by beat, or, where the record is too
    noisy for that, on the median beat, which must then show no peak either), still and on the segment's baseline in all
    but one lead over the 30-14 ms before the QRS onset (where a P wave cut off by too early a QRS onset
    would still be moving or raised), and long enough to hold the P wave of a normal PR
    (FIRST_DEGREE_AVB_PR_MS) or holding the per-beat dwt P peaks, where the median beats stand at their
    PR-segment level in all but one lead (a P wave peaking there would not): the beats are then time-locked to
    something that is not a P wave (a QRS onset or T wave inside the lock window of ``_p_consistency``).
    None (the caller keeps the per-beat dwt values) otherwise.
    """
    ms = fs / 1000.0
    frame = _median_frame(r, fid, beats)
    if frame is None or not leads:
        return None
    use, qrs_on, t_end, rr = frame  # t_end: the previous beat's T end, from its R
    rf = r.astype(np.float64)
    if not (math.isfinite(qrs_on) and math.isfinite(t_end)):
        return None
    start = max(t_end - rr, qrs_on - 500 * ms)
    if qrs_on - start < 60 * ms:
        return None
    offs = np.arange(int(math.floor(start)), int(math.ceil(qrs_on + 3 * P_SLOPE_SCALE_MS * ms)) + 1)
    end = int(math.ceil(qrs_on)) - int(offs[0])  # the QRS onset's place in the segment
    idx = np.clip(r[use][:, None] + offs[None, :], 0, clean.shape[1] - 1)
    found, thresholds, moving = [], [], 0
    # where neurokit's dwt put the P peaks (median over the beats), and how far each median beat stands
    # from its PR-segment level there
    dwt_peak = float(_nanmedian(fid["p_peak"][use] - rf[use]))
    at_dwt = int(round(dwt_peak - offs[0])) if start <= dwt_peak <= qrs_on else None
    pr_window = _pr_window(end, fs)
    raised = 0
    # the same judged on the median beat itself, whose noise is the single beats' over sqrt(n) (x 1.25 for
    # a median): on a noisy record no P wave may be seen beat by beat, yet one of P_VISIBLE_MV would stand
    # out of the median beat, and where no such wave does (nor one that size is still under way at the
    # QRS onset) in two leads there is none
    seen, template_thresholds, template_moving = 0, [], 0
    template_scale = math.sqrt(math.pi / 2.0 / len(use))
    # before the QRS onset and the ~10 ms by which ecg_clean's moving average smears the QRS outward
    late = max(0, end - int(30 * ms)), max(0, end - int(14 * ms))
    for i in leads:
        rows = clean[i].astype(np.float64)[idx]
        template = np.median(rows, axis=0)
        # the noise a P wave must stand out of: the single beats' spread about the median beat (robust SD)
        # before the QRS, baseline wander left out (``_minus_wander``), so that a P wave counts only where
        # it would be seen beat by beat; and a wave under P_VISIBLE_MV is none, however clean the record (a
        # QRS onset's smear on a filtered one)
        spread = np.abs(_minus_wander(rows, template) - template)[:, : end + 1]
        noise = max(1.4826 * float(np.median(spread)), 1e-4)
        # still changing, or off the segment's baseline, just before the QRS
        level = template[late[1]]
        shift = max(abs(level - template[late[0]]), abs(level - float(np.median(template[: end + 1]))))
        for scale, limits in ((1.0, thresholds), (template_scale, template_thresholds)):
            limits.append(P_MIN_SNR * noise * scale)
        moving += shift > thresholds[-1]
        if at_dwt is not None:
            raised += abs(template[at_dwt] - float(np.mean(template[pr_window]))) >= P_VISIBLE_MV
        template_moving += shift > max(template_thresholds[-1], P_VISIBLE_MV)
        visible = P_VISIBLE_MV / P_MIN_SNR  # the noise level at which a P_VISIBLE_MV wave just counts
        bounds = _lead_p_bounds(template, end, max(noise, visible), fs)
        if bounds is not None:
            found.append(bounds)
        # the median beat's own question, asked again only where the single-beat noise raised the bar
        seen += (bounds if noise <= visible else _lead_p_bounds(template, end, visible, fs)) is not None
    if len(found) < 2:  # as for presence, one lead alone does not count
        covered = qrs_on - start >= FIRST_DEGREE_AVB_PR_MS * ms or (at_dwt is not None and raised < 2)
        quiet = float(np.median(thresholds)) <= P_VISIBLE_MV and moving < 2
        quiet_median_beat = (
            seen < 2 and float(np.median(template_thresholds)) <= P_VISIBLE_MV and template_moving < 2
        )
        return (math.nan, math.nan) if covered and (quiet or quiet_median_beat) else None
    found = [b for b in found if math.isfinite(b[0])]
    if not found:
        return None
    top = max(b[2] for b in found)
    votes = np.array([(b[0], b[1]) for b in found if b[2] >= P_LEAD_SHARE * top])
    mid = np.median(votes[:, 0])
    agree = votes[np.abs(votes[:, 0] - mid) <= P_LEAD_AGREE_MS * ms]
    if len(agree) < 2:
        return None
    on, off = np.median(agree, axis=0) + offs[0]
    return (qrs_on - on) / ms, (min(off, qrs_on) - on) / ms


# ----------------------------------------------------------------------------------------------------
# Per-lead measurement around the shared fiducials (vectorised over beats)
# ----------------------------------------------------------------------------------------------------


def _window(sig: np.ndarray, start: np.ndarray, stop: np.ndarray):
    """Samples of ``sig`` in [start, stop] per beat: (values, valid mask, indices), (n_beats, width).
    Samples outside the record are not valid (the last beat's J+60 ms can lie past the record's end)."""
    ok = np.isfinite(start) & np.isfinite(stop) & (stop >= start)
    s = np.where(ok, start, 0).astype(np.int64)
    e = np.where(ok, stop, 0).astype(np.int64)
    width = int(max(1, (e - s).max(initial=0) + 1))
    idx = s[:, None] + np.arange(width)[None, :]
    valid = (idx <= e[:, None]) & ok[:, None] & (idx >= 0) & (idx < len(sig))
    idx = np.clip(idx, 0, len(sig) - 1)
    return sig[idx].astype(np.float64), valid, idx


def _window_mean(sig, start, stop) -> np.ndarray:
    vals, valid, _ = _window(sig, start, stop)
    count = valid.sum(axis=1)
    return np.where(count > 0, (vals * valid).sum(axis=1) / np.maximum(count, 1), np.nan)


def _pr_baseline(sig: np.ndarray, on: np.ndarray, fs: float) -> np.ndarray:
    """Per beat, the PR-segment level (mean over PR_BASELINE_MS before the QRS onsets ``on``)."""
    ms = fs / 1000.0
    return _window_mean(sig, on - PR_BASELINE_MS[0] * ms, on - PR_BASELINE_MS[1] * ms)


def _pr_window(onset: int, fs: float) -> slice:
    """The PR-segment samples (PR_BASELINE_MS before the QRS onset at index ``onset``) of one beat."""
    ms = fs / 1000.0
    return slice(max(0, onset - int(PR_BASELINE_MS[0] * ms)), max(1, onset - int(PR_BASELINE_MS[1] * ms)))


def _extreme(vals, valid, idx, mode: str):
    """(value, sample index) of the max / min / largest-|.| per row; NaN where the row is empty."""
    if mode == "max":
        score = np.where(valid, vals, -np.inf)
    elif mode == "min":
        score = np.where(valid, -vals, -np.inf)
    else:
        score = np.where(valid, np.abs(vals), -np.inf)
    j = score.argmax(axis=1)
    rows = np.arange(len(vals))
    has = valid.any(axis=1)
    return np.where(has, vals[rows, j], np.nan), np.where(has, idx[rows, j], np.nan)


def _at(sig: np.ndarray, pos: np.ndarray, half: int = 2) -> np.ndarray:
    """Mean of sig over pos +- half samples; NaN where pos is NaN."""
    return _window_mean(sig, pos - half, pos + half)


def _st_form(dev: np.ndarray, slope: np.ndarray, lead: str = "II", j=None, t=None) -> list:
    """Per beat: "elevated" (at the J point), "depressed" (gem_core.criteria), else "upsloping",
    "horizontal" or "downsloping"; None where the level or slope is missing. ``j``, ``t``: J levels and
    T peaks per beat, when known."""
    forms = np.full(len(dev), None, dtype=object)
    fin = np.isfinite(dev) & np.isfinite(slope)
    forms[fin & (slope > ST_UPSLOPE_MV_PER_S)] = "upsloping"
    forms[fin & (slope < -ST_UPSLOPE_MV_PER_S)] = "downsloping"
    forms[fin & (np.abs(slope) <= ST_UPSLOPE_MV_PER_S)] = "horizontal"
    nan = np.full(len(dev), np.nan)
    j = nan if j is None else j
    forms[fin & (np.nan_to_num(j, nan=-np.inf) >= ste_limit(lead, None, None))] = "elevated"
    t = nan if t is None or lead not in T_UPRIGHT_LEADS else t
    for k in np.flatnonzero(fin & (forms != "elevated")):
        jk, tk = (float(v[k]) if np.isfinite(v[k]) else None for v in (j, t))
        if st_depression_form(jk, float(dev[k]), float(slope[k]), t_mv=tk):
            forms[k] = "depressed"
    return forms.tolist()


def _measure_lead(
    sig: np.ndarray, amp: np.ndarray, fid: dict, r: np.ndarray, fs: float, st_point_ms: float = 60.0
) -> dict[str, np.ndarray]:
    """Lead-specific peaks and amplitudes for every beat (arrays over beats, NaN = absent).

    ``sig`` is the cleaned lead; QRS, R and S amplitudes come from ``amp`` (``_amplitude_lead``).
    """
    ms = fs / 1000.0
    on, off = fid["qrs_on"], fid["qrs_off"]
    # PR baseline just before the QRS; ecg_clean's moving average (filtfilt, +-18 ms) smears the QRS
    # into the samples before its onset, so the window stops 6 ms short of it
    base = _pr_baseline(sig, on, fs)
    p_base = _at(sig, fid["p_on"])
    # P peak: largest deviation from the level at P onset (vals shifted per beat)
    vals, valid, idx = _window(sig, fid["p_on"], fid["p_off"])
    p_val, p_pos = _extreme(vals - p_base[:, None], valid, idx, "abs")
    amp_base = _pr_baseline(amp, on, fs)
    q_vals, q_valid, q_idx = _window(amp, on, off)
    hi, hi_pos = _extreme(q_vals, q_valid, q_idx, "max")
    lo, _ = _extreme(q_vals, q_valid, q_idx, "min")
    after_r = q_valid & (q_idx >= hi_pos[:, None])
    s_lo, _ = _extreme(q_vals, after_r, q_idx, "min")
    # terminal R' (rSR', qR'): a peak after the QRS nadir that rises >= 0.1 mV from it, stands above the
    # baseline and falls again before the QRS offset (so a J point raised by ST elevation is not an R')
    lo_all, lo_pos = _extreme(q_vals, q_valid, q_idx, "min")
    after_nadir = q_valid & (q_idx > lo_pos[:, None])
    rp, rp_pos = _extreme(q_vals, after_nadir, q_idx, "max")
    # how far it falls after its peak, by the QRS offset: a J point raised into an elevated ST segment
    # rises to the offset and does not fall (the mean of the samples around the offset, read on the
    # upstroke, made it fall 0.08 mV)
    after_rp, _ = _extreme(q_vals, q_valid & (q_idx >= rp_pos[:, None]), q_idx, "min")
    has_rp = (
        (rp - lo_all >= 0.1) & (rp - after_rp >= 0.05) & (rp - amp_base >= 0.05) & (amp_base - lo_all >= 0.05)
    )
    r_prime = np.where(np.isfinite(rp), np.where(has_rp, rp - amp_base, 0.0), np.nan)
    # terminal S width: samples after R more than 0.05 mV under the baseline, where the S reaches 0.1 mV
    under = after_r & (q_vals < amp_base[:, None] - 0.05)
    s_dur = np.where(amp_base - s_lo >= 0.1, under.sum(axis=1) * 1000.0 / fs, 0.0)
    s_dur = np.where(np.isfinite(s_lo), s_dur, np.nan)
    q_depth, q_ms = _q_wave(q_vals, q_valid, q_idx, amp_base, on, off, fs)
    vals, valid, idx = _window(sig, fid["t_on"], fid["t_off"])
    t_val, t_pos = _extreme(vals - base[:, None], valid, idx, "abs")
    j60 = _at(sig, off + st_point_ms * ms) - base
    # the J point on the high-passed lead (on the cleaned one the moving average, +-18 ms, smears the S
    # wave past the QRS offset), as the mean of the 10 ms from the global offset on: every lead's QRS is
    # over there, while a window centred on the offset took in the last of a steep S wave (V1-V3 read
    # 0.02-0.09 mV low on synthetic records, now within 0.01 mV)
    j0 = _window_mean(amp, off, off + 10 * ms) - amp_base
    slope = (_at(sig, off + 80 * ms) - _at(sig, off + 20 * ms)) / 0.06
    area_win = _window(sig, on, off)
    qrs_area = ((area_win[0] - base[:, None]) * area_win[1]).sum(axis=1) / fs
    p_area_win = _window(sig, fid["p_on"], fid["p_off"])
    p_area = ((p_area_win[0] - p_base[:, None]) * p_area_win[1]).sum(axis=1) / fs
    t_area_win = _window(sig, fid["t_on"], fid["t_off"])
    t_area = ((t_area_win[0] - base[:, None]) * t_area_win[1]).sum(axis=1) / fs
    return {
        "p_peak": p_pos,
        "t_peak": t_pos,
        "p_amplitude": p_val,
        "qrs_amplitude": hi - lo,
        "r_amplitude": np.maximum(hi - amp_base, 0.0),
        "s_amplitude": np.maximum(amp_base - s_lo, 0.0),
        "t_amplitude": t_val,
        "st_deviation": j60,
        "st_j": j0,
        "r_prime_amplitude": r_prime,
        "s_duration": s_dur,
        "q_amplitude": q_depth,
        "q_duration": q_ms,
        "st_slope": slope,
        "qrs_area": np.where(np.isfinite(base), qrs_area, np.nan),
        "p_area": np.where(np.isfinite(fid["p_on"]), p_area, np.nan),
        "t_area": np.where(np.isfinite(fid["t_on"]), t_area, np.nan),
    }


def _q_wave(vals, valid, idx, base, on, off, fs) -> tuple[np.ndarray, np.ndarray]:
    """(depth mV, duration ms) of each beat's initial Q wave: the lowest point between the QRS onset and
    the first positive wave (the first sample Q_MIN_MV over the PR baseline; the whole QRS where there
    is none, a QS complex), when it lies Q_MIN_MV or more under the baseline; its duration runs from the
    onset to where the lead climbs back to the baseline after that nadir (the QRS offset for a QS). 0
    where the lead has no Q wave, NaN where the QRS was not measured."""
    # read on the lead smoothed over Q_SMOOTH_MS: a single beat's noise dips are shorter than any Q wave
    vals = uniform_filter1d(vals, max(1, round(Q_SMOOTH_MS * fs / 1000.0)), axis=1, mode="nearest")
    up = valid & (vals >= base[:, None] + Q_MIN_MV)
    first_up = np.where(up.any(axis=1), idx[np.arange(len(idx)), up.argmax(axis=1)], np.inf)
    low, low_pos = _extreme(vals, valid & (idx < first_up[:, None]), idx, "min")
    depth = base - low
    has_q = depth >= Q_MIN_MV
    back = valid & (idx > low_pos[:, None]) & (vals >= base[:, None])
    end = np.where(back.any(axis=1), idx[np.arange(len(idx)), back.argmax(axis=1)], off)
    dur = (end - on) * 1000.0 / fs
    measured = np.isfinite(base) & np.isfinite(on) & np.isfinite(off)
    return (
        np.where(measured, np.where(has_q, depth, 0.0), np.nan),
        np.where(measured, np.where(has_q, dur, 0.0), np.nan),
    )


def _st_point_ms(r: np.ndarray, fs: float) -> float:
    """Where the ST level is read after J: 60 ms, or 40 ms above 100 bpm (gem_core.criteria)."""
    rr = float(np.median(np.diff(r))) / fs if len(r) > 1 else 1.0
    return ST_POINT_FAST_MS if 60.0 / rr > ST_FAST_BPM else ST_POINT_MS


def _rr_before(r: np.ndarray, fs: float) -> np.ndarray:
    """Per beat, the RR interval (ms) from the beat before it; NaN for the first."""
    return np.concatenate([[np.nan], np.diff(r) * 1000.0 / fs])


def _timing(fid: dict, r: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """Intervals shared by all leads, per beat (ms)."""
    to_ms = 1000.0 / fs
    rr = np.diff(r) * to_ms
    rr1 = np.concatenate([[np.nan], rr])
    rr2 = np.concatenate([rr, [np.nan]])
    rr_for_hr = np.where(np.isfinite(rr1), rr1, rr2)
    qt = (fid["t_off"] - fid["qrs_on"]) * to_ms
    rr_s = rr_for_hr / 1000.0
    return {
        "heart_rate": 60000.0 / rr_for_hr,
        "rr_interval_1": rr1,
        "rr_interval_2": rr2,
        "p_duration": (fid["p_off"] - fid["p_on"]) * to_ms,
        "pr_interval": (fid["qrs_on"] - fid["p_on"]) * to_ms,
        "qrs_duration": (fid["qrs_off"] - fid["qrs_on"]) * to_ms,
        "t_duration": (fid["t_off"] - fid["t_on"]) * to_ms,
        "st_duration": (fid["t_on"] - fid["qrs_off"]) * to_ms,
        "qt_interval": qt,
        "qtc_interval": qt / np.sqrt(rr_s),
        "qtc_fridericia": qt / np.cbrt(rr_s),
    }


def _beat_dicts(fid, timing, lead_vals, r, fs, lead: str) -> list[dict]:
    """Columns -> one dict per beat (rounded; NaN -> None)."""
    to_ms = 1000.0 / fs
    cols: dict[str, list] = {"index": list(range(len(r)))}

    def put(name, arr, digits):
        arr = np.round(np.asarray(arr, dtype=np.float64), digits)
        cols[name] = [None if not math.isfinite(v) else v for v in arr.tolist()]

    times = {
        "p_onset_ms": fid["p_on"],
        "p_peak_ms": lead_vals["p_peak"],
        "p_offset_ms": fid["p_off"],
        "qrs_onset_ms": fid["qrs_on"],
        "r_peak_ms": r.astype(np.float64),
        "qrs_offset_ms": fid["qrs_off"],
        "t_onset_ms": fid["t_on"],
        "t_peak_ms": lead_vals["t_peak"],
        "t_offset_ms": fid["t_off"],
    }
    for name in FIDUCIALS:
        put(name, times[name] * to_ms, 1)
    for name in BEAT_FEATURES:
        if name == "st_form":
            cols[name] = _st_form(
                lead_vals["st_deviation"],
                lead_vals["st_slope"],
                lead,
                lead_vals["st_j"],
                lead_vals["t_amplitude"],
            )
        elif BEAT_FEATURES[name] == "mV":
            put(name, lead_vals[name], 3)
        else:
            put(name, timing[name], 1)
    for name, unit in EXTRA_BEAT_VALUES.items():
        src = timing if name in timing else lead_vals
        put(name, src[name], 1 if unit == "ms" else 3)
    keys = list(cols)
    return [dict(zip(keys, row, strict=True)) for row in zip(*(cols[k] for k in keys), strict=True)]


# ----------------------------------------------------------------------------------------------------
# Global values
# ----------------------------------------------------------------------------------------------------


def _nanmedian(values) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(np.median(arr)) if len(arr) else float("nan")


def _nanmedian_columns(stack: np.ndarray) -> np.ndarray:
    """Median of each column over its non-NaN rows; NaN where a column has none (no warning)."""
    out = np.full(stack.shape[1:], np.nan)
    has = ~np.isnan(stack).all(axis=0)
    if has.any():
        out[has] = np.nanmedian(stack[:, has], axis=0)
    return out


def _template_p_areas(
    clean: np.ndarray, r: np.ndarray, fs: float, fid: dict, beats: np.ndarray, leads: list[int], pr_ms, p_ms
) -> dict[str, float]:
    """Each lead's P-wave area (mV s) on its median beat over ``beats``, inside the representative P wave
    (``_template_p_wave``: from PR before the QRS onset, for the P duration) against the line joining its
    onset and offset levels. The per-beat P bounds come from a delineator that seeks upright P waves; on
    inverted ones (a low atrial focus) their areas gave a P axis of +59 degrees for one of -126."""
    use = np.flatnonzero(beats)
    if len(use) < 3 or not leads:
        return {}
    ms = fs / 1000.0
    on = float(_nanmedian(fid["qrs_on"][use] - r[use]))
    start, stop = int(round(on - pr_ms * ms)), int(round(on - (pr_ms - p_ms) * ms))
    if not math.isfinite(on) or stop <= start:
        return {}
    idx = np.clip(r[use][:, None] + np.arange(start, stop + 1)[None, :], 0, clean.shape[1] - 1)
    out = {}
    for i in leads:
        template = np.median(clean[i].astype(np.float64)[idx], axis=0)
        # against the line from its onset to its offset: a PR segment pulled down by atrial repolarisation
        # or a drifting baseline would otherwise outweigh a small P wave
        base = np.linspace(template[0], template[-1], len(template))
        out[LEADS[i]] = float((template - base).sum() / fs)
    return out


def _frontal_axis(areas: dict[str, float]) -> float | None:
    """Frontal axis (degrees, -180..180) from net areas in the usable limb leads (least squares).

    Each limb lead sees the projection of the heart vector on its direction; with two or more leads
    the vector is solved for, so a bad lead I or aVF does not prevent an axis.
    """
    names = [n for n, a in areas.items() if n in _LIMB_ANGLE and math.isfinite(a)]
    if len(names) < 2:
        return None
    ang = np.radians([_LIMB_ANGLE[n] for n in names])
    gain = np.array([_LIMB_GAIN[n] for n in names])
    a = np.column_stack([gain * np.cos(ang), gain * np.sin(ang)])
    b = np.array([areas[n] for n in names])
    (x, y), *_ = np.linalg.lstsq(a, b, rcond=None)
    if math.hypot(x, y) < 1e-6:
        return None
    return round(math.degrees(math.atan2(y, x)), 1)


def _nanmax(values) -> float:
    """Largest finite value, NaN when there is none (numpy's nanmax warns "All-NaN" to the terminal)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.max()) if len(arr) else float("nan")


def _voltage(lead_med: dict[str, dict[str, float]], ok: set[str]) -> dict:
    def get(name, key):
        return lead_med[name][key] if name in ok else float("nan")

    limb = [get(n, "qrs_amplitude") for n in LIMB_LEADS]
    prec = [get(n, "qrs_amplitude") for n in PRECORDIAL_LEADS]
    limb_max, prec_max = _nanmax(limb), _nanmax(prec)
    r56 = _nanmax([get("V5", "r_amplitude"), get("V6", "r_amplitude")])
    return {
        "limb_max_qrs_mv": round(float(limb_max), 3),
        "precordial_max_qrs_mv": round(float(prec_max), 3),
        "low_voltage_limb": bool(limb_max < 0.5) if math.isfinite(limb_max) else None,
        "low_voltage_precordial": bool(prec_max < 1.0) if math.isfinite(prec_max) else None,
        "sokolow_lyon_mv": round(float(get("V1", "s_amplitude") + r56), 3),
        "cornell_mv": round(float(get("aVL", "r_amplitude") + get("V3", "s_amplitude")), 3),
    }


def _early_beats(rr1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(early, local median RR) per beat from its RR to the beat before (ms; NaN for the first). Early:
    under PREMATURE_RATIO of the local median RR (five beats either side) and of the cycle before it, the
    last RR that did not end on an early beat: in sinus arrhythmia the fast phase runs under the local
    median while each RR is no shorter than the one before. The first and last beats are never early."""
    n = len(rr1)
    early, refs = np.zeros(n, dtype=bool), np.full(n, np.nan)
    cycle = rr1[0] if n else np.nan
    for k in range(1, n - 1):
        lo, hi = max(1, k - 5), min(n, k + 6)
        local = np.delete(rr1[lo:hi], k - lo)
        local = local[np.isfinite(local)]
        refs[k] = float(np.median(local)) if len(local) else float("nan")
        early[k] = rr1[k] < PREMATURE_RATIO * refs[k] and not rr1[k] >= PREMATURE_RATIO * cycle
        if not early[k]:
            cycle = rr1[k]
    return early, refs


def _premature_beats(r, fs, timing, qrs_corr, af_like, qrs_on, p_lock=None, steady=None) -> list[dict]:
    """Beats whose coupling interval is short against the local median RR and against the cycle before.

    Prematurity is judged from QRS onset to QRS onset (``qrs_on``; R to R where an onset is missing): the
    R peak of a wide beat lies late in its QRS, so an LBBB-like PVC 850 ms after the QRS before it (0.85
    of the RR) stood 896 ms after that beat's R and was not premature. The intervals reported (coupling,
    pause) are RRs, R to R, as the RR evidence the claim checker reads. A narrow beat counts only when a
    pause follows (a PAC); a beat with a different, wide QRS counts with or without one (a PVC;
    ``interpolated`` when the two RRs around it add up to one normal RR, and the sinus beat after such a
    PVC is not itself premature). In an irregular rhythm without P waves only PVCs are reported.

    Respiratory sinus arrhythmia is not read as PACs (``_sinus_phase``): an early narrow beat whose
    atrial wave matches the sinus P wave (``p_lock`` against the ``steady`` beats') and whose cycle
    shortened gradually is the fast phase of the sinus rate, and it sets the cycle the next beat is judged
    against (a sinus arrhythmia's next, slightly shorter cycle was judged against the longer one before
    and read as a PAC). An early beat with no pause after it that came abruptly (the first of two PACs)
    does not: the next is judged as before.
    """
    rr1, rr2, qrs = timing["rr_interval_1"], timing["rr_interval_2"], timing["qrs_duration"]
    onset_rr1 = np.concatenate([[np.nan], np.diff(np.asarray(qrs_on, dtype=np.float64)) * 1000.0 / fs])
    out: list[dict] = []
    dominant_qrs = _nanmedian(qrs[_dominant_beats(qrs_corr)])
    cycles = np.where(np.isfinite(onset_rr1), onset_rr1, rr1)
    early, refs = _early_beats(cycles)
    passed: set[int] = set()  # early beats found to be the sinus rate's own (``_sinus_phase``)
    for k in map(int, np.flatnonzero(early)):
        ref = refs[k]
        if k - 1 in passed and not cycles[k] < PREMATURE_RATIO * cycles[k - 1]:
            passed.add(k)  # no shorter than the cycle before it, which was the sinus rate's own
            continue
        after_pvc = out and out[-1]["beat_index"] == k - 1 and out[-1]["kind"] == "PVC"
        if after_pvc and abs(rr1[k - 1] + rr1[k] - ref) <= 0.15 * ref:
            out[-1]["interpolated"] = True
            continue
        width = qrs[k]
        wide = bool(math.isfinite(width) and width >= COMPLETE_BBB_QRS_MS)
        finite = [float(v) if math.isfinite(v) else None for v in (width, dominant_qrs, qrs_corr[k])]
        kind = "PVC" if premature_is_ventricular(*finite) else "PAC"
        paused = rr2[k] > rr1[k] + 0.1 * ref
        near_ectopic = any(k - 3 <= p["beat_index"] < k for p in out)  # a pause or coupling among its cycles
        if kind == "PAC" and not near_ectopic and _sinus_phase(k, cycles, p_lock, steady):
            passed.add(k)
            continue
        if kind == "PAC" and (af_like or not paused):
            continue
        out.append(
            {
                "beat_index": k,
                "time_ms": round(float(r[k]) * 1000.0 / fs, 1),
                "kind": kind,
                "qrs": "wide" if wide else "narrow",
                "qrs_duration_ms": round(float(width), 1) if math.isfinite(width) else None,
                "coupling_ms": round(float(rr1[k]), 1),
                "pause_ms": round(float(rr2[k]), 1),
                "compensatory": bool(abs(rr1[k] + rr2[k] - 2 * ref) <= 0.1 * ref),
                "interpolated": False,
                "morphology_corr": round(float(qrs_corr[k]), 3),
            }
        )
    return out


def _sinus_phase(k: int, cycles: np.ndarray, p_lock: np.ndarray | None, steady: np.ndarray | None) -> bool:
    """Whether early beat ``k`` is the fast phase of a respiratory sinus arrhythmia rather than a PAC.

    Two signs, both needed: its atrial wave is the sinus one (its pre-QRS segment matches the sinus
    beats' median at least as well as nine in ten sinus beats do: a PAC's P wave comes from another
    focus, often on the T wave before it), and its cycle shortened gradually, the one before it already
    by at least half as much (the sinus rate swings with breathing, smoothly; a PAC comes abruptly out of
    a steady rhythm; not judged where a cycle before it is an ectopic beat's coupling or pause). On the
    record's second beat, with no cycle before it, the sinus P wave decides: a PAC is reported on
    evidence of an ectopic beat. A PAC whose P wave looks sinus and that follows a shortening cycle is
    missed."""
    if p_lock is None or steady is None or not steady.any():
        return False
    if not np.isfinite(p_lock[k]) or p_lock[k] < np.percentile(p_lock[steady], 10):
        return False
    if k < 2 or not np.isfinite(cycles[k - 1]):
        return k < 2
    before = cycles[k - 2] - cycles[k - 1]
    return bool(np.isfinite(before) and before >= (cycles[k - 1] - cycles[k]) / 2.0)


def _dominant_beats(qrs_corr: np.ndarray) -> np.ndarray:
    """Beats of the dominant QRS morphology: correlation with the median beat's QRS of at least 0.9 (all
    beats when fewer than three qualify)."""
    dominant = qrs_corr >= 0.9
    return dominant if dominant.sum() >= 3 else np.ones(len(qrs_corr), dtype=bool)


def _qrs_morphology_corr(clean, r, fs, ok_idx) -> np.ndarray:
    """Per beat: correlation of its QRS (all ok leads joined) with the dominant morphology's median beat.

    That is the median of all beats, unless the beats fall into two morphologies unlike each other
    (their median beats correlate under ALIGN_MIN_CORR) of which the second holds at least
    TWO_CLASS_SHARE of the beats, as in ventricular bigeminy. The median of such a mix resembles both,
    so every beat passed as dominant, the premature ones were judged against themselves and the record
    read as a bundle branch block in atrial fibrillation. Then, as the cart programs choose their
    primary beat, the dominant morphology is the one whose beats come later after the beat before them
    (the longer median RR: conducted beats, not the premature ones)."""
    before, after = int(0.08 * fs), int(0.12 * fs)
    rows = np.concatenate([_beat_matrix(clean[i], r, before, after) for i in ok_idx], axis=1)
    template = np.median(rows, axis=0)
    classes = _two_morphologies(rows)
    if classes is not None:
        rr1 = _rr_before(r, fs)
        later = max(classes, key=lambda c: _nanmedian(rr1[c]) if np.isfinite(rr1[c]).any() else -np.inf)
        template = np.median(rows[later], axis=0)
    return _row_corr(rows, template)


def _two_morphologies(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Two classes of beats (boolean masks) whose QRS shapes differ, the second holding at least
    TWO_CLASS_SHARE of the beats, or None. As template matching groups beats: the first class is the beats
    that correlate at ALIGN_MIN_CORR or more with the beat most others do, the second the rest (ectopic
    beats of one focus or several); they count as two where their median beats correlate under
    ALIGN_MIN_CORR."""
    n = len(rows)
    if n < 4:
        return None
    z = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(z, axis=1)
    z = z / np.where(norms > 0, norms, 1.0)[:, None]
    seeds = np.linspace(0, n - 1, min(n, 300)).astype(np.int64)  # long records: a sample of seed beats
    like = (z @ z[seeds].T) >= ALIGN_MIN_CORR  # (beats, seeds)
    first = like[:, int(np.argmax(like.sum(axis=0)))]
    rest = ~first
    if rest.sum() < TWO_CLASS_SHARE * n:
        return None
    a, b = np.median(rows[first], axis=0), np.median(rows[rest], axis=0)
    if _row_corr(a[None, :], b)[0] >= ALIGN_MIN_CORR:
        return None
    return first, rest


def _empty_globals(quality: dict, n_beats: int) -> dict:
    keys = [
        "heart_rate_bpm",
        "rr_ms",
        "rr_sd_ms",
        "rr_irregularity",
        "pr_ms",
        "p_ms",
        "qrs_ms",
        "qt_ms",
        "qtc_ms",
        "qtc_fridericia_ms",
        "qrs_axis_deg",
        "p_axis_deg",
        "t_axis_deg",
        "p_wave_fraction",
        "st_point_ms",
    ]
    g: dict = dict.fromkeys(keys)
    g.update(n_beats=n_beats, st_deviation_mv={}, voltage={}, quality=quality, bad_windows={})
    g.update(delineation_leads=[], ok_leads=[k for k, v in quality.items() if v == "ok"])
    return g


def _not_enough(ecg: ECG, r: np.ndarray, quality: list[str], why: str) -> Measurements:
    qd = dict(zip(LEADS, quality, strict=True))
    return Measurements(
        record_id=ecg.record_id,
        fs=ecg.fs,
        duration_ms=ecg.duration_ms,
        r_peaks_ms=[round(float(x) * 1000.0 / ecg.fs, 1) for x in r],
        global_values=_empty_globals(qd, len(r)),
        leads={n: LeadMeasurements(lead=n, quality=q) for n, q in qd.items()},
        enough_beats=False,
        message=f"not enough beats: {why}",
        content_hash=ecg.content_hash,
    )


def _measure_uncached(ecg: ECG) -> Measurements:
    fs = ecg.fs
    clean = _clean_leads(ecg.signal, fs)
    flat = _flat_leads(clean)
    if flat.all():
        return _not_enough(ecg, np.zeros(0, np.int64), ["flat"] * 12, "every lead is flat (no signal)")
    r, own = _consensus_r_peaks(clean, fs, ~flat)
    periodic = _periodic_r_peaks(clean, fs, ~flat, len(r))
    if periodic is not None:  # the detectors missed most beats of a strongly periodic rhythm
        r, own = periodic, {}
    r, own = _drop_dropout_edges(ecg.signal, r, own, fs)
    r, own = _drop_common_mode_artifacts(clean, r, own, fs, ~flat)
    r = _align_beats(clean, r, fs, np.flatnonzero(~flat))
    if len(r) < 2:
        seconds = ecg.duration_ms / 1000.0
        quality = ["flat" if f else "ok" for f in flat]
        return _not_enough(ecg, r, quality, f"found {len(r)} R peak(s) in {seconds:.1f} s; need at least 2")
    quality = _lead_quality(clean, r, fs, flat)
    ok_idx = _ok_leads(quality)
    reps = _representative_leads(quality)
    qrs_corr = _qrs_morphology_corr(clean, r, fs, ok_idx)
    dominant = _dominant_beats(qrs_corr)
    tremor = _electrode_tremor(clean, r, fs, dominant, flat)
    if tremor is not None and tremor["leads"]:  # the leads it reaches most are left out as noisy
        quality = ["noisy" if LEADS[i] in tremor["leads"] and q == "ok" else q for i, q in enumerate(quality)]
        ok_idx = _ok_leads(quality)
        reps = _representative_leads(quality)
        qrs_corr = _qrs_morphology_corr(clean, r, fs, ok_idx)
        dominant = _dominant_beats(qrs_corr)
    # high-passed only: ecg_clean's 20 ms moving average widens every QRS by about 10 ms at each end
    amp = np.stack([_amplitude_lead(ecg.signal[i], fs) for i in range(12)])
    fid = _shared_fiducials(clean, r, own, fs, reps, ok_idx, dominant, amp)

    # P waves: delineated, plausibly placed AND time-locked to the QRS (pre-QRS segment matches median)
    # the beats on time of the dominant morphology: the P waves of premature beats (atrial bigeminy: half
    # of them) are their own, and a median over both shapes matches neither
    steady = dominant & ~_early_beats(_rr_before(r, fs))[0]
    steady = steady if steady.sum() >= 3 else dominant
    # the atrial waves are read on the leads a limb tremor leaves readable for a P wave (all ok leads
    # where there is none)
    p_ok, p_reps = ok_idx, reps
    if tremor is not None:
        p_quality = ["noisy" if LEADS[i] in tremor["p_leads"] else q for i, q in enumerate(quality)]
        p_ok = [i for i in ok_idx if p_quality[i] == "ok"]
        p_reps = [i for i in _representative_leads(p_quality) if p_quality[i] == "ok"]
    # atrial waves marching through the QRS complexes at a rate of their own (complete AV block), in a
    # regular rhythm: then a P wave that seems locked to the QRS (a few slow beats, each with some P wave
    # in the window before it) is not conducted
    regular = len(r) > 3 and _rr_irregularity(_rr_ms(r, fs)) <= AF_MIN_NORMALISED_RMSSD
    atrial_rate = _dissociated_atrial_rate(clean, r, fs, p_reps[:2], fid) if regular else None
    # flutter waves locked to the QRS at n:1 are no P waves either
    flutter = _flutter_conduction(clean, r, fs, fid, steady, p_ok) if regular and tremor is None else None
    p_lock = _p_consistency(clean, r, fs, p_reps[:2] if len(p_reps) > 1 else p_reps, steady, fid["t_off"])
    # atrial waves time-locked to the dominant QRS
    locked = np.median(p_lock[steady]) >= P_LOCK_RECORD and atrial_rate is None and flutter is None
    p_present = np.isfinite(fid["p_on"]) & (p_lock >= P_LOCK_BEAT) & locked
    for k in ("p_on", "p_peak", "p_off"):
        fid[k] = np.where(p_present, fid[k], np.nan)
    # global PR from the representative beats (per-beat values stay for beat-level claims)
    p_template = (
        _template_p_wave(clean, r, fs, fid, dominant & (p_lock >= P_LOCK_BEAT), p_ok) if locked else None
    )
    if p_template is None and locked and _p_inside_previous_t(fid, r, fs, dominant & (p_lock >= P_LOCK_BEAT)):
        p_template = (math.nan, math.nan)
    if p_template is not None and not math.isfinite(p_template[0]):
        # the representative beats show no P wave (or none apart from the previous T wave): what was locked
        # to the QRS and delineated per beat is not one we can show (a T wave or QRS onset inside the lock
        # window), so those beats have none either
        no_p = dominant & (p_lock >= P_LOCK_BEAT)
        p_present &= ~no_p
        for k in ("p_on", "p_peak", "p_off"):
            fid[k] = np.where(no_p, np.nan, fid[k])

    # inside the T wave not under a limb tremor: its residue on the median beats is a P wave's size and shape
    blocked_p = (
        _blocked_p_wave(
            clean, r, fs, fid, steady & p_present, p_reps, *p_template, in_t_leads=None if tremor else p_ok
        )
        if p_template is not None and math.isfinite(p_template[0])
        else None
    )
    timing = _timing(fid, r, fs)
    st_point = _st_point_ms(r, fs)
    bad = _bad_beats(ecg.signal, clean, r, fs)
    bad[[q != "ok" for q in quality]] = False  # a noisy or flat lead is left out whole already
    leads: dict[str, LeadMeasurements] = {}
    lead_med: dict[str, dict[str, float]] = {}
    for i, name in enumerate(LEADS):
        if quality[i] == "flat":
            leads[name] = LeadMeasurements(lead=name, quality="flat")
            lead_med[name] = {}
            continue
        vals = _measure_lead(clean[i], amp[i], fid, r, fs, st_point)
        if bad[i].any():  # beats inside a bad window of this lead: no values, so no evidence either
            for key in vals:
                vals[key] = np.where(bad[i], np.nan, vals[key])
        beats = _beat_dicts(fid, timing, vals, r, fs, name)
        for k in np.flatnonzero(bad[i]):  # left out of this lead: no values, no fiducials, no evidence
            beats[k] = {key: (v if key == "index" else None) for key, v in beats[k].items()}
        med = {k: _nanmedian(v[dominant]) for k, v in vals.items() if k not in ("p_peak", "t_peak")}
        lead_med[name] = med
        st = med["st_deviation"]
        leads[name] = LeadMeasurements(
            lead=name,
            quality=quality[i],
            beats=beats,
            st_deviation_mv=round(st, 3) if math.isfinite(st) else None,
        )

    ok_names = {LEADS[i] for i in ok_idx}
    g = _global_values(r, fs, timing, p_present, lead_med, ok_names, quality, reps, p_template, steady)
    areas = {}
    if p_template is not None and math.isfinite(p_template[0]):  # the P axis of the representative beats
        limb = [i for i in p_ok if LEADS[i] in LIMB_LEADS]
        areas = _template_p_areas(clean, r, fs, fid, steady & p_present, limb, *p_template)
    # else the single beats' axis, but not over leads a limb tremor leaves unreadable for P waves, nor where
    # the P waves are not consistent (as for the PR: _global_values)
    inconsistent = (g["p_wave_fraction"] or 0.0) < AF_MAX_P_WAVE_FRACTION
    g["p_axis_deg"] = _frontal_axis(areas) if areas else (None if tremor or inconsistent else g["p_axis_deg"])
    g["st_point_ms"] = st_point
    g["electrode_tremor"] = tremor
    g["blocked_p_wave_ms"] = None if blocked_p is None else round(blocked_p, 1)
    g["flutter_conduction"] = flutter
    g["dissociated_atrial_rate_bpm"] = None if atrial_rate is None else round(atrial_rate, 1)
    g["bad_windows"] = {
        LEADS[i]: _windows_ms(bad[i], r, fs, ecg.duration_ms) for i in range(len(LEADS)) if bad[i].any()
    }
    # atrial fibrillation by the criteria's rule (no consistent P waves, irregular RR): premature narrow
    # beats are then part of the irregularity, not PACs
    af_like = (g["p_wave_fraction"] or 0) < AF_MAX_P_WAVE_FRACTION and (
        g["rr_irregularity"] or 0
    ) > AF_MIN_NORMALISED_RMSSD
    premature = _premature_beats(r, fs, timing, qrs_corr, af_like, fid["qrs_on"], p_lock, steady)
    return Measurements(
        record_id=ecg.record_id,
        fs=fs,
        duration_ms=ecg.duration_ms,
        r_peaks_ms=[round(float(x) * 1000.0 / fs, 1) for x in r],
        global_values=g,
        leads=leads,
        premature_beats=premature,
        enough_beats=True,
        message="",
        content_hash=ecg.content_hash,
    )


def _rr_ms(r: np.ndarray, fs: float) -> np.ndarray:
    """RR intervals (ms) between the R peaks, less the gaps of a signal dropout (not beat intervals)."""
    rr = np.diff(r) * 1000.0 / fs
    gap = (rr > 3 * np.median(rr)) & (rr > 2500)
    return rr[~gap] if (~gap).any() else rr


def _rr_irregularity(rr: np.ndarray) -> float:
    """Normalised RMSSD of RR intervals: RMS of successive differences over the mean (NaN from one RR)."""
    return float(np.sqrt(np.mean(np.diff(rr) ** 2)) / rr.mean()) if len(rr) > 1 else float("nan")


def _global_values(
    r, fs, timing, p_present, lead_med, ok_names, quality, reps, p_template=None, dominant=None
) -> dict:
    """The record's values: intervals and the P-wave share over the ``dominant`` beats (the dominant QRS
    morphology: all beats by default), rate and RR over all."""
    qd = dict(zip(LEADS, quality, strict=True))
    dom = np.ones(len(r), dtype=bool) if dominant is None or not dominant.any() else dominant
    timing = {k: v[dom] for k, v in timing.items()}
    p_present = p_present[dom]
    g = _empty_globals(qd, len(r))
    rr = _rr_ms(r, fs)
    mean_rr = float(rr.mean())

    def rnd(x, d=1):
        return round(float(x), d) if math.isfinite(x) else None

    # a record's PR and P duration (and P axis, measure) where P waves precede at least half of these beats
    # (criteria.AF_MAX_P_WAVE_FRACTION: fewer is "no consistent P wave"); not the one or two beats where
    # a P wave was delineated in a rhythm without any
    consistent = bool(p_template) or float(np.mean(p_present)) >= AF_MAX_P_WAVE_FRACTION
    g.update(
        heart_rate_bpm=rnd(60000.0 / mean_rr),
        rr_ms=rnd(mean_rr),
        rr_sd_ms=rnd(float(rr.std())) if len(rr) > 1 else None,
        rr_irregularity=rnd(_rr_irregularity(rr), 3),
        pr_ms=rnd(p_template[0] if p_template else _nanmedian(timing["pr_interval"])) if consistent else None,
        p_ms=rnd(p_template[1] if p_template else _nanmedian(timing["p_duration"])) if consistent else None,
        qrs_ms=rnd(_nanmedian(timing["qrs_duration"])),
        qt_ms=rnd(_nanmedian(timing["qt_interval"])),
        qtc_ms=rnd(_nanmedian(timing["qtc_interval"])),
        qtc_fridericia_ms=rnd(_nanmedian(timing["qtc_fridericia"])),
        p_wave_fraction=rnd(float(np.mean(p_present)), 3),
        delineation_leads=[LEADS[i] for i in reps],
        ok_leads=sorted(ok_names, key=LEADS.index),
    )
    for key, area in (("qrs_axis_deg", "qrs_area"), ("p_axis_deg", "p_area"), ("t_axis_deg", "t_area")):
        g[key] = _frontal_axis({n: lead_med[n].get(area, float("nan")) for n in LIMB_LEADS if n in ok_names})
    g["st_deviation_mv"] = {
        n: round(lead_med[n]["st_deviation"], 3)
        for n in LEADS
        if n in ok_names and math.isfinite(lead_med[n].get("st_deviation", float("nan")))
    }
    g["voltage"] = _voltage(lead_med, ok_names)
    return _clean(g)


# ----------------------------------------------------------------------------------------------------
# Text for prompts
# ----------------------------------------------------------------------------------------------------


def _fmt(value, unit: str | None) -> str:
    if value is None:
        return "NA"
    if isinstance(value, str):
        return value
    if unit == "mV":
        return f"{value:.2f}"
    return f"{value:.0f}"


def machine_measurements_text(m: Measurements, max_beats: int | None = None) -> str:
    """The measurements as text, the way grounding prompts present them.

    A summary line of global values, then for each lead (in standard order) its quality and, for each of
    the 14 features, the time-ordered list of per-beat values ("NA" where not measurable). Flat leads are
    listed as such. ``max_beats`` keeps only the first beats (prompts for long records).

    >>> from gem_core.samples import synthetic_ecg
    >>> text = machine_measurements_text(measure(synthetic_ecg(heart_rate=75)))
    >>> text.splitlines()[0].startswith("Global: heart rate")
    True
    """
    g = m.global_values
    if not m.enough_beats:
        return f"Global: {m.message}."

    def val(key, unit):
        v = g.get(key)
        return "NA" if v is None else f"{v:.0f} {unit}"

    lines = [
        "Global: "
        + "; ".join(
            [
                f"heart rate {val('heart_rate_bpm', 'bpm')}",
                f"RR {val('rr_ms', 'ms')} (SD {val('rr_sd_ms', 'ms')})",
                f"PR {val('pr_ms', 'ms')}",
                f"QRS {val('qrs_ms', 'ms')}",
                f"QT {val('qt_ms', 'ms')}",
                f"QTc {val('qtc_ms', 'ms')}",
                f"QRS axis {val('qrs_axis_deg', 'deg')}",
                f"P waves in {100 * (g.get('p_wave_fraction') or 0):.0f}% of beats",
            ]
        )
    ]
    for pb in m.premature_beats:
        lines.append(
            f"Premature beat: {pb['kind']} ({pb['qrs']} QRS) at {pb['time_ms']:.0f} ms, "
            f"coupling {pb['coupling_ms']:.0f} ms, pause {pb['pause_ms']:.0f} ms"
        )
    for name, lm in m.leads.items():
        if lm.quality == "flat" or not lm.beats:
            lines.append(f"Lead {name}: flat (no signal)")
            continue
        beats = lm.beats[:max_beats] if max_beats else lm.beats
        lines.append(f"Lead {name}" + (" (noisy)" if lm.quality == "noisy" else "") + ":")
        for feat, unit in BEAT_FEATURES.items():
            values = ", ".join(_fmt(b.get(feat), unit) for b in beats)
            label = feat if unit is None else f"{feat} ({unit})"
            lines.append(f"  {label}: [{values}]")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------


def _load(path: str) -> ECG:
    from gem_core.ecg import load_ecg

    return load_ecg(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m gem_core.features PATH [--text]``: print the measurements as JSON (or as prompt text)."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # one ``error:`` line and status 2, like bad input
            print(f"error: {message} (usage: python -m gem_core.features PATH [--text])", file=sys.stderr)
            raise SystemExit(2)

    parser = Parser(prog="python -m gem_core.features", description=main.__doc__)
    parser.add_argument("path", help="an ECG record (e.g. a WFDB .hea)")
    parser.add_argument("--text", action="store_true", help="print machine_measurements_text instead of JSON")
    args = parser.parse_args(argv)
    try:
        m = measure(_load(args.path))
    except GemError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if args.text:
        print(machine_measurements_text(m))
    else:
        print(json.dumps(m.to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
