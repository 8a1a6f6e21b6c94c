"""Claim extraction from prose: sentences, leads, groups, features, values, comparators, negation,
streaming stability, bad input, and property tests on arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gem_core.errors import GemError
from gem_core.grounding import CLAIM_KEYS, clear_cache, extract_claims, ground, split_sentences
from gem_core.leads_vocab import LEAD_GROUPS, find_leads, lead_range


def claims_of(text: str) -> list[tuple]:
    return [
        (c["feature"], tuple(c["leads"]), c["value"], c["unit"], c["comparator"], c["negated"])
        for c in extract_claims(text)
    ]


def one(text: str) -> dict:
    found = extract_claims(text)
    assert len(found) == 1, found
    return found[0]


# --- leads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, leads",
    [
        ("V1 through V4", ("V1", "V2", "V3", "V4")),
        ("V2 to V6", ("V2", "V3", "V4", "V5", "V6")),
        ("V5-V6", ("V5", "V6")),
        ("V1–V3", ("V1", "V2", "V3")),
        ("I-III", ("I", "II", "III")),
        ("leads II, III, and aVF", ("II", "III", "aVF")),
        ("leads I, aVL, V5 and V6", ("I", "aVL", "V5", "V6")),
        ("lead I", ("I",)),
        ("AVL", ("aVL",)),
        ("I/aVL", ("I", "aVL")),
    ],
)
def test_lead_lists_and_ranges(text, leads):
    mentions = find_leads(text)
    assert len(mentions) == 1
    assert mentions[0].leads == leads
    assert text[mentions[0].start : mentions[0].end].strip()


@pytest.mark.parametrize(
    "text, leads",
    [
        ("the inferior leads", ("II", "III", "aVF")),
        ("the lateral leads", ("I", "aVL", "V5", "V6")),
        ("the high lateral leads", ("I", "aVL")),
        ("the anterior leads", ("V3", "V4")),
        ("the septal leads", ("V1", "V2")),
        ("the anteroseptal leads", ("V1", "V2", "V3", "V4")),
        ("anterolateral ST changes", ("V3", "V4", "V5", "V6")),
        ("the lateral precordial leads", ("V5", "V6")),
        ("the precordial leads", ("V1", "V2", "V3", "V4", "V5", "V6")),
        ("the limb leads", ("I", "II", "III", "aVR", "aVL", "aVF")),
        ("the inferior and lateral leads", ("I", "II", "III", "aVL", "aVF", "V5", "V6")),
    ],
)
def test_lead_groups(text, leads):
    mentions = find_leads(text)
    assert [m.leads for m in mentions] == [leads]
    assert mentions[0].group


@pytest.mark.parametrize(
    "text",
    [
        "left anterior fascicular block",
        "left anterior hemiblock",
        "occlusion of the left anterior descending artery",
    ],
)
def test_the_anterior_fascicle_and_artery_are_not_the_anterior_leads(text):
    assert find_leads(text) == []
    assert [m.leads for m in find_leads(f"{text} with anterior ST elevation")] == [("V3", "V4")]


def test_group_followed_by_explicit_list_keeps_the_list():
    mentions = find_leads("the lateral precordial leads (V5, V6, I, aVL)")
    assert [m.leads for m in mentions] == [("I", "aVL", "V5", "V6")]
    assert mentions[0].group is None


def test_group_names_in_parentheses_after_a_list_only_label_it():
    # The measure interpreter writes "leads I, II, aVF, ... (inferior, lateral)": lead III and aVL
    # are not named, so they are not the claim's leads; a group after other words still counts.
    sentence = "ST-segment depression is seen in leads I, II, aVF, V4, V5 and V6 (inferior, lateral)."
    (claim,) = extract_claims(sentence)
    assert claim["leads"] == ["I", "II", "aVF", "V4", "V5", "V6"]
    mentions = find_leads("ST elevation in V1-V3 and in the inferior leads (a current of injury)")
    assert [m.leads for m in mentions] == [("V1", "V2", "V3"), ("II", "III", "aVF")]


@pytest.mark.parametrize(
    "text", ["I believe this is fine", "Mobitz type II block", "a type III pattern", "the limb is cold"]
)
def test_words_that_are_not_leads(text):
    assert find_leads(text) == []


def test_lead_range_and_groups_are_canonical():
    assert lead_range("V4", "V2") == ("V2", "V3", "V4")
    assert set(LEAD_GROUPS["anterior"]) == {"V3", "V4"}


# --- features, values, comparators ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The heart rate is elevated at 121 bpm.", ("heart_rate", (), 121.0, "bpm", "=", False)),
        ("The ventricular rate is 88 beats per minute.", ("heart_rate", (), 88.0, "bpm", "=", False)),
        ("The PR interval is 0.16 s.", ("pr_interval", (), 160.0, "ms", "=", False)),
        ("The QTc is approximately 470 ms.", ("qtc_interval", (), 470.0, "ms", "~", False)),
        ("The QRS duration exceeds 120 ms in V1.", ("qrs_duration", ("V1",), 120.0, "ms", ">", False)),
        (
            "The QRS duration is greater than 120 ms in V1.",
            ("qrs_duration", ("V1",), 120.0, "ms", ">", False),
        ),
        ("The QRS is wide (>120 ms) in V6.", ("qrs_duration", ("V6",), 120.0, "ms", ">", False)),
        ("The QRS axis is -45 degrees.", ("axis", (), -45.0, "deg", "=", False)),
        ("The axis is normal at +60°.", ("axis", (), 60.0, "deg", "=", False)),
        ("ST depression of 1 mm in V5.", ("st_depression", ("V5",), 0.1, "mV", "=", False)),
        (
            "RR intervals range from 640 to 720 ms.",
            ("rr_interval", (), [640.0, 720.0], "ms", "between", False),
        ),
        ("The PR interval is less than 120 ms.", ("pr_interval", (), 120.0, "ms", "<", False)),
        (
            "The QTc intervals are prolonged in several leads.",
            ("qtc_interval", (), None, None, "prolonged", False),
        ),
        ("QRS complexes are narrow.", ("qrs_duration", (), None, None, "narrow", False)),
        (
            "Low QRS voltages are seen in V1 through V4.",
            ("low_voltage", ("V1", "V2", "V3", "V4"), None, None, None, False),
        ),
        ("T wave inversion in V1-V3.", ("t_inversion", ("V1", "V2", "V3"), None, None, None, False)),
        (
            "The T waves are inverted in III and aVF.",
            ("t_inversion", ("III", "aVF"), None, None, None, False),
        ),
        ("Peaked T waves in lead II.", ("t_peaked", ("II",), None, None, None, False)),
        ("Atrial fibrillation is present.", ("atrial_fibrillation", (), None, None, None, False)),
        ("Sinus bradycardia.", ("sinus_bradycardia", (), None, None, None, False)),
        ("A first-degree AV block is seen.", ("first_degree_av_block", (), None, None, None, False)),
        ("Left axis deviation.", ("left_axis_deviation", (), None, None, None, False)),
        ("A Sokolow-Lyon index exceeding 3.5 mV.", ("sokolow_lyon", (), 3.5, "mV", ">", False)),
    ],
)
def test_single_claims(text, expected):
    c = one(text)
    got = (c["feature"], tuple(c["leads"]), c["value"], c["unit"], c["comparator"], c["negated"])
    assert got == expected
    assert text[c["char_start"] : c["char_end"]] == c["text"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("There is no ST elevation or depression.", [("st_elevation", True), ("st_depression", True)]),
        ("P waves are absent.", [("p_wave", True)]),
        (
            "There is an absence of distinct P waves and the presence of irregular RR intervals.",
            [("p_wave", True), ("rr_interval", False)],
        ),
        ("No pauses or premature beats are seen.", [("pause", True), ("premature_beat", True)]),
        ("The QT interval is not prolonged.", [("qt_interval", True)]),
        ("Without ST depression, the T waves are upright.", [("st_depression", True), ("t_upright", False)]),
        ("The QT interval is not prolonged at 410 ms.", [("qt_interval", False)]),  # the number stands
        ("There are PVCs but no PACs.", [("pvc", False), ("pac", True)]),
    ],
)
def test_negation_scope(text, expected):
    assert [(c["feature"], c["negated"]) for c in extract_claims(text)] == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ST depression of -0.61 mV in V5.", ("st_depression", ("V5",), -0.61, "mV", "=", False)),
        ("ST depression of 0.61 mV in V5.", ("st_depression", ("V5",), 0.61, "mV", "=", False)),
        ("The ST segment is at -1 mm in V6.", ("st_segment", ("V6",), -0.1, "mV", "=", False)),
        ("The ST segment is at +1 mm in V2.", ("st_segment", ("V2",), 0.1, "mV", "=", False)),
        (
            "ST depression of -0.1 to -0.2 mV in V5.",
            ("st_depression", ("V5",), [-0.2, -0.1], "mV", "between", False),
        ),
        ("The PR interval is 160 ms.", ("pr_interval", (), 160.0, "ms", "=", False)),
    ],
)
def test_signed_values_keep_their_sign(text, expected):
    c = one(text)
    assert (c["feature"], tuple(c["leads"]), c["value"], c["unit"], c["comparator"], c["negated"]) == expected


def test_values_go_to_their_own_feature_and_leads_to_the_nearest_value():
    got = claims_of("The PR interval is 160 ms and the QRS duration is 150 ms in V1 and 140 ms in V6.")
    assert got == [
        ("pr_interval", (), 160.0, "ms", "=", False),
        ("qrs_duration", ("V1",), 150.0, "ms", "=", False),
        ("qrs_duration", ("V6",), 140.0, "ms", "=", False),
    ]


def test_gem_target_style_sentence():
    text = (
        "The ECG demonstrates sinus rhythm with occasional premature ventricular contractions (PVCs), as "
        "evidenced by irregular RR intervals, particularly the shorter interval at 280 ms and the compensatory "
        "pause following it at 540 ms."
    )
    assert claims_of(text) == [
        ("sinus_rhythm", (), None, None, None, False),
        ("pvc", (), None, None, None, False),  # "(PVCs)" repeats it: one claim
        ("rr_interval", (), None, None, "irregular", False),
        ("rr_interval", (), 280.0, "ms", "=", False),  # a bare "interval" inherits the sentence's RR
        ("pause_compensatory", (), 540.0, "ms", "=", False),  # a pause of 540 ms, and compensatory
    ]


def test_particularly_narrows_a_group_to_the_named_leads():
    c = one("ST-T changes are seen in the anterolateral leads, particularly V2 to V6.")
    assert (c["feature"], c["leads"]) == ("st_t_changes", ["V2", "V3", "V4", "V5", "V6"])
    c = one("In the precordial leads, particularly V1 through V4, there are low QRS voltages.")
    assert c["leads"] == ["V1", "V2", "V3", "V4"]


def test_and_the_group_leads_continues_the_lead_list():
    # "and the inferior leads" adds leads to ST elevation; "and the T waves ..." starts a new clause
    got = claims_of("ST elevation in V1 through V4 and the inferior leads, no ST depression in I-III.")
    assert [(f, leads) for f, leads, *_ in got] == [
        ("st_elevation", ("II", "III", "aVF", "V1", "V2", "V3", "V4")),
        ("st_depression", ("I", "II", "III")),
    ]
    got = claims_of("The QRS is wide in V1 and the T waves are inverted in the lateral leads.")
    assert [(f, leads) for f, leads, *_ in got] == [
        ("qrs_duration", ("V1",)),
        ("t_inversion", ("I", "aVL", "V5", "V6")),
    ]


def test_global_features_do_not_take_leads_from_the_clause():
    got = claims_of("The heart rate is 75 bpm with T wave inversion in V1.")
    assert got == [
        ("heart_rate", (), 75.0, "bpm", "=", False),
        ("t_inversion", ("V1",), None, None, None, False),
    ]


def test_bare_rate_value_is_a_heart_rate_claim():
    assert claims_of("Sinus rhythm at 75 bpm.") == [
        ("sinus_rhythm", (), None, None, None, False),
        ("heart_rate", (), 75.0, "bpm", "=", False),
    ]


def test_slash_pairs_and_elliptical_clauses():
    assert claims_of("The QT/QTc intervals are 380/420 ms.") == [
        ("qt_interval", (), 380.0, "ms", "=", False),
        ("qtc_interval", (), 420.0, "ms", "=", False),
    ]
    assert claims_of("The T waves are upright in leads I and II, and inverted in aVR.") == [
        ("t_upright", ("I", "II"), None, None, None, False),
        ("t_inversion", ("aVR",), None, None, None, False),
    ]
    assert claims_of("The QRS complex is predominantly positive in lead I and negative in aVF.") == [
        ("qrs_polarity", ("I",), None, None, "positive", False),
        ("qrs_polarity", ("aVF",), None, None, "negative", False),
    ]
    assert claims_of("ST elevation in V1 through V3 but not in the inferior leads.") == [
        ("st_elevation", ("V1", "V2", "V3"), None, None, None, False),
        ("st_elevation", ("II", "III", "aVF"), None, None, None, True),
    ]
    assert claims_of("The R wave amplitude in V5 is 1.8 mV.") == [
        ("r_amplitude", ("V5",), 1.8, "mV", "=", False)
    ]


def test_prose_without_findings_gives_no_claims():
    assert extract_claims("Upon analyzing the provided image, several key features are evident.") == []
    assert extract_claims("") == []
    assert extract_claims("Consistent P waves precede each QRS complex.")[0]["feature"] == "p_wave"
    assert len(extract_claims("Consistent P waves precede each QRS complex.")) == 1


# --- sentences and streaming ----------------------------------------------------------------------


def test_sentence_split_respects_decimals_and_abbreviations():
    text = "ST depression of 0.1 mV, e.g. in V5. Rate 75 bpm."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "ST depression of 0.1 mV, e.g. in V5.",
        "Rate 75 bpm.",
    ]


def test_streaming_only_finished_sentences_and_stable_ids():
    text = "The heart rate is 75 bpm. The QRS duration is 0.1 s in V1. PR 160 ms and the QT is 400 ms."
    previous: dict[str, dict] = {}
    for n in range(1, len(text) + 1):
        prefix = text[:n]
        claims = ground(prefix)
        for c in claims:
            assert c["char_end"] <= len(prefix)
            if c["id"] in previous:  # never moves or changes once shown
                assert {k: c[k] for k in ("char_start", "char_end", "feature", "value")} == {
                    k: previous[c["id"]][k] for k in ("char_start", "char_end", "feature", "value")
                }
        # a claim never appears before its sentence is finished ("0." may still become "0.1")
        assert all(prefix[c["char_end"] :].lstrip() != "" or prefix.rstrip()[-1] in ".!?" for c in claims)
        assert set(previous) <= {c["id"] for c in claims}  # nothing shown ever disappears
        previous.update({c["id"]: c for c in claims})
    assert ground("The QRS duration is 0.")[:1] == []
    assert [c["value"] for c in ground(text)] == [75.0, 100.0, 160.0, 400.0]
    assert [c["feature"] for c in ground("Rate 75 bpm. QRS 9")] == ["heart_rate"]


def test_final_grounds_the_unterminated_tail():
    assert ground("The heart rate is 75 bpm") == []
    assert [c["feature"] for c in ground("The heart rate is 75 bpm", final=True)] == ["heart_rate"]


def test_schema_keys_and_text_only_verdicts():
    (c,) = extract_claims("Atrial fibrillation.")
    assert tuple(c) == CLAIM_KEYS
    assert c["verdict"] == "not_checkable" and c["evidence"] == [] and c["measured"] is None


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["list"]])
def test_bad_text_is_a_gem_error(bad):
    with pytest.raises(GemError, match="text"):
        ground(bad)


def test_bad_measurements_is_a_gem_error():
    with pytest.raises(GemError, match="Measurements"):
        ground("Rate 75 bpm.", {"heart_rate_bpm": 75})


# --- properties -----------------------------------------------------------------------------------

_VOCAB = st.sampled_from(
    [
        "QRS",
        "duration",
        "V1",
        "through",
        "V4",
        "I-III",
        "leads",
        "inferior",
        "no",
        "not",
        "ST",
        "elevation",
        "121 bpm",
        ">120 ms",
        "0.2 mV",
        "-30°",
        "PVCs",
        "(",
        ")",
        ",",
        ".",
        ";",
        " and ",
        "between 80 and 100 ms",
        "atrial fibrillation",
        "T waves",
        "absence of",
        "interval",
        "e.g.",
    ]
)
_TEXTS = st.one_of(st.text(max_size=300), st.lists(_VOCAB, max_size=40).map(" ".join))


@settings(max_examples=300, deadline=None)
@given(_TEXTS, st.booleans())
def test_arbitrary_text_never_raises_and_spans_are_inside(text, final):
    claims = ground(text, final=final)
    clear_cache()  # the same output computed afresh, not read back from the cache
    again = ground(text, final=final)
    assert claims == again
    for c in claims:
        assert 0 <= c["char_start"] < c["char_end"] <= len(text)
        assert text[c["char_start"] : c["char_end"]] == c["text"]
        assert c["text"] == c["text"].strip() or not c["text"].strip()
        assert c["verdict"] == "not_checkable"
    assert len({c["id"] for c in claims}) == len(claims)
    spans = sorted((c["char_start"], c["char_end"]) for c in claims)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans  # no overlaps


@pytest.mark.parametrize(
    "module",
    [
        "gem_core.leads_vocab",
        "gem_core.grounding.extract",
        "gem_core.grounding.check",
        "gem_core.grounding",
        "gem_core.criteria",
        "gem_core.features",
        "gem_core.rules",
        "gem_core.beat_model",
    ],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize(
    ("text", "span"),
    [
        (
            "Frequent premature ventricular contractions (PVCs) are seen.",
            "premature ventricular contractions (PVCs)",
        ),
        (
            "The rhythm is sinus (with a premature ventricular contraction (PVC)).",
            "premature ventricular contraction (PVC)",
        ),
        ("Axis [about 50 degrees] is normal.", "Axis [about 50 degrees]"),
    ],
)
def test_claim_spans_keep_their_brackets_whole(text, span):
    """A claim is never cut inside a bracket: "(PVC" reads wrong on screen."""
    from gem_core.features import measure
    from gem_core.samples import synthetic_ecg

    result = ground(text, measure(synthetic_ecg()), final=True)
    claims = result["claims"] if isinstance(result, dict) else result
    spans = [text[c["char_start"] : c["char_end"]] for c in claims]
    assert span in spans
    for s in spans:
        assert s.count("(") == s.count(")") and s.count("[") == s.count("]"), s
