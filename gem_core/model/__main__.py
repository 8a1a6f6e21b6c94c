"""``python -m gem_core.model make-tiny OUTDIR``: write a complete tiny GEM (random weights, offline)."""

from __future__ import annotations

import argparse
import sys

from gem_core.errors import GemError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gem_core.model", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tiny = sub.add_parser("make-tiny", help="write a tiny GEM checkpoint for tests and demos")
    tiny.add_argument("outdir")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--max-shard-size", default="5GB", help="e.g. 200KB to write a sharded checkpoint")
    tiny.add_argument("--bin", action="store_true", help="pytorch_model.bin instead of safetensors")
    args = parser.parse_args(argv)
    from gem_core.model.tiny import make_tiny

    try:
        folder = make_tiny(
            args.outdir, seed=args.seed, max_shard_size=args.max_shard_size, safe_serialization=not args.bin
        )
    except GemError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"tiny GEM written to {folder} (ECG tower: {folder / 'ecg_coca_tiny.pt'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
