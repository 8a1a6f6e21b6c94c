"""Beat-level measurements: the evidence GEM's interpretations are grounded on.

(CONTRACT PART — the types below are the interface other modules rely on; ``measure`` is being
implemented in issue 3.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# The 14 per-lead, per-beat features of GEM's grounding data, with their units (None: categorical).
BEAT_FEATURES: dict[str, str | None] = {
    "heart_rate": "bpm",
    "rr_interval_1": "ms",  # to the previous beat
    "rr_interval_2": "ms",  # to the next beat
    "p_amplitude": "mV",
    "p_duration": "ms",
    "pr_interval": "ms",
    "qrs_amplitude": "mV",
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
    "st_deviation": "mV",  # at J+60 ms against the PR baseline
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
ST_FORMS = ("upsloping", "horizontal", "downsloping", "elevated", "depressed")
QUALITY = ("ok", "noisy", "flat")


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
    beats: list[dict] = field(default_factory=list)  # one dict per shared R peak: "index", FIDUCIALS, features
    st_deviation_mv: float | None = None  # median over beats at J+60 ms


@dataclass
class Measurements:
    """Everything measured on one ECG. Times in ms from the record start; amplitudes in mV.

    ``global_values`` keys: heart_rate_bpm, rr_ms (mean), rr_sd_ms, rr_irregularity, n_beats,
    pr_ms, qrs_ms, qt_ms, qtc_ms (Bazett), qtc_fridericia_ms, qrs_axis_deg, p_axis_deg, t_axis_deg,
    p_wave_fraction (share of beats with a P wave), st_deviation_mv ({lead: mV}), voltage
    (limb_max_qrs_mv, precordial_max_qrs_mv, low_voltage_limb, low_voltage_precordial, sokolow_lyon_mv,
    cornell_mv), quality ({lead: verdict}). Values are None where they cannot be measured.

    ``premature_beats`` items: beat_index, time_ms, kind ("PAC" | "PVC"), qrs ("narrow" | "wide"),
    qrs_duration_ms, coupling_ms (RR before), pause_ms (RR after), compensatory (bool).
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
