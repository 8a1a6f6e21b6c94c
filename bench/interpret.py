"""Streaming interpretation: time to first chunk and chunks/s for the tiny GEM and the measure backend,
and the overhead of the gem backend's streaming path against calling ``generate`` directly.

    python bench/interpret.py [--tokens 64] [--repeats 5]

Baseline (same run, same inputs): ``model.generate`` on the processor's tensors, no streamer, no thread.
The tiny GEM has random weights: the figures measure our plumbing, not GEM-7B's speed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gem_core.backends import GenerationParams


def time_stream(make_stream) -> tuple[float, float, int]:
    """(seconds to first chunk, total seconds, number of chunks) of one streamed answer."""
    start = time.perf_counter()
    first, n = None, 0
    for _ in make_stream():
        n += 1
        if first is None:
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start, n


def summarise(name: str, runs: list[tuple[float, float, int]]) -> dict:
    ttfc = statistics.median(r[0] for r in runs)
    total = statistics.median(r[1] for r in runs)
    chunks = statistics.median(r[2] for r in runs)
    print(
        f"{name:28s} first chunk {ttfc * 1000:8.1f} ms   total {total * 1000:8.1f} ms   "
        f"{chunks:5.0f} chunks   {chunks / total:8.1f} chunks/s"
    )
    return {"ttfc": ttfc, "total": total, "chunks": chunks}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import torch

    from gem_core.backends.gem import GemInterpreter, generate_kwargs
    from gem_core.backends.measure import MeasureInterpreter
    from gem_core.model import load_gem
    from gem_core.model.tiny import make_tiny
    from gem_core.samples import synthetic_ecg

    torch.set_num_threads(1)  # the machine is shared; one thread keeps runs comparable
    ecg = synthetic_ecg(heart_rate=75)
    params = GenerationParams(max_new_tokens=args.tokens)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model = load_gem(make_tiny(tmp))
        print(f"tiny GEM written and loaded in {time.perf_counter() - t0:.2f} s")
    gem = GemInterpreter(model)
    t0 = time.perf_counter()
    image = model.processor.render(ecg)
    print(
        f"rendering the ECG image: {(time.perf_counter() - t0) * 1000:.1f} ms (excluded below: both paths get it)"
    )

    def direct():
        inputs = gem.inputs(ecg, "Interpret.", image)
        ids = model.generate(**inputs, **generate_kwargs(params, model.processor.tokenizer))
        yield model.processor.tokenizer.decode(ids[0], skip_special_tokens=True)

    def streamed():
        return gem.stream(ecg, "Interpret.", params, threading.Event(), image=image)

    for _ in range(2):  # warm-up of both paths
        list(direct())
        list(streamed())
    base, ours = [], []
    for _ in range(args.repeats):  # interleaved so load changes hit both alike
        base.append(time_stream(direct))
        ours.append(time_stream(streamed))
    print(f"\ntiny GEM, {args.tokens} new tokens, median of {args.repeats}:")
    b = summarise("generate() directly [base]", base)
    s = summarise("gem backend stream()", ours)
    print(
        f"streaming overhead: total x{s['total'] / b['total']:.3f} of the baseline; "
        f"first chunk after {s['ttfc'] / b['total']:.1%} of the baseline's total time"
    )

    from gem_core.features import clear_cache

    measure = MeasureInterpreter()
    list(measure.stream(ecg, "Interpret."))  # warm-up (imports)
    cold = []
    for _ in range(args.repeats):
        clear_cache()  # time the measurements too, as for a new record
        cold.append(time_stream(lambda: measure.stream(ecg, "Interpret.")))
    warm = [time_stream(lambda: measure.stream(ecg, "Interpret.")) for _ in range(args.repeats)]
    print(f"\nmeasure backend, median of {args.repeats}:")
    m = summarise("measure stream() new record", cold)
    summarise("measure stream() cached", warm)
    print(f"measure (new record) vs tiny GEM stream: first chunk x{m['ttfc'] / s['ttfc']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
