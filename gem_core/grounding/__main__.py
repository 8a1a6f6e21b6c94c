"""``python -m gem_core.grounding --ecg PATH --text FILE``: print ``{"claims": [...]}`` as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gem_core.errors import GemError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gem_core.grounding",
        description='Ground an interpretation on an ECG: print {"claims": [...]} as JSON.',
    )
    parser.add_argument(
        "--ecg", help="an ECG record (WFDB .hea, .npy, .csv, ...); omit to only extract claims"
    )
    parser.add_argument("--text", required=True, help="a file with the interpretation text ('-' reads stdin)")
    args = parser.parse_args(argv)
    try:
        text = _read_text(args.text)
        measurements = None
        if args.ecg:
            from gem_core.ecg import load_ecg
            from gem_core.features import measure

            measurements = measure(load_ecg(args.ecg))
        from gem_core.grounding import ground

        claims = ground(text, measurements, final=True)
    except GemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    json.dump({"claims": claims}, sys.stdout, indent=1, ensure_ascii=False)
    print()
    return 0


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    p = Path(path)
    if not p.is_file():
        raise GemError(f"no such text file: {path}; give --text a file holding the interpretation")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GemError(f"{path} is not UTF-8 text ({exc}); save the interpretation as UTF-8") from exc


if __name__ == "__main__":
    sys.exit(main())
