"""Interpret one ECG file from the command line, streaming the text as it is written.

    python -m gem_core.interpret PATH [--backend gem|openai|measure] [--model PATH_OR_ID]
                                 [--ecg-tower PT] [--question Q] [--json]

Settings come from ``GEM_*`` variables; the flags override them. Without ``--json`` the text streams to
stdout. With ``--json`` stdout holds only one JSON object, printed at the end:
``{"text", "backend", "labels", "claims"}``. ``labels``: one entry per statement, ``{"label": CPSC 2018
or challenge abbreviation, "statement", "snomed": SNOMED CT code or null, "snomed_codes", "cpsc": bool}``
(the measure backend's own labels; for other backends the CPSC classes the text names). ``claims``:
the grounded claims, checked against the measurements. Errors print ``error: ...`` and exit with 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import threading

from gem_core.errors import GemError
from gem_core.prompts import DEFAULT_QUESTION


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gem_core.interpret", description="Interpret one ECG.")
    parser.add_argument("path", help="an ECG file (WFDB .hea, .npy/.npz, .csv, .zip)")
    parser.add_argument(
        "--backend",
        choices=("gem", "openai", "measure"),
        default=None,
        help="default: gem when a model is configured, else measure",
    )
    parser.add_argument("--model", help="GEM checkpoint folder or hub id (GEM_MODEL)")
    parser.add_argument("--ecg-tower", help="ECG-CoCa checkpoint cpt_wfep_epoch_20.pt (GEM_ECG_TOWER)")
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument("--max-new-tokens", type=int, help="default: GEM_MAX_NEW_TOKENS (1024)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (GEM_DEVICE)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")
    return parser.parse_args(argv)


def jsonable(value):
    """Dataclasses, objects with ``to_dict`` and containers of them, as plain JSON values."""
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def labels_and_claims(text: str, ecg, backend=None) -> tuple[list, list]:
    """Labels of ``text`` with their codes (``gem_core.labels.label_entries``) and its grounded claims.

    The measure backend states its labels itself (SB, LAD, ... besides the CPSC classes); for any other
    backend they are the CPSC classes the text names.
    """
    from gem_core.backends.measure import MeasureInterpreter
    from gem_core.features import measure
    from gem_core.grounding import ground
    from gem_core.labels import label_entries, labels_from_text

    if isinstance(backend, MeasureInterpreter):
        labels = backend.interpret(ecg).labels  # the same reading the stream wrote (measurements cached)
    else:
        labels = label_entries(labels_from_text(text))
    claims = jsonable(ground(text, measure(ecg), final=True))  # the whole answer: the tail counts too
    return labels, claims


def run(args: argparse.Namespace, out=None) -> int:
    out = out or sys.stdout
    from gem_core.backends import GenerationParams, get_backend
    from gem_core.ecg import load_ecg
    from gem_core.settings import get_settings

    overrides = {
        k: v for k, v in (("model", args.model), ("ecg_tower", args.ecg_tower), ("device", args.device)) if v
    }
    settings = get_settings(**overrides)
    backend_name = args.backend or ("gem" if settings.model else "measure")
    ecg = load_ecg(args.path, settings=settings)
    backend = get_backend(backend_name, settings)
    params = GenerationParams(max_new_tokens=args.max_new_tokens or settings.max_new_tokens)
    pieces = []
    for chunk in backend.stream(ecg, args.question, params, threading.Event()):
        pieces.append(chunk)
        if not args.json:
            out.write(chunk)
            out.flush()
    text = "".join(pieces)
    if not args.json:
        out.write("\n")
        return 0
    labels, claims = labels_and_claims(text, ecg, backend)
    json.dump({"text": text, "backend": backend.name, "labels": labels, "claims": claims}, out)
    out.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Progress of long steps (model download and load) goes to stderr; stdout stays the answer.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("gem_core").setLevel(logging.INFO)
    try:
        return run(args)
    except GemError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
