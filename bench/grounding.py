"""Benchmark: grounding a ~300-word GEM-style paragraph, one-shot and as a stream of 300 prefixes.

Targets (issue 7): one paragraph given measurements <= 20 ms (cold caches); 300 growing prefixes
<= 1 s in total (cold caches at the start, as in a real stream). Baseline measured in the same run:
``measure(ecg)`` on the same record (grounding should cost a small share of measuring).
Printed: medians over rounds, and ratios to the targets and to the baseline.

    python bench/grounding.py [--rounds 5] [--record ../shared/data/ecg/cpsc2018/A0003.hea]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gem_core.features import measure  # noqa: E402
from gem_core.grounding import clear_cache, ground  # noqa: E402
from gem_core.samples import synthetic_ecg  # noqa: E402

ONE_SHOT_TARGET_S = 0.020
STREAM_TARGET_S = 1.0
N_PREFIXES = 300
DEFAULT_RECORD = REPO.parent / "shared" / "data" / "ecg" / "cpsc2018" / "A0003.hea"

PARAGRAPH = (
    "Upon analyzing the provided ECG image and the computed measurements, several key features and "
    "abnormalities are evident. The heart rate is elevated at approximately 145 bpm, indicating a rapid "
    "ventricular response. The rhythm appears irregularly irregular, consistent with atrial fibrillation, "
    "as seen by the absence of distinct P waves and the presence of irregular RR intervals, particularly a "
    "short interval at 330 ms and a longer one at 560 ms. A premature ventricular contraction is seen near "
    "the middle of the tracing, followed by a pause. The QRS duration is within normal limits at about "
    "95 ms in lead II, although the QRS complexes in V1 through V3 appear slightly wider, exceeding 110 ms. "
    "In the precordial leads, particularly V1 through V4, the QRS voltage is not low, and there is no "
    "evidence of left ventricular hypertrophy by voltage criteria. ST depression of about 0.1 mV is "
    "present in the lateral leads (I, aVL, V5 and V6), while no ST elevation is seen in the inferior "
    "leads II, III and aVF. The ST-T changes observed in the anterolateral leads, particularly V2 to V6, "
    "are nonspecific and may reflect rate-related ischemia. T wave inversion is noted in lead aVR and in "
    "V1, and the T waves are flattened in V5-V6. The QT interval measures 300 ms and the QTc interval is "
    "prolonged at 470 ms. The frontal QRS axis is normal at +40 degrees, without left or right axis "
    "deviation. There is no first-degree AV block, since the PR interval cannot be measured in the "
    "absence of organized atrial activity. Overall, this is an abnormal ECG showing atrial fibrillation "
    "with a rapid ventricular response, nonspecific ST-T changes in the lateral leads, a borderline "
    "prolonged QTc and an isolated premature ventricular contraction; clinical correlation with symptoms, "
    "electrolytes and prior tracings is recommended, and rate control should be considered."
)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def one_shot(m) -> None:
    clear_cache()
    ground(PARAGRAPH, m, final=True)


def stream(m) -> None:
    clear_cache()
    n = len(PARAGRAPH)
    for k in range(1, N_PREFIXES + 1):
        ground(PARAGRAPH[: round(k * n / N_PREFIXES)], m, final=k == N_PREFIXES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--record", default=str(DEFAULT_RECORD))
    args = parser.parse_args()
    if Path(args.record).exists():
        from gem_core.ecg import load_ecg

        ecg = load_ecg(args.record)
    else:
        print(f"{args.record} not found; using a simulated ECG")
        ecg = synthetic_ecg(heart_rate=120)
    from gem_core.features import clear_cache as clear_measure_cache

    m = measure(ecg)
    one_shot(m)  # warm imports
    base, single, warm, streamed = [], [], [], []
    for _ in range(args.rounds):
        clear_measure_cache()
        base.append(timed(lambda: measure(ecg)))
        single.append(timed(lambda: one_shot(m)))
        warm.append(timed(lambda: ground(PARAGRAPH, m, final=True)))
        streamed.append(timed(lambda: stream(m)))
    claims = ground(PARAGRAPH, m, final=True)
    t_base, t_one, t_warm, t_stream = (statistics.median(x) for x in (base, single, warm, streamed))
    verdicts = {
        v: sum(c["verdict"] == v for c in claims) for v in ("supported", "contradicted", "not_checkable")
    }
    print(
        f"record: {ecg.record_id} ({ecg.duration_ms / 1000:.1f} s); paragraph: {len(PARAGRAPH.split())} words, "
        f"{len(claims)} claims {verdicts}, {sum(len(c['evidence']) for c in claims)} evidence spans"
    )
    print(f"rounds: {args.rounds} (medians; machine shared with other work, figures are indicative)")
    print(f"baseline measure(ecg):                 {t_base * 1e3:8.2f} ms")
    print(
        f"ground(paragraph), cold caches:        {t_one * 1e3:8.2f} ms   target {ONE_SHOT_TARGET_S * 1e3:.0f} ms"
        f"   ratio to target {t_one / ONE_SHOT_TARGET_S:.2f}   ratio to baseline {t_one / t_base:.3f}"
    )
    print(f"ground(paragraph), warm caches:        {t_warm * 1e3:8.2f} ms")
    print(
        f"{N_PREFIXES} growing prefixes, total:         {t_stream * 1e3:8.2f} ms   target {STREAM_TARGET_S * 1e3:.0f} ms"
        f"   ratio to target {t_stream / STREAM_TARGET_S:.2f}   ratio to baseline {t_stream / t_base:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
