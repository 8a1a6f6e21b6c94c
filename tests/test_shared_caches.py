"""The measurement and grounding caches under the app's worker threads: results are the caller's own,
keys are content (a changed Measurements is checked again), and the caches keep no Measurements alive."""

from __future__ import annotations

import gc
import json
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest

from gem_core import features, grounding
from gem_core.features import measure
from gem_core.grounding import ground
from gem_core.samples import synthetic_ecg


@pytest.fixture(scope="module")
def ecgs():
    return {rate: synthetic_ecg(heart_rate=rate, duration_s=10) for rate in (60, 75, 100, 120)}


def test_measure_hands_each_caller_its_own_copy(ecgs):
    features.clear_cache()
    first = measure(ecgs[75])
    first.global_values["heart_rate_bpm"] = 999.0
    first.leads["II"].beats.clear()
    again = measure(ecgs[75])
    assert again.global_values["heart_rate_bpm"] == pytest.approx(75, abs=2)
    assert again.leads["II"].beats and again is not first


def test_measure_from_many_threads_agrees_with_one_thread(ecgs):
    features.clear_cache()
    expected = {
        rate: json.dumps(measure(ecg).to_dict(), sort_keys=True, default=str) for rate, ecg in ecgs.items()
    }
    features.clear_cache()
    jobs = [rate for rate in ecgs for _ in range(6)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda rate: (rate, measure(ecgs[rate])), jobs))
    assert all(json.dumps(m.to_dict(), sort_keys=True, default=str) == expected[rate] for rate, m in got)
    assert len({id(m) for _, m in got}) == len(got)  # nobody shares a result object


def test_grounding_sees_a_changed_measurements(ecgs):
    m = measure(ecgs[75])
    text = "The heart rate is 75 bpm."
    assert ground(text, m)[0]["verdict"] == "supported"
    m.global_values["heart_rate_bpm"] = 140.0
    m.global_values["rr_ms"] = 60000 / 140.0
    assert ground(text, m)[0]["verdict"] == "contradicted"


def test_grounding_cache_keeps_no_measurements_alive(ecgs):
    grounding.clear_cache()
    m = measure(ecgs[60])
    ground("The heart rate is 60 bpm. QRS duration is 90 ms.", m, final=True)
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None


def test_grounding_from_many_threads(ecgs):
    grounding.clear_cache()
    text = "The heart rate is 75 bpm."
    ms = {rate: measure(ecg) for rate, ecg in ecgs.items()}
    want = {rate: ground(text, m)[0]["verdict"] for rate, m in ms.items()}
    assert want[75] == "supported" and want[120] == "contradicted"
    grounding.clear_cache()
    jobs = [rate for rate in ms for _ in range(25)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda rate: (rate, ground(text, ms[rate])), jobs))
    assert all(claims[0]["verdict"] == want[rate] for rate, claims in got)
    claims = got[0][1]
    claims[0]["evidence"].append({"lead": "forged"})  # a caller's change stays with the caller
    assert {"lead": "forged"} not in ground(text, ms[got[0][0]])[0]["evidence"]
