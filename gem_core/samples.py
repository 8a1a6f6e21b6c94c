"""Sample ECGs for the app's gallery, tests and benchmarks, behind one interface.

A ``SampleSource`` lists ``SampleInfo`` entries (cheaply: no signal is read) and loads one as an ``ECG``:

- ``SyntheticSource``: deterministic simulated normal 12-lead ECGs (``synthetic_ecg``, a sum-of-Gaussians
  beat model) at several heart rates; the offline default gallery.
- ``FolderSource``: every record in a folder (``GEM_SAMPLES_DIR``), in any format ``load_ecg`` reads.
- ``PtbxlSource``: a PTB-XL tree (``ptbxl_database.csv`` + ``records500/``/``records100/``) with each
  record's report text and SCP-ECG labels.

Sample ids are ``"<source>:<key>"`` and unique across the sources of ``default_sources``.

>>> sources = default_sources(Settings())
>>> info = sources[0].list()[2]
>>> info.id, info.title
('synthetic:75bpm', 'Synthetic sinus rhythm, 75 bpm')
>>> load_sample(info.id, sources).fs
500.0
"""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path, PurePosixPath
from typing import Protocol

import numpy as np

from gem_core import formats
from gem_core.ecg import ECG, LEADS, load_ecg
from gem_core.ecg_formats import find_records, parse_header_comments
from gem_core.errors import GemError
from gem_core.settings import Settings, get_settings

SYNTHETIC_RATES = (45, 60, 75, 100, 120, 150)
SYNTHETIC_SOURCE = "gem_core.samples.synthetic_ecg (sum-of-Gaussians normal sinus model)"


@dataclass(frozen=True)
class SampleInfo:
    """One gallery entry; ``id`` is what ``SampleSource.load`` takes."""

    id: str
    title: str
    source: str
    labels: tuple[str, ...] = ()
    label_system: str = ""
    description: str = ""  # e.g. the PTB-XL report text
    fs: float | None = None
    duration_s: float | None = None


class SampleSource(Protocol):
    """Where gallery ECGs come from."""

    name: str  # the id prefix
    label: str  # what the UI shows

    def list(self) -> list[SampleInfo]: ...

    def load(self, sample_id: str) -> ECG: ...


def _key(sample_id: str, source: str) -> str:
    prefix, sep, key = sample_id.partition(":")
    if not sep or prefix != source or not key:
        raise GemError(f"sample id {sample_id!r} does not belong to the {source!r} samples")
    return key


# ------------------------------------------------------------------------------------------ synthetic
#
# The synthetic gallery is a sum-of-Gaussians beat model of a normal adult 12-lead ECG (after McSharry
# et al., IEEE Trans Biomed Eng 2003;50:289, but with wave times in ms from the R peak instead of phase
# angles, so that the QRS keeps its width at every rate). Normal adult ranges it is built to (AHA/ACCF/HRS
# 2009 Recommendations for the Standardization and Interpretation of the ECG, Parts I-V; Surawicz &
# Knilans, Chou's Electrocardiography in Clinical Practice, 6th ed. 2008, ch. 1-2; Macfarlane & Lawrie,
# Comprehensive Electrocardiology, 2nd ed. 2010, normal limits):
#   P wave < 120 ms and <= 0.25 mV, upright in I, II and aVF, inverted in aVR, biphasic in V1;
#   PR 120-200 ms; QRS 80-110 ms; frontal QRS axis -30..+90 deg; R-wave progression from rS in V1 to qR
#   in V6 with the transition (R = S) at V3/V4, q waves < 40 ms and small; Sokolow-Lyon < 3.5 mV and
#   QRS >= 0.5 mV in the limb leads, >= 1.0 mV in the chest leads; ST within 0.1 mV of the baseline
#   (0.2 mV in V2-V3); T upright in I, II and V2-V6, inverted in aVR; QTc (Bazett) 350-450 ms.

# Timing, ms relative to the R peak of the limb leads.
SYN_QRS_ONSET_MS = -40.0  # the R peaks 40 ms into the QRS (intrinsicoid deflection in V5-V6 < 50 ms)
SYN_QRS_MS = 90.0  # QRS duration (normal 80-110 ms): q, R and S Gaussians fill this span
SYN_PR_MS = 160.0  # P onset to QRS onset at 75 bpm (normal 120-200 ms) ...
SYN_PR_MS_PER_BPM = 0.3  # ... shortening with the rate (sympathetic tone): 169 ms at 45, 138 at 150 bpm
SYN_P_MS = 100.0  # P-wave duration (normal < 120 ms): a Gaussian of SD SYN_P_MS / 5 (+-2.5 SD)
SYN_QTC_MS = 420.0  # QT = SYN_QTC_MS * sqrt(RR in s) (Bazett), QRS onset to the tangent-method T end
SYN_T_DOWN_MS = 45.0  # SD of the T wave's descending limb at RR 1 s, scaled by RR (s): the T peak
# moves later as the T narrows at fast rates, so the ST level at J+60 ms stays near the baseline
SYN_T_UP_SPAN = 3.7  # the ascending limb rises from the J point to the T peak over this many SDs
# Heart-rate variability: respiratory sinus arrhythmia (a sine at SYN_RESP_HZ, amplitude
# SYN_RSA_FRACTION of the RR at 60 bpm and proportional to RR, so smaller at faster rates) plus white
# beat-to-beat jitter (SD SYN_RR_JITTER of the RR), rescaled so that the mean RR is exactly 60 / rate.
SYN_RESP_HZ = 0.25
SYN_RSA_FRACTION = 0.02
SYN_RR_JITTER = 0.004
# Frontal-plane waves as heart vectors (magnitude mV, direction deg, Gaussian centre ms, SD ms); leads I
# (0 deg) and II (+60 deg) are their projections, III, aVR, aVL and aVF follow by Einthoven/Goldberger.
# The P and T centres and SDs come from the timing above (None here).
SYN_FRONTAL = {
    "P": (0.15, 55.0, None, None),  # P axis +55 deg: 0.15 mV in II, upright I/II/aVF, inverted aVR
    "Q": (0.08, -170.0, -24.0, 6.0),  # septal forces to the right: small q in I, II and aVL
    "R": (1.25, 52.0, 0.0, 10.0),  # main QRS vector: R 1.2 mV in II, 0.8 in I; QRS axis about +50 deg
    "S": (0.20, -120.0, 24.0, 9.0),  # terminal basal forces: small s in I, II and aVF
    "T": (0.35, 45.0, None, None),  # T axis +45 deg (QRS-T angle about 15 deg): inverted in aVR
}
# Chest leads, mV: P, q depth, R, S depth, T; then the R and S centres and the S SD in ms (activation
# reaches the right chest leads first and their S is broad): rS in V1-V2, R = S in V3, qRs in V4-V6.
SYN_PRECORDIAL = {
    "V1": (0.06, 0.00, 0.25, 0.90, 0.15, -15.0, 10.0, 11.0),
    "V2": (0.08, 0.00, 0.50, 1.50, 0.55, -10.0, 14.0, 11.0),
    "V3": (0.08, 0.00, 0.90, 0.90, 0.50, -5.0, 18.0, 11.0),
    "V4": (0.08, 0.03, 1.40, 0.50, 0.45, 0.0, 22.0, 9.0),
    "V5": (0.08, 0.07, 1.50, 0.25, 0.35, 0.0, 24.0, 9.0),
    "V6": (0.07, 0.06, 1.20, 0.12, 0.25, 0.0, 26.0, 9.0),
}
SYN_V1_P_NEGATIVE_MV = 0.04  # the later, negative (left atrial) half of the biphasic P in V1
_MODEL_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # the rest are derived


def _rr_sequence(heart_rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n RR intervals (s) with respiratory sinus arrhythmia and jitter; their mean is 60 / heart_rate."""
    rr0 = 60.0 / heart_rate
    k = np.arange(n)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    rsa = SYN_RSA_FRACTION * rr0 * np.sin(2.0 * np.pi * SYN_RESP_HZ * rr0 * k + phase)
    rr = rr0 * (1.0 + rsa + SYN_RR_JITTER * rng.standard_normal(n))
    return rr * (rr0 / rr.mean())


def _gauss(t_ms: np.ndarray, centre: float, sd_before: float, sd_after: float | None = None) -> np.ndarray:
    """A Gaussian bump of height 1 (two half-Gaussians when the SDs differ)."""
    sd = np.where(t_ms < centre, sd_before, sd_before if sd_after is None else sd_after)
    return np.exp(-0.5 * ((t_ms - centre) / sd) ** 2)


def _beat(t_ms: np.ndarray, rr_s: float) -> np.ndarray:
    """One beat, R peak at t_ms = 0, after an RR of rr_s seconds: leads I, II, V1-V6 in mV, (8, len)."""
    pr = SYN_PR_MS - SYN_PR_MS_PER_BPM * (60.0 / rr_s - 75.0)
    p_centre, p_sd = SYN_QRS_ONSET_MS - pr + SYN_P_MS / 2, SYN_P_MS / 5
    t_down = SYN_T_DOWN_MS * rr_s
    t_peak = SYN_QRS_ONSET_MS + SYN_QTC_MS * np.sqrt(rr_s) - 2.0 * t_down  # tangent: T end = peak + 2 SD
    t_up = (t_peak - (SYN_QRS_ONSET_MS + SYN_QRS_MS)) / SYN_T_UP_SPAN
    shapes = {
        "P": _gauss(t_ms, p_centre, p_sd),
        "T": _gauss(t_ms, t_peak, t_up, t_down),
        **{name: _gauss(t_ms, c, sd) for name, (_, _, c, sd) in SYN_FRONTAL.items() if c is not None},
    }
    out = np.zeros((len(_MODEL_LEADS), len(t_ms)))
    for name, (mag, deg, *_) in SYN_FRONTAL.items():
        out[0] += mag * np.cos(np.radians(deg)) * shapes[name]
        out[1] += mag * np.cos(np.radians(deg - 60.0)) * shapes[name]
    q_centre, q_sd = SYN_FRONTAL["Q"][2:]
    for i, lead in enumerate(_MODEL_LEADS[2:], start=2):
        p, q, r, s, t, r_centre, s_centre, s_sd = SYN_PRECORDIAL[lead]
        if lead == "V1":  # biphasic P: right atrium first (up), then left atrium (down)
            out[i] += p * _gauss(t_ms, p_centre - 12.0, 0.7 * p_sd)
            out[i] -= SYN_V1_P_NEGATIVE_MV * _gauss(t_ms, p_centre + 22.0, 0.7 * p_sd)
        else:
            out[i] += p * shapes["P"]
        out[i] += -q * _gauss(t_ms, q_centre, q_sd) + r * _gauss(t_ms, r_centre, SYN_FRONTAL["R"][3])
        out[i] += -s * _gauss(t_ms, s_centre, s_sd) + t * shapes["T"]
    return out


@lru_cache(maxsize=32)
def _simulate(heart_rate: int, duration_s: float, fs: int, seed: int, noise: float) -> np.ndarray:
    """The (12, N) float32 signal of ``synthetic_ecg`` (cached: callers copy it)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * fs))
    rr0 = 60.0 / heart_rate
    # The first R peak 0.3 s + 0.3 RR into the record (its whole P wave and the baseline before it
    # inside), moved later when the record would otherwise end within 0.15 s after an R peak (a cut
    # QRS). The m intervals from it to the last R peak inside the record vary, with a mean of exactly
    # rr0; the beats outside, which complete the waves at the edges, are rr0 apart.
    first = 0.3 + 0.3 * rr0
    gap = (duration_s - first) % rr0  # from the last R peak to the end
    if gap < 0.15:
        first += gap + 0.05
    m = max(int((duration_s - first) // rr0), 0)
    intervals = np.concatenate([[rr0] * 2, _rr_sequence(heart_rate, m, rng) if m else [], [rr0] * 3])
    r_times = first - 2 * rr0 + np.concatenate([[0.0], np.cumsum(intervals)])
    rr = np.concatenate([[rr0], intervals])  # the RR before each beat (its QT follows it)
    t_ms = np.arange(n) * 1000.0 / fs
    base = np.zeros((len(_MODEL_LEADS), n))
    for k, r_s in enumerate(r_times):
        # ms around the R peak outside which every wave of the beat is below 1e-6 of its height
        window = (-450.0, 300.0 + 600.0 * max(rr[k], 1.0))
        lo, hi = np.searchsorted(t_ms, [r_s * 1000.0 + window[0], r_s * 1000.0 + window[1]])
        if hi > lo:
            base[:, lo:hi] += _beat(t_ms[lo:hi] - r_s * 1000.0, rr[k])
    if noise > 0:
        base += rng.normal(0.0, noise, base.shape)
    i, ii = base[0], base[1]
    limb = [i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2]  # I, II, III, aVR, aVL, aVF
    return np.vstack([np.array(limb), base[2:]]).astype(np.float32)


def _synthetic_report(sig: np.ndarray, fs: float) -> dict:
    """The loading report of a simulated record: nothing resampled, dropped or missing."""
    return {
        "source_format": "synthetic",
        "fs_original": fs,
        "len_original": sig.shape[1],
        "original_leads": list(LEADS),
        "derived_leads": ["III", "aVR", "aVL", "aVF"],
        "dropped_channels": [],
        "nan_count": 0,
        "warnings": [],
    }


def synthetic_ecg(
    heart_rate: int = 75, duration_s: float = 10.0, fs: int = 500, seed: int = 0, noise: float = 0.01
) -> ECG:
    """A deterministic simulated normal 12-lead ECG in sinus rhythm at a known mean heart rate.

    A sum-of-Gaussians beat model (constants ``SYN_*`` above, with the normal ranges they follow): each
    beat has P, q, R, S and T waves placed in ms from its R peak, so the QRS stays 90 ms wide at every
    rate; PR is 160 ms at 75 bpm (169 at 45, 138 at 150) and QT follows Bazett (QT = 420 ms x
    sqrt(RR in s), QRS onset to the tangent-method T end). The limb waves are heart vectors in the
    frontal plane (P axis +55, QRS axis about +50, T axis +45 degrees) projected on leads I and II;
    III, aVR, aVL and aVF are derived from I and II (Einthoven/Goldberger) as a real recording would
    have them. V1-V6 show a normal R-wave progression (rS to qRs, transition V3/V4) and upright T waves.
    RR intervals vary a little (respiratory sinus arrhythmia and jitter from a numpy Generator seeded
    with ``seed``) around a mean of exactly 60 / ``heart_rate`` s; ``noise`` is the SD (mV) of white
    noise added to I, II and V1-V6. The same arguments always give the same array.

    ``gem_core.features.measure`` reads, at 45-150 bpm: PR 126-172 ms, QRS 92-94 ms, QTc 398-414 ms,
    QRS axis about +51 degrees (tests/test_samples.py checks these and the interpreter's labels).

    >>> ecg = synthetic_ecg(heart_rate=60, duration_s=10)
    >>> ecg.signal.shape, ecg.fs, ecg.record_id
    ((12, 5000), 500.0, 'synthetic-60bpm')
    """
    if not 10 <= heart_rate <= 300 or duration_s <= 0 or fs <= 0:
        raise GemError(
            f"synthetic_ecg needs 10-300 bpm, a positive duration and fs; got {heart_rate} bpm, "
            f"{duration_s} s, {fs} Hz"
        )
    sig = _simulate(int(heart_rate), float(duration_s), int(fs), int(seed), float(noise))
    return ECG(
        signal=sig.copy(),
        fs=fs,
        record_id=f"synthetic-{heart_rate}bpm",
        metadata={"source": SYNTHETIC_SOURCE, "heart_rate_bpm": heart_rate},
        report=_synthetic_report(sig, fs),
    )


def _rhythm_name(heart_rate: int) -> str:
    if heart_rate < 60:
        return "sinus bradycardia"
    if heart_rate > 100:
        return "sinus tachycardia"
    return "sinus rhythm"


class SyntheticSource:
    """Simulated sinus rhythm at ``rates`` (bpm): offline, deterministic, no patient data."""

    name = "synthetic"
    label = "Synthetic (normal sinus model)"

    def __init__(self, rates: tuple[int, ...] = SYNTHETIC_RATES, duration_s: float = 10.0, fs: int = 500):
        self.rates, self.duration_s, self.fs = tuple(rates), duration_s, fs

    def list(self) -> list[SampleInfo]:
        return [
            SampleInfo(
                id=f"synthetic:{hr}bpm",
                title=f"Synthetic sinus rhythm, {hr} bpm",
                source=self.name,
                labels=(_rhythm_name(hr),),
                label_system="synthetic",
                description=f"simulated normal ECG, {hr} bpm, {self.duration_s:g} s at {self.fs} Hz",
                fs=float(self.fs),
                duration_s=self.duration_s,
            )
            for hr in self.rates
        ]

    def load(self, sample_id: str) -> ECG:
        key = _key(sample_id, self.name)
        rate = key.removesuffix("bpm")
        if not rate.isdigit() or int(rate) not in self.rates:
            raise GemError(
                f"no synthetic sample {sample_id!r}; rates are {', '.join(map(str, self.rates))} bpm"
            )
        ecg = synthetic_ecg(int(rate), self.duration_s, self.fs)
        ecg.metadata.update(labels=[_rhythm_name(int(rate))], label_system="synthetic")
        return ecg


# --------------------------------------------------------------------------------------------- demo
#
# Demo records of what the tool is for, built on the same beat model (``_beat``, ``SYN_*``) with the
# changes each finding is defined by, all additive terms in leads I, II and V1-V6 (the other limb leads
# follow by Einthoven/Goldberger). Criteria built to (AHA/ACCF/HRS 2009 Parts II-IV; ESC 2020 AF
# guidelines; Fourth Universal Definition of MI 2018):
#   AF: no P waves, fibrillatory waves (4-8 Hz, < 0.1 mV), irregularly irregular RR;
#   PVC: early (coupling 60% of RR), wide (> 120 ms) and bizarre QRS without a P, discordant T,
#        full compensatory pause; PAC: early (70% of RR), narrow QRS after an early, smaller P, reset;
#   RBBB: QRS >= 120 ms with a late R' in V1-V2 and a broad terminal S in I, aVL, V5-V6;
#   LBBB: QRS >= 140 ms, broad R in I, aVL, V5-V6, deep S (rS/QS) in V1-V3;
#   first-degree AV block: PR > 200 ms (here 280 ms); brady/tachycardia: < 60 / > 100 bpm;
#   ST elevation >= 0.1 mV (here 0.25 mV) in II, III, aVF (reciprocal depression in aVL);
#   ST depression >= 0.05 mV horizontal (here 0.15 mV) in V4-V6;
#   low voltage: QRS amplitude < 0.5 mV in every limb lead and < 1.0 mV in every chest lead.

DEMO_F_WAVE_MV = 0.05  # fibrillatory waves (AF): amplitude in V1, a third of it in the limb leads
DEMO_F_WAVE_HZ = 6.0
DEMO_AF_RR_CV = 0.22  # irregularly irregular ventricular response: RR SD / mean
DEMO_PVC_COUPLING = 0.6
DEMO_PAC_COUPLING = 0.7
DEMO_AVB_PR_MS = 280.0
DEMO_STE_MV = 0.25
DEMO_STD_MV = 0.15
DEMO_LOW_VOLTAGE_SCALE = 0.35  # limb QRS 1.25 -> 0.44 mV, largest chest QRS 2.0 -> 0.7 mV


def _p_wave(t_ms: np.ndarray, rr_s: float, shift_ms: float = 0.0) -> np.ndarray:
    """The P wave of ``_beat`` alone (leads I, II, V1-V6), moved by ``shift_ms``."""
    pr = SYN_PR_MS - SYN_PR_MS_PER_BPM * (60.0 / rr_s - 75.0)
    centre, sd = SYN_QRS_ONSET_MS - pr + SYN_P_MS / 2 + shift_ms, SYN_P_MS / 5
    out = np.zeros((len(_MODEL_LEADS), len(t_ms)))
    mag, deg = SYN_FRONTAL["P"][:2]
    shape = _gauss(t_ms, centre, sd)
    out[0] = mag * np.cos(np.radians(deg)) * shape
    out[1] = mag * np.cos(np.radians(deg - 60.0)) * shape
    for i, lead in enumerate(_MODEL_LEADS[2:], start=2):
        p = SYN_PRECORDIAL[lead][0]
        if lead == "V1":
            out[i] = p * _gauss(t_ms, centre - 12.0, 0.7 * sd)
            out[i] -= SYN_V1_P_NEGATIVE_MV * _gauss(t_ms, centre + 22.0, 0.7 * sd)
        else:
            out[i] = p * shape
    return out


def _wave(
    t_ms: np.ndarray, frontal: tuple[float, float], chest: dict, centre: float, sd: float, sd_after=None
):
    """One Gaussian wave: a frontal heart vector (mV, degrees) on I and II, and chest-lead amplitudes."""
    shape = _gauss(t_ms, centre, sd, sd_after)
    out = np.zeros((len(_MODEL_LEADS), len(t_ms)))
    mag, deg = frontal
    out[0] = mag * np.cos(np.radians(deg)) * shape
    out[1] = mag * np.cos(np.radians(deg - 60.0)) * shape
    for i, lead in enumerate(_MODEL_LEADS[2:], start=2):
        out[i] = chest.get(lead, 0.0) * shape
    return out


def _st_shift(t_ms: np.ndarray, rr_s: float, frontal: tuple[float, float], chest: dict) -> np.ndarray:
    """A level shift of the ST segment: from the J point (QRS end) into the T wave, smooth at both ends."""
    j = SYN_QRS_ONSET_MS + SYN_QRS_MS
    t_peak = SYN_QRS_ONSET_MS + SYN_QTC_MS * np.sqrt(rr_s) - 2.0 * SYN_T_DOWN_MS * rr_s
    plateau = 1.0 / (1.0 + np.exp(-(t_ms - j) / 6.0)) * (1.0 / (1.0 + np.exp((t_ms - t_peak) / 25.0)))
    out = np.zeros((len(_MODEL_LEADS), len(t_ms)))
    mag, deg = frontal
    out[0] = mag * np.cos(np.radians(deg)) * plateau
    out[1] = mag * np.cos(np.radians(deg - 60.0)) * plateau
    for i, lead in enumerate(_MODEL_LEADS[2:], start=2):
        out[i] = chest.get(lead, 0.0) * plateau
    return out


def _rbbb(t_ms, rr_s):  # late rightward, anterior forces: R' in V1-V2, broad S in I, aVL, V5-V6
    late = _wave(t_ms, (0.3, 180.0), {"V1": 1.2, "V2": 0.8, "V5": -0.35, "V6": -0.4}, 62.0, 20.0)
    return _beat(t_ms, rr_s) + late


def _lbbb(t_ms, rr_s):  # slow leftward, posterior activation: broad R in I, aVL, V5-V6, deep S in V1-V3
    slow = _wave(
        t_ms,
        (0.75, -10.0),
        {"V1": -0.9, "V2": -1.2, "V3": -0.6, "V4": 0.3, "V5": 0.7, "V6": 0.8},
        48.0,
        28.0,
    )
    return _beat(t_ms, rr_s) + slow


def _avb(t_ms, rr_s):
    pr = SYN_PR_MS - SYN_PR_MS_PER_BPM * (60.0 / rr_s - 75.0)
    return _beat(t_ms, rr_s) - _p_wave(t_ms, rr_s) + _p_wave(t_ms, rr_s, pr - DEMO_AVB_PR_MS)


def _no_p(t_ms, rr_s):
    return _beat(t_ms, rr_s) - _p_wave(t_ms, rr_s)


def _ste(t_ms, rr_s):  # inferior injury current: a +90 degree ST vector
    return _beat(t_ms, rr_s) + _st_shift(t_ms, rr_s, (DEMO_STE_MV / np.cos(np.radians(30.0)), 90.0), {})


def _std(t_ms, rr_s):  # subendocardial: horizontal depression in V4-V6
    d = -DEMO_STD_MV
    return _beat(t_ms, rr_s) + _st_shift(t_ms, rr_s, (0.0, 0.0), {"V4": d, "V5": d, "V6": d})


def _low_voltage(t_ms, rr_s):
    return DEMO_LOW_VOLTAGE_SCALE * _beat(t_ms, rr_s)


def _pvc(t_ms, rr_s):
    """A ventricular ectopic beat: no P, a wide (about 160 ms) bizarre QRS, a large discordant T."""
    qrs = _wave(
        t_ms, (1.6, -70.0), {"V1": 1.1, "V2": 1.5, "V3": 1.0, "V4": -0.4, "V5": -0.9, "V6": -1.0}, 20, 30
    )
    t = _wave(t_ms, (0.55, 110.0), {"V1": -0.4, "V2": -0.5, "V3": -0.3, "V5": 0.3, "V6": 0.3}, 300, 55, 45)
    return qrs + t


def _pac(t_ms, rr_s):  # an early, smaller P (ectopic focus) before a normal QRS
    return _beat(t_ms, rr_s) - 0.5 * _p_wave(t_ms, rr_s)


def _render_beats(beats, duration_s: float, fs: int, rng: np.random.Generator, noise: float, extra=None):
    """(12, N) float32 from [(R time s, RR before s, beat function)], plus ``extra(t_ms)`` (8, N)."""
    n = int(round(duration_s * fs))
    t_ms = np.arange(n) * 1000.0 / fs
    base = np.zeros((len(_MODEL_LEADS), n))
    for r_s, rr, fn in beats:
        lo, hi = np.searchsorted(t_ms, [r_s * 1000.0 - 600.0, r_s * 1000.0 + 300.0 + 600.0 * max(rr, 1.0)])
        if hi > lo:
            base[:, lo:hi] += fn(t_ms[lo:hi] - r_s * 1000.0, rr)
    if extra is not None:
        base += extra(t_ms)
    if noise > 0:
        base += rng.normal(0.0, noise, base.shape)
    i, ii = base[0], base[1]
    limb = [i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2]
    return np.vstack([np.array(limb), base[2:]]).astype(np.float32)


def _regular(rate: float, duration_s: float, rng, fn=_beat, ectopic: dict | None = None):
    """Beats of a sinus rhythm at ``rate`` (mild sinus arrhythmia), with ``ectopic`` {beat index: kind}:
    "PVC" comes early with a full compensatory pause, "PAC" early and resets the sinus node."""
    rr0 = 60.0 / rate
    k_max = int(duration_s / rr0) + 4
    rr = _rr_sequence(rate, k_max, rng)
    beats, t = [], 0.3 + 0.3 * rr0 - 2 * rr0
    for k in range(k_max):
        kind = (ectopic or {}).get(k)
        if kind == "PVC":
            beats.append((t + DEMO_PVC_COUPLING * rr[k], DEMO_PVC_COUPLING * rr[k], _pvc))
            t += 2 * rr[k]  # the sinus beat it hid was not conducted: full compensatory pause
            beats.append((t, 2 * rr[k], fn))
            continue
        if kind == "PAC":
            t += DEMO_PAC_COUPLING * rr[k]
            beats.append((t, DEMO_PAC_COUPLING * rr[k], _pac))
            continue
        t += rr[k]
        beats.append((t, rr[k], fn))
    return beats


def _af(duration_s: float, rng):
    """AF at about 100 bpm: irregularly irregular RR (gamma-distributed), no P waves, f waves."""
    rr_mean = 0.6
    shape = 1.0 / DEMO_AF_RR_CV**2
    beats, t = [], -1.0
    while t < duration_s + 1.0:
        rr = max(0.3, float(rng.gamma(shape, rr_mean / shape)))
        t += rr
        beats.append((t, rr, _no_p))
    phase = rng.uniform(0, 2 * np.pi, 3)

    def f_waves(t_ms):
        s = t_ms / 1000.0
        wave = sum(
            np.sin(2 * np.pi * DEMO_F_WAVE_HZ * k * s + phase[j]) / k for j, k in enumerate((1.0, 1.13, 0.87))
        ) * (1 + 0.3 * np.sin(2 * np.pi * 0.3 * s))
        out = np.zeros((len(_MODEL_LEADS), len(t_ms)))
        amp = DEMO_F_WAVE_MV / 2.0
        out[0], out[1], out[2], out[3] = amp / 3 * wave, amp / 2 * wave, amp * wave, amp / 2 * wave
        return out

    return beats, f_waves


# kind -> (title, labels (gem_core.labels abbreviations), what the record was built to show)
DEMO_RECORDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "af": ("Atrial fibrillation", ("AF",), "irregularly irregular RR near 100 bpm, no P waves, f waves"),
    "pvc": (
        "Premature ventricular contractions",
        ("PVC",),
        "sinus 70 bpm, two wide early beats, full pauses",
    ),
    "pac": ("Premature atrial contractions", ("PAC",), "sinus 70 bpm, two narrow early beats"),
    "rbbb": ("Right bundle branch block", ("RBBB",), "QRS about 140 ms, rsR' in V1, broad S in I and V6"),
    "lbbb": ("Left bundle branch block", ("LBBB",), "QRS about 150 ms, broad R in I and V6, deep S in V1"),
    "avb1": ("First-degree AV block", ("I-AVB",), f"sinus 65 bpm, PR {DEMO_AVB_PR_MS:g} ms"),
    "ste": ("Inferior ST elevation", ("STE",), f"ST up {DEMO_STE_MV:g} mV in II, III, aVF"),
    "std": ("Lateral ST depression", ("STD",), f"ST down {DEMO_STD_MV:g} mV in V4-V6"),
    "brady": ("Sinus bradycardia", ("SB",), "sinus rhythm, 48 bpm"),
    "tachy": ("Sinus tachycardia", ("STach",), "sinus rhythm, 118 bpm"),
    "lowv": ("Low QRS voltage", ("LQRSV",), "QRS < 0.5 mV in the limb leads, < 1.0 mV in the chest leads"),
}


def demo_ecg(kind: str, duration_s: float = 10.0, fs: int = 500, seed: int = 0, noise: float = 0.01) -> ECG:
    """A synthetic record built to show one finding (``DEMO_RECORDS``), labelled synthetic.

    >>> demo_ecg("rbbb").metadata["labels"], demo_ecg("rbbb").record_id
    (['RBBB'], 'synthetic-rbbb')
    """
    if kind not in DEMO_RECORDS:
        raise GemError(f"no demo record {kind!r}; kinds are {', '.join(DEMO_RECORDS)}")
    rng = np.random.default_rng(seed)
    extra = None
    builders = {
        "pvc": lambda: _regular(70, duration_s, rng, ectopic={4: "PVC", 9: "PVC"}),
        "pac": lambda: _regular(70, duration_s, rng, ectopic={4: "PAC", 9: "PAC"}),
        "rbbb": lambda: _regular(72, duration_s, rng, _rbbb),
        "lbbb": lambda: _regular(72, duration_s, rng, _lbbb),
        "avb1": lambda: _regular(65, duration_s, rng, _avb),
        "ste": lambda: _regular(78, duration_s, rng, _ste),
        "std": lambda: _regular(85, duration_s, rng, _std),
        "brady": lambda: _regular(48, duration_s, rng),
        "tachy": lambda: _regular(118, duration_s, rng),
        "lowv": lambda: _regular(76, duration_s, rng, _low_voltage),
    }
    if kind == "af":
        beats, extra = _af(duration_s, rng)
    else:
        beats = builders[kind]()
    sig = _render_beats(beats, duration_s, fs, rng, noise, extra)
    title, labels, built = DEMO_RECORDS[kind]
    return ECG(
        signal=sig,
        fs=fs,
        record_id=f"synthetic-{kind}",
        metadata={
            "source": SYNTHETIC_SOURCE,
            "synthetic": True,
            "labels": list(labels),
            "label_system": "synthetic",
            "built_to_show": built,
        },
        report=_synthetic_report(sig, fs),
    )


class DemoSource:
    """Synthetic records of AF, ectopy, bundle branch blocks, AV block, ST changes, rate and voltage."""

    name = "demo"
    label = "Synthetic findings (demo)"

    def list(self) -> list[SampleInfo]:
        return [
            SampleInfo(
                id=f"demo:{kind}",
                title=f"Synthetic: {title}",
                source=self.name,
                labels=labels,
                label_system="synthetic",
                description=f"simulated, not a patient: {built}",
                fs=500.0,
                duration_s=10.0,
            )
            for kind, (title, labels, built) in DEMO_RECORDS.items()
        ]

    def load(self, sample_id: str) -> ECG:
        return demo_ecg(_key(sample_id, self.name))


# --------------------------------------------------------------------------------------------- folder


class FolderSource:
    """Every record under a folder (``GEM_SAMPLES_DIR``): WFDB, .npy, .npz, .csv, the exported formats
    (DICOM, aECG/Philips/MUSE XML; each exam of a CODE-15% HDF5 file), .zip (first record)."""

    name = "folder"
    label = "Folder"

    def __init__(self, folder, settings: Settings | None = None):
        self.folder = Path(folder)
        self.settings = settings or get_settings()
        if not self.folder.is_dir():
            raise GemError(
                f"sample folder {self.folder} does not exist; set GEM_SAMPLES_DIR to a folder of records"
            )
        self.label = f"Folder {self.folder.name}"

    def _files(self) -> list[Path]:
        zips = [p for p in self.folder.rglob("*.zip") if not p.name.startswith(".")]
        return sorted(
            [*find_records(self.folder), *zips], key=lambda p: p.relative_to(self.folder).as_posix()
        )

    def list(self) -> list[SampleInfo]:
        infos = []
        for path in self._files():
            rel = path.relative_to(self.folder).as_posix()
            if formats.handles(path) and formats.is_multi_record(path):
                infos += self._exams(path, rel)
                continue
            meta = _header_metadata(path) if path.suffix.lower() == ".hea" else {}
            infos.append(
                SampleInfo(
                    id=f"folder:{rel}",
                    title=path.stem,
                    source=self.name,
                    labels=tuple(meta.get("labels", ())),
                    label_system=meta.get("label_system", ""),
                    description=rel,
                )
            )
        return infos

    def _exams(self, path: Path, rel: str) -> list[SampleInfo]:
        """One sample per exam of a CODE-15% file (id ``folder:<file>#<exam id>``); none if unreadable."""
        try:
            exams = formats.records(path, self.settings)
        except GemError:
            return []
        return [
            SampleInfo(
                id=f"folder:{rel}#{exam}", title=f"{path.stem} exam {exam}", source=self.name, description=rel
            )
            for exam in exams
        ]

    def load(self, sample_id: str) -> ECG:
        key = _key(sample_id, self.name)
        base, sep, record = key.rpartition("#")  # 'part.hdf5#1234': an exam of a CODE-15% file
        if not sep or not base.lower().endswith((".h5", ".hdf5")):
            base, record = key, ""
        rel = PurePosixPath(base)
        if rel.is_absolute() or ".." in rel.parts:
            raise GemError(f"sample id {sample_id!r} points outside the sample folder")
        path = self.folder.joinpath(*rel.parts)
        if not path.is_file():
            raise GemError(f"no sample {sample_id!r} in {self.folder}")
        return load_ecg(path, settings=self.settings, record=record or None)


def _header_metadata(hea: Path) -> dict:
    """Labels from a WFDB header's comments, without reading the signal (for listing)."""
    try:
        lines = hea.read_text(encoding="latin-1").splitlines()
    except OSError:
        return {}
    return parse_header_comments([ln[1:] for ln in lines if ln.startswith("#")])[0]


# --------------------------------------------------------------------------------------------- PTB-XL


class PtbxlSource:
    """A PTB-XL tree: ``ptbxl_database.csv`` plus ``records500/`` (or ``records100/``) WFDB records.

    Lists the rows whose record is present, with the report text and SCP-ECG codes (most likely first).
    ``sampling`` picks the 500 Hz (``filename_hr``) or 100 Hz (``filename_lr``) version; when that one is
    absent, the other is used.
    """

    name = "ptbxl"
    label = "PTB-XL"
    DATABASE = "ptbxl_database.csv"

    def __init__(self, root, sampling: int = 500, settings: Settings | None = None):
        self.root = Path(root)
        if sampling not in (100, 500):
            raise GemError(f"PTB-XL sampling must be 100 or 500 Hz, not {sampling}")
        self.sampling = sampling
        self.settings = settings or get_settings()
        if not (self.root / self.DATABASE).is_file():
            raise GemError(
                f"{self.root} is not a PTB-XL tree: {self.DATABASE} is missing (set GEM_PTBXL_DIR)"
            )

    @cached_property
    def _rows(self) -> dict[str, dict]:
        """ecg_id -> database row (read once per source; the full database has ~22k rows)."""
        with (self.root / self.DATABASE).open(newline="", encoding="utf-8") as fh:
            return {str(int(float(row["ecg_id"]))): row for row in csv.DictReader(fh) if row.get("ecg_id")}

    def _record(self, row: dict) -> Path | None:
        order = ("filename_hr", "filename_lr") if self.sampling == 500 else ("filename_lr", "filename_hr")
        for column in order:
            name = (row.get(column) or "").strip()
            if name and (self.root / f"{name}.hea").is_file():
                return self.root / f"{name}.hea"
        return None

    def list(self) -> list[SampleInfo]:
        infos = []
        for ecg_id, row in self._rows.items():
            hea = self._record(row)
            if hea is None:
                continue
            labels = _scp_labels(row.get("scp_codes", ""))
            infos.append(
                SampleInfo(
                    id=f"ptbxl:{ecg_id}",
                    title=f"PTB-XL {ecg_id}" + (f" ({', '.join(labels[:3])})" if labels else ""),
                    source=self.name,
                    labels=tuple(labels),
                    label_system="SCP-ECG",
                    description=(row.get("report") or "").strip(),
                    fs=100.0 if hea.stem.endswith("_lr") else 500.0,
                    duration_s=10.0,
                )
            )
        return infos

    def load(self, sample_id: str) -> ECG:
        key = _key(sample_id, self.name)
        row = self._rows.get(key)
        hea = self._record(row) if row else None
        if hea is None:
            raise GemError(f"no PTB-XL record {sample_id!r} under {self.root}")
        ecg = load_ecg(hea, settings=self.settings)
        ecg.record_id = f"ptbxl-{key}"
        ecg.metadata.update(_ptbxl_metadata(row, self.settings.store_patient_fields))
        return ecg


_PTBXL_PATIENT_COLUMNS = ("patient_id", "height", "weight", "nurse", "site", "device", "recording_date")


def _ptbxl_metadata(row: dict, keep_patient_fields: bool) -> dict:
    sex = (row.get("sex") or "").strip()
    meta = {
        "ecg_id": int(float(row["ecg_id"])),
        "age": _number(row.get("age")),
        "sex": {"0": "male", "1": "female"}.get(sex.split(".")[0]),
        "labels": _scp_labels(row.get("scp_codes", "")),
        "label_system": "SCP-ECG",
        "scp_codes": _scp_codes(row.get("scp_codes", "")),
        "report_text": (row.get("report") or "").strip(),
    }
    if keep_patient_fields:
        meta["patient_fields"] = {c: row[c] for c in _PTBXL_PATIENT_COLUMNS if row.get(c)}
    return meta


def _number(text) -> int | float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(value):
        return None
    return int(value) if value.is_integer() else value


def _scp_codes(text: str) -> dict[str, float]:
    """PTB-XL's ``scp_codes`` column (a Python dict literal, parsed without eval)."""
    try:
        codes = ast.literal_eval(text) if text else {}
    except (ValueError, SyntaxError):
        return {}
    return {str(k): float(v) for k, v in codes.items()} if isinstance(codes, dict) else {}


def _scp_labels(text: str) -> list[str]:
    codes = _scp_codes(text)
    return sorted(codes, key=lambda code: -codes[code])  # stable: file order among equal likelihoods


# ------------------------------------------------------------------------------------------ registry


def default_sources(
    settings: Settings | None = None, problems: list[str] | None = None
) -> list[SampleSource]:
    """The synthetic gallery (sinus rhythm at several rates, then the demo records of findings), plus
    ``GEM_SAMPLES_DIR`` and ``GEM_PTBXL_DIR`` when they are set.

    A setting that names no usable folder is a ``GemError``; with a ``problems`` list, that source is
    left out and the message (naming the setting) appended there instead, so an app can start with the
    other sources and say what to fix.

    >>> problems = []
    >>> [s.name for s in default_sources(Settings(samples_dir="/no/such/dir"), problems)]
    ['synthetic', 'demo']
    >>> problems[0].startswith("GEM_SAMPLES_DIR")
    True
    """
    settings = settings or get_settings()
    sources: list[SampleSource] = [SyntheticSource(), DemoSource()]
    configured = (
        ("GEM_SAMPLES_DIR", settings.samples_dir, lambda: FolderSource(settings.samples_dir, settings)),
        ("GEM_PTBXL_DIR", settings.ptbxl_dir, lambda: PtbxlSource(settings.ptbxl_dir, settings=settings)),
    )
    for variable, value, make in configured:
        if not value:
            continue
        try:
            sources.append(make())
        except GemError as exc:
            if problems is None:
                raise
            problems.append(f"{variable}={value} left out: {exc}")
    return sources


def load_sample(sample_id: str, sources: list[SampleSource] | None = None) -> ECG:
    """Load a sample by id from whichever source its prefix names."""
    sources = default_sources() if sources is None else sources
    prefix = sample_id.partition(":")[0]
    for source in sources:
        if source.name == prefix:
            return source.load(sample_id)
    raise GemError(f"unknown sample {sample_id!r}; sources are {', '.join(s.name for s in sources)}")
