"""The built-in measurement-based interpreter (rule-based, not GEM): the offline default backend.

It reads only ``gem_core.features.measure(ecg)``, applies the clinical rules of ``gem_core.rules`` and
writes one GEM-style paragraph (findings with values and leads, then the diagnosis). Every sentence
comes from one finding, so every claim is grounded by construction: ``interpret`` returns the text
together with its labels (CPSC 2018 classes and other statements with SNOMED CT codes) and its claims
in the grounding schema, each with evidence spans on the waveform.

>>> from gem_core.samples import synthetic_ecg
>>> reading = MeasureInterpreter().interpret(synthetic_ecg(75))
>>> reading.text.endswith("normal ECG.")
True
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from gem_core.backends import GenerationParams
from gem_core.ecg import ECG
from gem_core.errors import GemError
from gem_core.features import Measurements, measure
from gem_core.labels import CPSC_CLASSES, label_entries, labels_from_text
from gem_core.leads_vocab import find_leads, order_leads
from gem_core.rules import Assessment, Finding, assess, lead_list

LABEL = "measurement-based interpreter (rule-based, not GEM)"


@dataclass
class Reading:
    """One interpretation: the paragraph, its labels, its grounded claims and the underlying findings."""

    text: str
    labels: list[dict] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"text": self.text, "labels": self.labels, "claims": self.claims, "findings": self.findings}


def _quality_finding(assessment: Assessment) -> Finding | None:
    bad = assessment.excluded_leads
    if not bad:
        return None
    by_verdict: dict[str, list[str]] = {}
    for lead, verdict in bad.items():
        by_verdict.setdefault(verdict, []).append(lead)
    parts = [
        f"{'lead' if len(leads) == 1 else 'leads'} {lead_list(leads)} {'is' if len(leads) == 1 else 'are'} "
        f"{'flat' if verdict == 'flat' else 'noisy'}"
        for verdict, leads in by_verdict.items()
    ]
    text = "; ".join(parts)
    sentence = (
        f"{text[0].upper()}{text[1:]} and {'was' if len(bad) == 1 else 'were'} left out of the analysis."
    )
    return Finding("quality", sentence, "quality", "poor", leads=list(bad), abnormal=False)


def _unreadable_finding(assessment: Assessment) -> Finding:
    sentence = (
        f"The recording cannot be interpreted reliably ({assessment.message}), so no diagnosis is offered; "
        "please record the ECG again or check the electrodes."
    )
    return Finding("unreadable", sentence, "quality", "unreadable", leads=list(assessment.excluded_leads))


def _diagnosis_sentence(assessment: Assessment) -> str:
    names = assessment.diagnosis
    if len(names) == 1:
        return f"Overall: {names[0]}."
    body = names[:-1]
    joined = body[0] if len(body) == 1 else ", ".join(body[:-1]) + " and " + body[-1]
    return f"Overall, the findings indicate {joined}; {names[-1]}."


def _diagnosis_finding(assessment: Assessment) -> Finding:
    """The closing diagnosis as a finding whose evidence is that of the findings it rests on."""
    basis = [f for f in assessment.findings if f.label or f.abnormal] or assessment.findings[:2]
    leads = list(dict.fromkeys(lead for f in basis for lead in f.leads))
    evidence = [span for f in basis for span in f.evidence[:2]]
    value = "; ".join(assessment.diagnosis)
    return Finding(
        "diagnosis", _diagnosis_sentence(assessment), "diagnosis", value, leads=leads, evidence=evidence
    )


def named_leads(sentence: str) -> list[str]:
    """The leads a sentence names (single, lists, ranges, groups), in standard order."""
    return list(order_leads(lead for mention in find_leads(sentence) for lead in mention.leads))


def _claim(i: int, finding: Finding, start: int, end: int) -> dict:
    return {
        "id": f"c{i}",
        "text": finding.sentence,
        "char_start": start,
        "char_end": end,
        "leads": named_leads(finding.sentence),  # as grounding reads them: the leads the sentence names
        "feature": finding.feature,
        "value": finding.value,
        "unit": finding.unit,
        "comparator": finding.comparator,
        "negated": finding.negated,
        "verdict": "supported",  # by construction: the sentence states what was measured
        "measured": finding.value,
        "evidence": list(finding.evidence),
    }


def _label_entries(abbrs: list[str], text: str) -> list[dict]:
    """Labels of the reading: the statements made, each with its SNOMED CT code; CPSC classes marked."""
    named = set(labels_from_text(text))
    return label_entries([*abbrs, *[c for c in CPSC_CLASSES if c in named]])


def compose(assessment: Assessment) -> Reading:
    """The paragraph, claims and labels for an assessment (one sentence per finding, then the diagnosis)."""
    # an artifact's cause (a trembling limb) before the leads it made noisy, then the rest
    cause = [f for f in assessment.findings if f.key == "electrode_tremor"]
    rest = [f for f in assessment.findings if f.key != "electrode_tremor"]
    quality = _quality_finding(assessment)
    if not assessment.readable:
        rest = [_unreadable_finding(assessment)]
    findings = [f for f in (*cause, quality, *rest) if f]
    sentences, claims, offset = [], [], 0
    for i, finding in enumerate(findings, start=1):
        if offset:
            offset += 1  # the space between sentences
        claims.append(_claim(i, finding, offset, offset + len(finding.sentence)))
        sentences.append(finding.sentence)
        offset += len(finding.sentence)
    if assessment.readable:
        diagnosis = _diagnosis_finding(assessment)
        offset += 1
        claims.append(_claim(len(claims) + 1, diagnosis, offset, offset + len(diagnosis.sentence)))
        sentences.append(diagnosis.sentence)
    text = " ".join(sentences)
    for claim in claims:
        assert text[claim["char_start"] : claim["char_end"]] == claim["text"]
    return Reading(
        text=text,
        labels=_label_entries(assessment.diagnosis_labels, text),
        claims=claims,
        findings=[f.to_dict() for f in findings],
        sentences=sentences,
    )


class MeasureInterpreter:
    """Rule-based reading of the measurements; labelled everywhere as not GEM."""

    name = "measure"
    label = LABEL
    is_gem = False
    device = "cpu"

    def assess(self, ecg: ECG) -> tuple[Measurements, Assessment]:
        if not isinstance(ecg, ECG):
            raise GemError(f"the measurement-based interpreter needs an ECG, got {type(ecg).__name__}")
        m = measure(ecg)
        return m, assess(m, metadata=ecg.metadata)

    def interpret(self, ecg: ECG) -> Reading:
        """The whole reading of one ECG (text, labels, claims, findings)."""
        _, assessment = self.assess(ecg)
        return compose(assessment)

    def stream(
        self,
        ecg: ECG,
        question: str,
        params: GenerationParams | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the paragraph sentence by sentence (joined by spaces); stop early when ``stop`` is set.

        The question does not change the reading: the rules always answer GEM's grounding question.
        """
        reading = self.interpret(ecg)
        for i, sentence in enumerate(reading.sentences):
            if stop is not None and stop.is_set():
                return
            yield sentence if i == 0 else " " + sentence
