"""``python -m training.kto --model DIR --data EXPORT.jsonl --out DIR``: KTO of GEM on the ratings export.

See ``training.preference`` (the trainers, data and the model adapter) and ``--help``.
"""

from __future__ import annotations

import sys

from training.preference import main as _main


def main(argv: list[str] | None = None) -> int:
    """The ``gem-kto`` console command: ``python -m training.kto``."""
    return _main("kto", argv)


if __name__ == "__main__":
    sys.exit(main())
