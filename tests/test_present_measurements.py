"""The Measurements tab's tables: global values once, each lead's own values per row."""

from __future__ import annotations

from app import present
from gem_core.features import measure
from gem_core.samples import synthetic_ecg


def test_lead_rows_hold_the_leads_own_values_and_globals_are_listed_once():
    m = measure(synthetic_ecg(118))
    leads = present.lead_table(m)
    assert list(leads["lead"]) == list(m.leads) and "quality" in leads
    for shared in ("HR", "PR", "QRS", "QT", "QTc"):
        assert shared not in leads.columns  # the intervals shared by all leads are not repeated per lead
    assert {"R mV", "S mV", "ST mV", "ST slope mV/s", "T mV"} <= set(leads.columns)
    assert leads["R mV"].nunique() >= 8  # each lead's own R amplitude
    v1, v5 = (leads.set_index("lead").loc[name] for name in ("V1", "V5"))
    assert float(v1["S mV"]) > float(v1["R mV"]) and float(v5["R mV"]) > float(v5["S mV"])  # rS / qRs
    glob = present.global_table(m).set_index("measurement")["value"]
    assert glob["QTc (Fridericia, for this rate)"].endswith(" ms")  # 118 bpm: Bazett over-corrects
    assert glob["ST read at"] == "J+40 ms"
    assert int(glob["QTc (Fridericia, for this rate)"].split()[0]) < int(glob["QTc (Bazett)"].split()[0])


def test_a_non_conducted_p_wave_is_listed_only_where_there_is_one():
    from gem_core.beat_model import conduction_ecg

    blocked = measure(conduction_ecg(35, av_block_2to1=True, noise=0.015, p_shape="raised_cosine")[0])
    rows = present.global_table(blocked).set_index("measurement")["value"]
    assert rows["Non-conducted P wave"].endswith("ms before the QRS onset")
    assert "Non-conducted P wave" not in set(present.global_table(measure(synthetic_ecg(70)))["measurement"])


def test_the_atrial_rate_of_a_complete_av_block_is_listed():
    from gem_core.beat_model import conduction_ecg

    m = measure(conduction_ecg(35, atrial_rate=75, noise=0.015, p_shape="raised_cosine")[0])
    rows = present.global_table(m).set_index("measurement")["value"]
    assert rows["Atrial rate (dissociated)"] == "75 /min"


def test_atrial_flutter_is_listed_with_its_conduction_and_atrial_rate():
    from gem_core.beat_model import conduction_ecg

    m = measure(conduction_ecg(75, atrial_flutter=0.2, flutter_conduction=4, noise=0.015)[0])
    rows = present.global_table(m).set_index("measurement")["value"]
    assert rows["Atrial flutter"] == "4:1 conduction, atria at about 300 /min"
    assert rows["PR"] == "—"  # flutter waves are no P waves


def test_the_p_qrs_and_t_axes_are_listed_as_the_interpreter_reads_them():
    """The ectopic-atrial and swapped-electrode readings rest on the P axis: it is shown with the others,
    and a P wave inverted in II (a low atrial focus) shows an axis outside the sinus range."""
    from gem_core.beat_model import conduction_ecg

    m = measure(synthetic_ecg(70))
    rows = present.global_table(m).set_index("measurement")["value"]
    for name in ("P axis", "QRS axis", "T axis"):
        assert rows[name].endswith("°") and rows[name][0] in "-0123456789"
    assert 0 <= int(rows["P axis"].rstrip("°")) <= 90  # upright P waves in I and II
    assert rows["P wave"].endswith(" ms") and 60 <= int(rows["P wave"].split()[0]) <= 130
    qtc = [name for name in rows.index if name.startswith("QTc")]
    assert qtc == ["QTc (Bazett, for this rate)"]  # 70 bpm: Bazett is the rate's correction, listed once
    low = measure(conduction_ecg(70, p_scale=-1.0, noise=0.015, p_shape="raised_cosine", seed=70)[0])
    axis = int(present.global_table(low).set_index("measurement")["value"]["P axis"].rstrip("°"))
    assert not -30 <= axis <= 150
    af = present.global_table(measure(conduction_ecg(110, atrial_fibrillation=0.1)[0]))
    af = af.set_index("measurement")["value"]
    assert (af["P axis"], af["PR"]) == ("—", "—")  # not measured: the dash alone, no unit after it
