"""Command-line conventions of the training steps: argument errors are one ``error:`` line, status 2."""

from __future__ import annotations

import argparse
import sys


class Parser(argparse.ArgumentParser):
    """``argparse`` with the project's error format (as ``gem_core.ecg``/``gem_core.features``)."""

    def error(self, message):
        print(
            f"error: {message} (python -m {self.prog.removeprefix('python -m ')} --help lists the options)",
            file=sys.stderr,
        )
        raise SystemExit(2)
