"""Preference pairs made by the grounding verifier: sample k answers per ECG, prefer the better grounded.

    python -m training.pairs --records DIR --backend NAME --samples K --out FILE.jsonl

For each record under ``--records``, the backend (``gem``, ``openai`` or ``measure``; settings from
``GEM_*`` variables and the flags) writes ``K`` answers, sampled (temperature ``--temperature``, seeds
0..K-1). ``gem_core.grounding`` checks every claim of each answer against the record's measurements; an
answer's score is its supported claims minus its contradicted claims. The best-scored answer is
``chosen``, the worst ``rejected``, ``margin`` is the score difference. Records whose answers all score
the same, or are all the same text, give no pair (counted); unreadable records are skipped (counted).

Rows are the DPO rows of ``python -m annotations export --format dpo`` (same keys and schema version,
``images`` and ``ecg`` files beside the output, ``case`` the same content hash the store gives the ECG)
with ``source: "verifier"``, ``metric: "grounding"`` and no raters, so rated and verifier pairs can be
concatenated into one training file. The run's settings, and per record the claim counts of the two
answers, go to ``FILE.config.json``.

>>> scored = [Scored("a", 2, 0), Scored("b", 1, 1), Scored("c", 2, 0)]
>>> choose(scored)
(Scored(text='a', supported=2, contradicted=0), Scored(text='b', supported=1, contradicted=1), 2)
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from annotations.exports import ROW_VERSION, save_image, save_signal, write_jsonl
from gem_core.errors import GemError
from gem_core.prompts import DEFAULT_QUESTION
from training.cli import Parser
from training.runinfo import write_config

BACKENDS = ("gem", "openai", "measure")


@dataclass(frozen=True)
class Scored:
    """One sampled answer and its grounding counts."""

    text: str
    supported: int
    contradicted: int

    @property
    def score(self) -> int:
        return self.supported - self.contradicted


@dataclass
class PairsResult:
    path: Path
    rows: int
    records: int
    skipped: dict[str, str] = field(default_factory=dict)  # record -> why it gave no pair
    pairs: dict[str, dict] = field(default_factory=dict)  # record -> chosen/rejected counts and margin

    def summary(self) -> str:
        reasons: dict[str, int] = {}
        for why in self.skipped.values():
            reasons[why] = reasons.get(why, 0) + 1
        why = "; ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "none"
        return f"{self.rows} verifier pairs from {self.records} records (skipped: {why}) -> {self.path}"


def score_answer(text: str, measurements) -> Scored:
    """Supported and contradicted claims of the whole answer (``ground(..., final=True)``)."""
    from gem_core.grounding import CONTRADICTED, SUPPORTED, ground

    verdicts = [c["verdict"] for c in ground(text, measurements, final=True)]
    return Scored(text, verdicts.count(SUPPORTED), verdicts.count(CONTRADICTED))


def choose(answers: list[Scored]) -> tuple[Scored, Scored, int] | None:
    """(chosen, rejected, margin) or None when no two distinct answers differ in score.

    Chosen: the highest score (first of equals); rejected: the lowest score (first of equals).
    """
    distinct = list({a.text.strip(): a for a in reversed(answers) if a.text.strip()}.values())[::-1]
    if len(distinct) < 2:
        return None
    best = max(distinct, key=lambda a: a.score)
    worst = min(distinct, key=lambda a: a.score)
    if best.score == worst.score:
        return None
    return best, worst, best.score - worst.score


def sample_answers(backend, ecg, question: str, samples: int, temperature: float, max_new_tokens: int):
    from gem_core.backends import GenerationParams

    answers = []
    for seed in range(samples):
        params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
        answers.append("".join(backend.stream(ecg, question, params, threading.Event())))
    return answers


def make_pairs(
    records: Path,
    backend,
    samples: int,
    out: Path,
    *,
    question: str = DEFAULT_QUESTION,
    temperature: float = 0.7,
    max_new_tokens: int = 1024,
    image_layout: str = "12x1",
    progress: bool = True,
) -> PairsResult:
    """Write verifier-made DPO rows for every record under ``records`` to ``out`` (JSONL, atomically)."""
    from tqdm import tqdm

    from gem_core.ecg import load_ecg
    from gem_core.ecg_formats import find_records
    from gem_core.features import measure

    records, out = Path(records), Path(out)
    if samples < 2:
        raise GemError(f"--samples must be at least 2 to make a pair; got {samples}")
    if not records.is_dir():
        raise GemError(f"records folder {records} does not exist")
    if not out.parent.is_dir():
        raise GemError(f"folder {out.parent} does not exist; create it or choose another --out")
    files = find_records(records)
    if not files:
        raise GemError(f"no ECG records (.hea, .npy, .npz, .csv) under {records}")
    result = PairsResult(out, 0, len(files))
    rows = []
    images, signals = out.parent / f"{out.stem}_images", out.parent / f"{out.stem}_ecg"
    for path in tqdm(files, desc="verifier pairs", unit="record", disable=not progress, file=sys.stderr):
        name = path.relative_to(records).as_posix()
        try:
            ecg = load_ecg(path)
        except GemError as err:  # not an ECG, or an unreadable one: skipped and counted, never guessed
            result.skipped[name] = f"unreadable ({err})"
            continue
        measurements = measure(ecg)
        texts = sample_answers(backend, ecg, question, samples, temperature, max_new_tokens)
        picked = choose([score_answer(t, measurements) for t in texts])
        if picked is None:
            same = len({t.strip() for t in texts}) < 2
            result.skipped[name] = "identical answers" if same else "answers grounded equally"
            continue
        chosen, rejected, margin = picked
        rows.append(
            {
                "version": ROW_VERSION,
                "prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": chosen.text}],
                "rejected": [{"role": "assistant", "content": rejected.text}],
                "images": [str(save_image(ecg, images, image_layout).resolve())],
                "ecg": str(save_signal(ecg, signals).resolve()),
                "case": ecg.content_hash,
                "chosen_model": backend.label,
                "rejected_model": backend.label,
                "raters": [],
                "margin": float(margin),
                "source": "verifier",
                "metric": "grounding",  # the same keys as the export's rows: one file can hold both
            }
        )
        result.pairs[name] = {"chosen": asdict(chosen), "rejected": asdict(rejected), "margin": margin}
    write_jsonl(rows, out)
    result.rows = len(rows)
    return result


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m training.pairs", description=__doc__.split("\n")[0])
    p.add_argument("--records", required=True, help="folder of ECG records (searched recursively)")
    p.add_argument("--backend", required=True, choices=BACKENDS)
    p.add_argument("--samples", type=int, required=True, help="answers sampled per record (K >= 2)")
    p.add_argument("--out", required=True, help="JSONL of DPO rows (source: verifier)")
    p.add_argument("--model", help="gem: checkpoint folder or hub id; openai: the served model's name")
    p.add_argument("--ecg-tower", help="gem: ECG-CoCa checkpoint (GEM_ECG_TOWER)")
    p.add_argument(
        "--base-url", help="openai: server URL, e.g. http://127.0.0.1:8000/v1 (GEM_OPENAI_BASE_URL)"
    )
    p.add_argument("--question", default=DEFAULT_QUESTION)
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: GEM_MAX_NEW_TOKENS (1024)")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return parser().parse_args(argv)


def run(args: argparse.Namespace) -> PairsResult:
    from gem_core.backends import get_backend
    from gem_core.settings import get_settings

    overrides = {"ecg_tower": args.ecg_tower, "openai_base_url": args.base_url}
    if args.model:
        overrides["openai_model" if args.backend == "openai" else "model"] = args.model
    settings = get_settings(**{k: v for k, v in overrides.items() if v})
    backend = get_backend(args.backend, settings)
    result = make_pairs(
        Path(args.records),
        backend,
        args.samples,
        Path(args.out),
        question=args.question,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens or settings.max_new_tokens,
        image_layout=settings.image_layout,
    )
    write_config(
        Path(args.out).with_suffix(".config.json"),
        "training.pairs",
        vars(args) | {"backend_label": backend.label},
        {"rows": result.rows, "records": result.records, "skipped": result.skipped, "pairs": result.pairs},
    )
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except GemError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


__all__ = ["PairsResult", "Scored", "choose", "make_pairs", "score_answer"]

if __name__ == "__main__":
    sys.exit(main())
