"""Synthetic 12-lead records whose fiducial points are known exactly, for validating ``measure``.

``gem_core.samples.synthetic_ecg`` draws normal beats from Gaussians, whose waves have no exact start or
end. Here every wave is built from half-sine lobes that start and stop at a stated time, so the truth is
a number: QRS onset and offset, PR interval, and the ST level (a plateau from the J point to the T peak,
against a zero PR baseline). Three QRS morphologies cover what conduction defects do to the bounds:

- ``"normal"``: q, R and s lobes (rS in V1-V2, qRs in V5-V6);
- ``"rsr"``: an rSR' with a terminal R' in V1-V2 and a broad terminal S in I, V5 and V6 (right bundle
  branch block when the QRS is >= 120 ms, an rSR' pattern below);
- ``"slurred_s"``: a QS with a broad, slurred S in V1-V3 and a broad notched R in I, aVL, V5 and V6
  (the left bundle branch block complex), with discordant (secondary) T waves.

Leads I, II and V1-V6 are drawn; III, aVR, aVL and aVF follow from I and II (Einthoven/Goldberger).

>>> ecg, truth = conduction_ecg(heart_rate=75, qrs_ms=140, morphology="slurred_s")
>>> ecg.signal.shape, truth["qrs_ms"], truth["pr_ms"]
((12, 5000), 140.0, 160.0)
"""

from __future__ import annotations

import numpy as np

from gem_core.ecg import ECG, LEADS
from gem_core.ecg_spec import LIMB_ELECTRODES, limb_electrode_leads
from gem_core.errors import GemError

_DRAWN = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
# QRS lobes per drawn lead: (amplitude mV, start, end) as fractions of the QRS duration; each
# morphology's first lobe starts at 0 and its last ends at 1 in several leads, so the global onset and
# offset are exact.
_QRS: dict[str, dict[str, tuple[tuple[float, float, float], ...]]] = {
    "normal": {
        "I": ((-0.06, 0.0, 0.25), (0.8, 0.15, 0.65), (-0.15, 0.55, 1.0)),
        "II": ((-0.06, 0.0, 0.25), (1.2, 0.15, 0.65), (-0.2, 0.55, 1.0)),
        "V1": ((0.2, 0.0, 0.35), (-0.9, 0.25, 1.0)),
        "V2": ((0.4, 0.0, 0.4), (-1.4, 0.3, 1.0)),
        "V3": ((0.8, 0.0, 0.5), (-0.8, 0.4, 1.0)),
        "V4": ((-0.05, 0.0, 0.2), (1.3, 0.1, 0.6), (-0.4, 0.5, 1.0)),
        "V5": ((-0.08, 0.0, 0.2), (1.5, 0.1, 0.65), (-0.2, 0.55, 1.0)),
        "V6": ((-0.07, 0.0, 0.2), (1.2, 0.1, 0.7), (-0.12, 0.6, 1.0)),
    },
    "rsr": {
        "I": ((0.8, 0.0, 0.5), (-0.35, 0.4, 1.0)),
        "II": ((1.0, 0.0, 0.5), (-0.3, 0.4, 1.0)),
        "V1": ((0.25, 0.0, 0.25), (-0.6, 0.2, 0.55), (0.9, 0.5, 1.0)),
        "V2": ((0.3, 0.0, 0.25), (-1.0, 0.2, 0.55), (0.6, 0.5, 1.0)),
        "V3": ((0.6, 0.0, 0.4), (-0.8, 0.35, 0.75), (0.3, 0.7, 1.0)),
        "V4": ((1.2, 0.0, 0.5), (-0.5, 0.4, 1.0)),
        "V5": ((1.3, 0.0, 0.5), (-0.4, 0.4, 1.0)),
        "V6": ((1.1, 0.0, 0.5), (-0.4, 0.4, 1.0)),
    },
    "slurred_s": {
        "I": ((0.6, 0.0, 0.55), (0.8, 0.4, 1.0)),
        "II": ((0.5, 0.0, 0.6), (0.6, 0.4, 1.0)),
        "V1": ((0.1, 0.0, 0.15), (-1.5, 0.1, 1.0)),
        "V2": ((0.15, 0.0, 0.15), (-2.0, 0.1, 1.0)),
        "V3": ((0.2, 0.0, 0.2), (-1.5, 0.15, 1.0)),
        "V4": ((0.5, 0.0, 0.5), (0.6, 0.4, 1.0)),
        "V5": ((1.0, 0.0, 0.55), (1.3, 0.4, 1.0)),
        "V6": ((1.0, 0.0, 0.55), (1.2, 0.4, 1.0)),
    },
}
# T amplitude (mV) per drawn lead; the slurred-S (LBBB) complex has discordant T waves.
_T = {
    "normal": {"I": 0.25, "II": 0.35, "V1": 0.1, "V2": 0.5, "V3": 0.5, "V4": 0.45, "V5": 0.35, "V6": 0.25},
    "rsr": {"I": 0.2, "II": 0.3, "V1": -0.2, "V2": -0.1, "V3": 0.3, "V4": 0.4, "V5": 0.3, "V6": 0.2},
    "slurred_s": {
        "I": -0.3,
        "II": -0.2,
        "V1": 0.4,
        "V2": 0.5,
        "V3": 0.4,
        "V4": -0.2,
        "V5": -0.35,
        "V6": -0.3,
    },
}
_P = {"I": 0.08, "II": 0.15, "V1": 0.06, "V2": 0.08, "V3": 0.08, "V4": 0.08, "V5": 0.08, "V6": 0.07}
P_MS = 100.0
# U wave (``u_mv`` scales it): largest in V2-V3, as it usually is, a third of that in the limb leads.
_U = {"I": 0.3, "II": 0.4, "V1": 0.5, "V2": 1.0, "V3": 1.0, "V4": 0.7, "V5": 0.5, "V6": 0.4}
U_AFTER_T_MS = (20.0, 180.0)
# Atrial fibrillation: fibrillatory waves largest in V1 (as they usually are), at AF_F_HZ +- 0.8 Hz; RR
# intervals log-normal with this SD (an irregularly irregular ventricular response).
_F = {"I": 0.15, "II": 0.4, "V1": 1.0, "V2": 0.6, "V3": 0.35, "V4": 0.2, "V5": 0.15, "V6": 0.1}
AF_F_HZ = 6.0
AF_RR_SD = 0.2
QTC_MS = 420.0  # QT = QTC_MS * sqrt(RR s), at least QRS + 200 ms, ending 30 ms before the next QRS
# Atrial flutter: sawtooth size per drawn lead (II = 1, the size given); FR interval from the start of
# the conducted flutter wave to the QRS onset.
_FL = {"I": 0.1, "II": 1.0, "V1": -0.6, "V2": -0.3, "V3": -0.1, "V4": 0.05, "V5": 0.05, "V6": 0.05}
FLUTTER_RATE_BPM = (240.0, 350.0)
FLUTTER_FR_MS = 260.0


def _half_sine(t: np.ndarray, start: float, end: float) -> np.ndarray:
    """sin over [start, end] (one lobe, 0 at both ends with a definite slope), 0 outside."""
    x = (t - start) / (end - start)
    return np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)


def _raised_cosine(t: np.ndarray, start: float, end: float) -> np.ndarray:
    x = (t - start) / (end - start)
    return np.where((x >= 0) & (x <= 1), 0.5 - 0.5 * np.cos(2 * np.pi * np.clip(x, 0, 1)), 0.0)


def _t_start(qrs: float, qt: float, st_segment: float | None = None) -> float:
    """Where the T wave starts (ms from QRS onset): by default after J+60 ms, so the ST level there is the
    plateau; ``st_segment`` ms after the J point when given."""
    return qrs + (max(70.0, 0.25 * (qt - qrs)) if st_segment is None else st_segment)


def _beat(
    t: np.ndarray,
    qrs: float,
    pr: float | None,
    qt: float,
    morphology: str,
    st: dict,
    p_lobe=_half_sine,
    st_segment: float | None = None,
    qrs_lobe=_half_sine,
    p_sign: float = 1.0,
    p_scale: float = 1.0,
    t_scale: float = 1.0,
) -> np.ndarray:
    """One beat, t in ms from the QRS onset: (8, len) for the drawn leads."""
    out = np.zeros((len(_DRAWN), len(t)))
    t_start = _t_start(qrs, qt, st_segment)
    t_peak = t_start + 0.55 * (qt - t_start)
    for i, lead in enumerate(_DRAWN):
        for amp, a, b in _QRS[morphology][lead]:
            out[i] += amp * qrs_lobe(t, a * qrs, b * qrs)
        if pr is not None:
            out[i] += p_sign * p_scale * _P[lead] * p_lobe(t, -pr, -pr + P_MS)
        out[i] += t_scale * _T[morphology][lead] * _raised_cosine(t, t_start, qt)
        level = st.get(lead, 0.0)
        if level:
            # reaches the ST level inside the QRS's last 40%, flat from J to the T peak, then back to 0 at T end
            ramp = np.clip((t - 0.6 * qrs) / (0.4 * qrs), 0.0, 1.0)
            fall = np.where(
                t <= t_peak, 1.0, np.clip(0.5 + 0.5 * np.cos(np.pi * (t - t_peak) / (qt - t_peak)), 0, 1)
            )
            out[i] += level * np.where(t >= qt, 0.0, ramp * fall)
    return out


def conduction_ecg(
    heart_rate: float = 75.0,
    qrs_ms: float = 90.0,
    pr_ms: float | None = 160.0,
    st_mv: float = 0.0,
    st_leads: tuple[str, ...] = ("V2", "V3", "V4"),
    morphology: str = "normal",
    duration_s: float = 10.0,
    fs: int = 500,
    noise: float = 0.01,
    seed: int = 0,
    atrial_rate: float | None = None,
    p_shape: str = "half_sine",
    st_segment_ms: float | None = None,
    qrs_shape: str = "half_sine",
    sinus_arrhythmia: float = 0.0,
    pvc_every: int | None = None,
    pvc_coupling: float = 0.6,
    pvc_morphology: str = "slurred_s",
    pvc_qrs_ms: float = 150.0,
    pac_every: int | None = None,
    pac_coupling: float = 0.7,
    pac_p_sign: float = -1.0,
    u_mv: float = 0.0,
    av_block_2to1: bool = False,
    p_scale: float = 1.0,
    t_scale: float = 1.0,
    atrial_fibrillation: float | None = None,
    breath_beats: float = 5.0,
    atrial_flutter: float | None = None,
    flutter_conduction: int = 4,
) -> tuple[ECG, dict]:
    """A regular record with known QRS duration, PR interval and ST level; returns (ECG, truth).

    ``st_mv`` is added as a plateau from the J point in ``st_leads`` (drawn leads only: I, II, V1-V6).
    The P wave is left out (``truth["pr_ms"]`` None) when it would not fit between the previous T wave
    and the QRS. With ``atrial_rate`` (bpm) the P waves march at that rate, unrelated to the QRS
    complexes (complete AV block: no PR interval, ``pr_ms`` ignored). ``p_shape`` "raised_cosine" draws
    P waves that leave the baseline with zero slope, as real ones do, instead of the half-sine's definite
    slope (same 100 ms, same start: the onset is still exact, but no slope rule sees it at its first
    sample). ``st_segment_ms`` is the time from the J point to the T wave's start (default: at least 70
    ms, a quarter of the ST-T); 0 makes the ST-T rise straight out of the QRS, as at fast rates, and then
    the level at J+40/60 ms holds part of the T wave besides ``st_mv``. ``qrs_shape`` "raised_cosine" draws
    QRS lobes that taper into the baseline with zero slope, as real QRS ends often do (same start and end,
    so the truth is unchanged; the last few ms of such a lobe are under 0.02 mV, below what a reader
    sees). ``sinus_arrhythmia`` (a fraction, e.g. 0.15) swings the rate by that much either way over a
    breath of ``breath_beats`` beats (respiratory sinus arrhythmia: every beat keeps its P wave and PR interval; the
    waves keep the durations of ``heart_rate``). ``pvc_every`` (2: ventricular bigeminy, 3: trigeminy)
    replaces every such sinus beat by a premature ventricular beat ``pvc_coupling`` x RR after the beat
    before it, drawn with ``pvc_morphology`` and ``pvc_qrs_ms`` and no P wave; the sinus beat due in its
    place does not conduct, so a compensatory pause follows (truth["pvc_onsets_ms"]; "qrs_onsets_ms"
    then holds the sinus beats only). ``pac_every`` does the same with premature atrial beats: an
    inverted P wave (a low atrial focus) at the sinus PR, the dominant QRS, and the sinus node reset, so
    the next sinus beat follows one RR later (a non-compensatory pause; truth["pac_onsets_ms"]);
    ``pac_p_sign`` 1 draws the PACs' P waves upright, shaped like the sinus one (a focus near the sinus
    node). ``u_mv``
    adds a U wave after every T wave (U_AFTER_T_MS after its end; ``u_mv`` in V2-V3, less elsewhere: _U).
    ``av_block_2to1`` draws the atria at twice the ventricular rate: a second P wave, not conducted, half
    an RR before each conducted one (2:1 AV block; truth["blocked_p_onsets_ms"]). ``p_scale`` and
    ``t_scale`` multiply every P and T wave (II: P 0.15 mV, T 0.35 mV at 1; small P waves and flat T
    waves, as in many older patients' records). ``atrial_fibrillation`` (mV, 0 allowed) draws atrial
    fibrillation: no P waves, RR intervals drawn at random (log-normal, SD AF_RR_SD, reflected above the
    QT plus 60 ms, none longer than twice the RR of ``heart_rate``; with ``pvc_every`` every such beat is a
    PVC ``pvc_coupling`` x RR after the beat before it) and fibrillatory waves of that size in V1
    (less elsewhere: _F) at 5-7 Hz, drifting; truth["heart_rate_bpm"] is then the mean rate drawn.
    ``atrial_flutter`` (mV peak to peak in II) draws typical atrial flutter with fixed conduction: no P
    waves, a sawtooth of flutter waves at ``flutter_conduction`` times the ventricular rate (240-350/min;
    each wave falling slowly over 80% of its cycle and rising fast, negative-going in II, III and aVF,
    the other way in V1: _FL), running on through the QRS-T complexes, every ``flutter_conduction``-th
    one conducted FLUTTER_FR_MS before a QRS (truth["flutter_rate_bpm"], truth["conduction"]).
    ``truth``: qrs_ms, pr_ms, st_mv
    ({lead: mV} for every lead, 0 where none), heart_rate_bpm, morphology, qt_ms, qt_tangent_ms,
    qrs_onsets_ms (per beat). ``qt_ms`` ends where the T wave is drawn to end; the raised-cosine T returns
    to the baseline with zero slope, so a reader using the tangent method (tangent at the steepest point of
    the T downslope to the baseline) ends it earlier, at 3/4 + 1/(2 pi) of its width: ``qt_tangent_ms``.
    """
    lobes = {"half_sine": _half_sine, "raised_cosine": _raised_cosine}
    p_lobe, qrs_lobe = lobes.get(p_shape), lobes.get(qrs_shape)
    if p_lobe is None:
        raise GemError(f"unknown P-wave shape {p_shape!r}; one of {sorted(lobes)}")
    if qrs_lobe is None:
        raise GemError(f"unknown QRS shape {qrs_shape!r}; one of {sorted(lobes)}")
    if st_segment_ms is not None and st_segment_ms < 0:
        raise GemError(f"st_segment_ms must be >= 0 ms, not {st_segment_ms}")
    if morphology not in _QRS:
        raise GemError(f"unknown morphology {morphology!r}; one of {sorted(_QRS)}")
    bad = [lead for lead in st_leads if lead not in _DRAWN]
    if bad:
        raise GemError(f"ST offsets go on drawn leads {_DRAWN}, not {bad}")
    rr = 60000.0 / heart_rate
    qt = min(max(QTC_MS * np.sqrt(rr / 1000.0), qrs_ms + 200.0), rr - 30.0)
    if st_segment_ms is not None and qrs_ms + st_segment_ms > qt - 80.0:
        raise GemError(f"an ST segment of {st_segment_ms} ms leaves the T wave under 80 ms (QT {qt:.0f} ms)")
    pr = pr_ms if pr_ms is not None and rr - pr_ms - qt >= 40.0 and atrial_rate is None else None
    if atrial_fibrillation is not None:
        if atrial_rate is not None or sinus_arrhythmia or pac_every or av_block_2to1:
            raise GemError("atrial fibrillation draws its own rhythm: no atrial_rate, sinus_arrhythmia, PACs")
        pr = None
    if atrial_flutter is not None:
        others = (
            atrial_rate,
            atrial_fibrillation,
            pac_every or None,
            sinus_arrhythmia or None,
            av_block_2to1 or None,
        )
        flutter_rate = heart_rate * flutter_conduction
        if (
            any(x is not None for x in others)
            or not FLUTTER_RATE_BPM[0] <= flutter_rate <= FLUTTER_RATE_BPM[1]
        ):
            raise GemError(
                "atrial flutter draws its own atrial rhythm (no atrial_rate, AF, PACs, sinus arrhythmia or 2:1 "
                f"block), flutter waves at {FLUTTER_RATE_BPM[0]:.0f}-{FLUTTER_RATE_BPM[1]:.0f}/min"
            )
        pr = None
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * fs))
    t = np.arange(n) * 1000.0 / fs
    first = 400.0 + (pr or 0.0)
    onsets = np.arange(first - rr, duration_s * 1000.0 + rr, rr)
    if sinus_arrhythmia:
        cycles = rr / (
            1.0 + sinus_arrhythmia * np.sin(2.0 * np.pi * np.arange(len(onsets) + 1) / breath_beats)
        )
        if pr is not None and cycles.min() - pr - qt < 40.0:
            raise GemError(
                f"at {sinus_arrhythmia:.0%} the shortest RR ({cycles.min():.0f} ms) leaves no room for P"
            )
        onsets = first - rr + np.concatenate([[0.0], np.cumsum(cycles)])
        onsets = onsets[onsets < duration_s * 1000.0 + rr]
    af_rng = np.random.default_rng([seed, 1])
    if atrial_fibrillation is not None:
        count = int(3 * duration_s * 1000.0 / rr) + 4
        cycles = rr * np.exp(af_rng.normal(0.0, AF_RR_SD, count))
        shortest = qt + 60.0  # reflected, not clipped: a pile of equal RRs would be a regular rhythm
        cycles = np.minimum(shortest + np.abs(cycles - shortest), 2.0 * rr)
        if pvc_every:  # a PVC pvc_coupling x RR after the beat before it, the RR after it at random
            cycles[pvc_every - 2 :: pvc_every] = pvc_coupling * rr
        onsets = first - rr + np.concatenate([[0.0], np.cumsum(cycles)])
        onsets = onsets[onsets < duration_s * 1000.0 + rr]
    pvcs = np.zeros(0)
    if pvc_every:
        if pvc_every < 2 or pvc_morphology not in _QRS or not qrs_ms + 40.0 < pvc_coupling * rr < rr:
            raise GemError(
                "pvc_every >= 2, a known pvc_morphology and a coupling after the QRS, inside the RR"
            )
        slot = (np.arange(len(onsets)) % pvc_every) == pvc_every - 1
        shift = 0.0 if atrial_fibrillation is not None else pvc_coupling * rr - rr  # AF: drawn in place
        pvcs, onsets = onsets[slot] + shift, onsets[~slot]
    pacs = np.zeros(0)
    if pac_every:
        if pac_every < 2 or pr is None or not pr + qt - 20.0 < pac_coupling * rr < rr:
            raise GemError("pac_every >= 2, a P wave, and a coupling after the T wave, inside the RR")
        sinus, pacs, at, k = [first - rr], [], first - rr, 1
        while at < duration_s * 1000.0 + rr:
            premature = k % pac_every == pac_every - 1
            at += pac_coupling * rr if premature else rr  # after a PAC the reset sinus node: one RR
            (pacs if premature else sinus).append(at)
            k += 1
        onsets, pacs = np.array(sinus), np.array(pacs)
    st = dict.fromkeys(st_leads, st_mv)
    drawn = np.zeros((len(_DRAWN), n))
    pvc_qt = min(max(QTC_MS * np.sqrt(rr / 1000.0), pvc_qrs_ms + 200.0), rr - 30.0)
    beats = [(on, qrs_ms, pr, qt, morphology, st, 1.0) for on in onsets]
    beats += [(on, pvc_qrs_ms, None, pvc_qt, pvc_morphology, {}, 1.0) for on in pvcs]
    beats += [(on, qrs_ms, pr, qt, morphology, st, pac_p_sign) for on in pacs]
    for on, width, p_r, q_t, morph, levels, p_sign in beats:
        lo, hi = np.searchsorted(t, [on - (p_r or 0.0) - 10.0, on + q_t + 10.0])
        if hi > lo:
            drawn[:, lo:hi] += _beat(
                t[lo:hi] - on,
                width,
                p_r,
                q_t,
                morph,
                levels,
                p_lobe,
                st_segment_ms,
                qrs_lobe,
                p_sign,
                p_scale,
                t_scale,
            )
    blocked = np.zeros(0)
    if av_block_2to1:
        if pr is None or rr / 2.0 < P_MS + 20.0:
            raise GemError("a 2:1 AV block needs a conducted P wave and half an RR of at least 120 ms")
        blocked = onsets - pr - rr / 2.0
        p_wave = p_scale * np.array([_P[lead] for lead in _DRAWN])[:, None]
        for p_on in blocked:
            lo, hi = np.searchsorted(t, [p_on, p_on + P_MS])
            drawn[:, lo:hi] += p_wave * p_lobe(t[lo:hi], p_on, p_on + P_MS)
    if u_mv:
        u_wave = np.array([_U[lead] for lead in _DRAWN])[:, None] * u_mv
        for on in onsets:
            a, b = on + qt + U_AFTER_T_MS[0], on + qt + U_AFTER_T_MS[1]
            lo, hi = np.searchsorted(t, [a, b])
            drawn[:, lo:hi] += u_wave * _raised_cosine(t[lo:hi], a, b)
    if atrial_rate is not None:  # P waves of their own, from 170 ms into the record
        p_wave = p_scale * np.array([_P[lead] for lead in _DRAWN])[:, None]
        for p_on in np.arange(170.0, duration_s * 1000.0, 60000.0 / atrial_rate):
            lo, hi = np.searchsorted(t, [p_on, p_on + P_MS])
            drawn[:, lo:hi] += p_wave * p_lobe(t[lo:hi], p_on, p_on + P_MS)
    if atrial_fibrillation:
        secs = t / 1000.0
        drift = AF_F_HZ + 0.8 * np.sin(2 * np.pi * 0.13 * secs + af_rng.uniform(0, 2 * np.pi))
        phase = 2 * np.pi * np.cumsum(drift) / fs + af_rng.uniform(0, 2 * np.pi)
        size = atrial_fibrillation * (
            0.75 + 0.25 * np.sin(2 * np.pi * 0.3 * secs + af_rng.uniform(0, 2 * np.pi))
        )
        drawn += np.array([_F[lead] for lead in _DRAWN])[:, None] * (size * np.sin(phase))[None, :]
    if atrial_flutter:
        cycle = rr / flutter_conduction
        phase = ((t - (onsets[0] - FLUTTER_FR_MS)) / cycle) % 1.0
        saw = np.where(
            phase < 0.8, 0.5 - phase / 0.8, -0.5 + (phase - 0.8) / 0.2
        )  # zero mean, 1 peak to peak
        drawn += atrial_flutter * np.array([_FL[lead] for lead in _DRAWN])[:, None] * saw[None, :]
    drawn += rng.normal(0.0, noise, drawn.shape)
    i, ii = drawn[0], drawn[1]
    limb = [i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2]
    signal = np.vstack([np.array(limb), drawn[2:]]).astype(np.float32)
    st_i, st_ii = st.get("I", 0.0), st.get("II", 0.0)
    st_all = dict(
        zip(
            LEADS[:6],
            (st_i, st_ii, st_ii - st_i, -(st_i + st_ii) / 2, st_i - st_ii / 2, st_ii - st_i / 2),
            strict=True,
        )
    )
    st_all.update({lead: st.get(lead, 0.0) for lead in _DRAWN[2:]})
    t_start = _t_start(qrs_ms, qt, st_segment_ms)
    inside = onsets[(onsets > 0) & (onsets + qt < duration_s * 1000.0)]
    rate_drawn = 60000.0 / float(np.mean(np.diff(inside))) if len(inside) > 1 else float(heart_rate)
    truth = {
        "qrs_ms": float(qrs_ms),
        "pr_ms": None if pr is None else float(pr),
        "st_mv": st_all,
        "heart_rate_bpm": rate_drawn if atrial_fibrillation is not None else float(heart_rate),
        "morphology": morphology,
        "qt_ms": float(qt),
        "qt_tangent_ms": float(t_start + (0.75 + 0.5 / np.pi) * (qt - t_start)),
        "qrs_onsets_ms": [float(x) for x in inside],
        "pvc_onsets_ms": [float(x) for x in pvcs if 0 < x < duration_s * 1000.0 - pvc_qt],
        "pac_onsets_ms": [float(x) for x in pacs if 0 < x < duration_s * 1000.0 - qt],
        "blocked_p_onsets_ms": [float(x) for x in blocked if 0 < x < duration_s * 1000.0 - P_MS],
        "flutter_rate_bpm": None if atrial_flutter is None else float(heart_rate * flutter_conduction),
        "conduction": None if atrial_flutter is None else int(flutter_conduction),
    }
    name = f"conduction-{morphology}-{round(heart_rate)}bpm-qrs{round(qrs_ms)}"
    return ECG(signal=signal, fs=fs, record_id=name, metadata={"source": "gem_core.beat_model"}), truth


def interfere(ecg: ECG, kind: str, level: float, seed: int = 0) -> ECG:
    """The record with one kind of interference added: baseline wander (0.15-0.5 Hz sines per lead, level
    mV), mains hum (50 Hz, level mV), muscle noise (white noise above 20 Hz, level mV SD, drawn on I, II and
    V1-V6 and the other limb leads derived from I and II, as on a real recorder)."""
    from scipy.signal import butter, sosfiltfilt

    if kind not in ("wander", "mains", "emg"):
        raise GemError(f"unknown interference {kind!r}; one of wander, mains, emg")
    rng = np.random.default_rng(seed)
    x = ecg.signal.astype(np.float64).copy()
    t = np.arange(x.shape[1]) / ecg.fs
    if kind == "wander":
        for i in range(12):
            x[i] += level * np.sin(2 * np.pi * rng.uniform(0.15, 0.5) * t + rng.uniform(0, 2 * np.pi))
    elif kind == "mains":
        x += level * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi))[None, :]
    elif kind == "emg":
        w = sosfiltfilt(butter(4, 20.0, "hp", fs=ecg.fs, output="sos"), rng.normal(0, level, x.shape), axis=1)
        i, ii = w[0], w[1]
        w[2:6] = [ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2]
        x += w
    return ECG(signal=x.astype(np.float32), fs=ecg.fs, record_id=f"{ecg.record_id}-{kind}")


def swap_arm_electrodes(ecg: ECG) -> ECG:
    """The record as it reads with the left and right arm electrodes swapped: lead I inverted, II and III
    traded, aVR and aVL traded, aVF and the chest leads unchanged."""
    x = ecg.signal.copy()
    i, ii, iii, avr, avl, avf = x[:6].copy()
    x[:6] = [-i, iii, ii, avl, avr, avf]
    return ECG(signal=x, fs=ecg.fs, record_id=f"{ecg.record_id}-arms-swapped")


def swap_arm_leg_electrodes(ecg: ECG) -> ECG:
    """The record as it reads with the right arm and left leg electrodes swapped: lead II inverted, I and
    III traded and inverted, aVR and aVF traded, aVL and the chest leads unchanged."""
    x = ecg.signal.copy()
    i, ii, iii, avr, avl, avf = x[:6].copy()
    x[:6] = [-iii, -ii, -i, avf, avl, avr]
    return ECG(signal=x, fs=ecg.fs, record_id=f"{ecg.record_id}-ra-ll-swapped")


def electrode_artifact(
    ecg: ECG, electrode: str, shape: str, mv: float, at_ms: float = 0.0, hz: float = 6.0, seed: int = 0
) -> ECG:
    """The record with an artifact on one limb electrode (``electrode`` "RA", "LA" or "LL"), formed into the
    leads as a recorder forms them (``ecg_spec.limb_electrode_leads``: the limb leads that use the
    electrode and, a third as large, every chest lead). ``shape``: "spike" (30 ms, one way, as a tap),
    "tap" (60 ms, up and down) or "pop" (a step of ``mv`` decaying over 200 ms) at ``at_ms``; or "tremor"
    of ``hz`` (4-12 Hz for a trembling limb) throughout, amplitude ``mv`` swinging 30% at 0.3 Hz, its rate
    drifting about 8% (a tremor keeps no exact period; ``seed`` draws the drift)."""
    if electrode not in LIMB_ELECTRODES or shape not in ("spike", "tap", "pop", "tremor"):
        raise GemError(
            f"an artifact is a spike, tap, pop or tremor on RA, LA or LL, not {shape!r} on {electrode!r}"
        )
    fs, n = ecg.fs, ecg.signal.shape[1]
    wave = np.zeros(n)
    if shape == "tremor":
        from scipy.ndimage import gaussian_filter1d

        rng = np.random.default_rng(seed)
        sigma = 0.5 * fs  # the rate wanders over about a second
        drift = gaussian_filter1d(rng.normal(0, 1, n), sigma) * np.sqrt(2.0 * np.sqrt(np.pi) * sigma)
        phase = 2 * np.pi * np.cumsum(hz * (1.0 + 0.08 * drift)) / fs + rng.uniform(0, 2 * np.pi)
        t = np.arange(n) / fs
        wave = mv * (1.0 + 0.3 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi))) * np.sin(phase)
    else:
        i0 = int(at_ms * fs / 1000.0)
        if shape == "pop":
            wave[i0:] = mv * np.exp(-np.arange(n - i0) / fs / 0.2)
        else:
            w = int((0.03 if shape == "spike" else 0.06) * fs)
            lobe = mv * np.sin(np.linspace(0, (1.0 if shape == "spike" else 2.0) * np.pi, w))
            wave[i0 : i0 + w] = lobe[: max(0, min(w, n - i0))]
    added = np.stack(limb_electrode_leads(electrode, wave))
    signal = (ecg.signal.astype(np.float64) + added).astype(np.float32)
    return ECG(signal=signal, fs=fs, record_id=f"{ecg.record_id}-{electrode}-{shape}")
