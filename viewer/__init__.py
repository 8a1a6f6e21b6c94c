"""Plotly figures of ECGs on ECG paper, with highlighted evidence spans (imports only gem_core)."""

from viewer.figure import (
    VIEWER_LAYOUTS,
    claim_figure,
    ecg_figure,
    figure_json,
    highlight_parts,
    update_highlights,
    with_highlights,
)
from viewer.highlights import VERDICT_STYLE, VERDICTS, check_highlight, highlights_from_claims

__all__ = [
    "VERDICTS",
    "VERDICT_STYLE",
    "VIEWER_LAYOUTS",
    "check_highlight",
    "claim_figure",
    "ecg_figure",
    "figure_json",
    "highlight_parts",
    "highlights_from_claims",
    "update_highlights",
    "with_highlights",
]
