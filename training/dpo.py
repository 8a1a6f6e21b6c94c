"""``python -m training.dpo --model DIR --data EXPORT.jsonl --out DIR``: DPO of GEM on the ratings export.

See ``training.preference`` (the trainers, data and the model adapter) and ``--help``.
"""

from __future__ import annotations

import sys

from training.preference import main as _main


def main(argv: list[str] | None = None) -> int:
    """The ``gem-dpo`` console command: ``python -m training.dpo``."""
    return _main("dpo", argv)


if __name__ == "__main__":
    sys.exit(main())
