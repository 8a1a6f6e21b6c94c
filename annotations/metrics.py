"""The seven human-evaluation metrics, with the anchored 1-5 scale the rating form shows.

The names follow GEM's human evaluation (three analytical metrics, four clinical ones). The level
descriptions are ours: short anchors so that two cardiologists mean the same thing by a "3".

>>> [m.name for m in METRICS][:2]
['analytical_relevance', 'analytical_accuracy']
>>> metric("clinical_value").levels[5][:9]
'Changes m'
"""

from __future__ import annotations

from dataclasses import dataclass

from gem_core.errors import GemError

SCALE = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Metric:
    """One rating dimension: column ``name``, UI ``label``, a one-line ``question`` and five anchors."""

    name: str
    label: str
    group: str  # "analytical" or "clinical"
    question: str
    levels: dict[int, str]


METRICS: tuple[Metric, ...] = (
    Metric(
        "analytical_relevance",
        "Analytical Relevance",
        "analytical",
        "Does the reading address the features of this tracing that matter?",
        {
            1: "Talks about things that do not apply to this ECG or misses what the tracing is about.",
            2: "Mostly generic text; touches the relevant features only in passing.",
            3: "Covers the main features, mixed with filler or points that do not matter here.",
            4: "Focused on the features that matter, with little that is beside the point.",
            5: "Every statement bears on this tracing; nothing important is left out of focus.",
        },
    ),
    Metric(
        "analytical_accuracy",
        "Analytical Accuracy",
        "analytical",
        "Are the stated leads, intervals, amplitudes and findings correct?",
        {
            1: "Several findings or measurements are wrong in a way that changes the reading.",
            2: "At least one clearly wrong finding or value, or several small errors.",
            3: "Broadly right, with minor errors in values or lead attribution.",
            4: "Correct apart from a trivial imprecision.",
            5: "Every finding, lead and value checks out against the tracing.",
        },
    ),
    Metric(
        "analytical_completeness",
        "Analytical Completeness",
        "analytical",
        "Does it cover rhythm, rate, axis, intervals, morphology and every abnormality present?",
        {
            1: "Most of the systematic read is missing.",
            2: "Several standard elements or an important abnormality are missing.",
            3: "The standard elements are there; a secondary finding is missing.",
            4: "Complete apart from a minor detail.",
            5: "A full systematic read; every abnormality present is mentioned.",
        },
    ),
    Metric(
        "reasoning_quality",
        "Reasoning Quality",
        "clinical",
        "Does the diagnosis follow from the evidence the reading cites?",
        {
            1: "Conclusions are unrelated to, or contradicted by, the cited findings.",
            2: "Weak links between findings and conclusions; jumps in logic.",
            3: "Plausible reasoning with gaps a reader has to fill in.",
            4: "Clear reasoning from findings to conclusion, with small gaps.",
            5: "Each conclusion is tied to specific leads and measurements, as a cardiologist would argue it.",
        },
    ),
    Metric(
        "findings_novelty",
        "Findings Novelty",
        "clinical",
        "Does it point out findings beyond the obvious ones a quick read would give?",
        {
            1: "Nothing beyond a machine-style one-line statement.",
            2: "Only the most obvious findings.",
            3: "Some useful detail beyond the obvious.",
            4: "Notes subtle findings a busy reader could overlook.",
            5: "Brings out subtle, correct findings that an expert would be glad to have flagged.",
        },
    ),
    Metric(
        "clinical_value",
        "Clinical Value",
        "clinical",
        "Would this reading help a clinician decide what to do?",
        {
            1: "Misleading: acting on it could harm the patient.",
            2: "Of little use; a clinician would have to start over.",
            3: "Useful as a draft that needs checking and completion.",
            4: "Useful as it stands, with minor edits.",
            5: "Changes management appropriately or would be signed as written.",
        },
    ),
    Metric(
        "overall_satisfaction",
        "Overall Satisfaction",
        "clinical",
        "Overall, how satisfied are you with this interpretation?",
        {
            1: "Unacceptable: I would discard it.",
            2: "Poor: more wrong or missing than right.",
            3: "Acceptable: usable after corrections.",
            4: "Good: I would accept it with small edits.",
            5: "Excellent; as good as an expert's reading.",
        },
    ),
)

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)


def metric(name: str) -> Metric:
    """The metric called ``name``; ``GemError`` naming the valid ones otherwise."""
    for m in METRICS:
        if m.name == name:
            return m
    raise GemError(f"unknown metric {name!r}; metrics are {', '.join(METRIC_NAMES)}")


def validate_scores(scores: dict) -> dict[str, int]:
    """Check that ``scores`` gives every metric an integer 1-5; return them in canonical order.

    >>> validate_scores({n: 4 for n in METRIC_NAMES})["overall_satisfaction"]
    4
    """
    if not isinstance(scores, dict):
        raise GemError("scores must be a mapping of metric name to an integer 1-5")
    unknown = sorted(set(scores) - set(METRIC_NAMES))
    if unknown:
        raise GemError(f"unknown metric(s) {', '.join(unknown)}; metrics are {', '.join(METRIC_NAMES)}")
    missing = [n for n in METRIC_NAMES if n not in scores]
    if missing:
        raise GemError(f"missing score(s) for {', '.join(missing)}; rate every metric 1-5")
    out = {}
    for name in METRIC_NAMES:
        value = scores[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise GemError(f"{name} must be a whole number 1-5; got {value!r}")
        if int(value) not in SCALE:
            raise GemError(f"{name} must be between 1 and 5; got {value!r}")
        out[name] = int(value)
    return out
