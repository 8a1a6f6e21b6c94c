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


def end_distributed(wait: bool = True) -> None:
    """Leave the process group cleanly once a run is over (under ``accelerate launch``/torchrun).

    A process that exits with its gloo group still open can abort in the group's threads at exit
    ("terminate called without an active exception"), failing a run that trained and saved correctly.
    ``wait``: meet the other ranks first (not after an error, which they may not share).
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
