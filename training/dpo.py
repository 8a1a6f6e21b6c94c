"""``python -m training.dpo --model DIR --data EXPORT.jsonl --out DIR``: DPO of GEM on the ratings export.

See ``training.preference`` (the trainers, data and the model adapter) and ``--help``.
"""

from __future__ import annotations

import sys

from training.preference import main

if __name__ == "__main__":
    sys.exit(main("dpo"))
