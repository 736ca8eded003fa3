"""What a long-running command does before its signal path starts."""

from __future__ import annotations

import gc


def freeze_setup() -> None:
    """Move what the command has built by now (numpy, scipy, the pipeline,
    the model) out of the garbage collector's reach: it lives to the end,
    and left there a full collection walks all of it, 10-40 ms with the
    GIL held, in the middle of the signal path (docs/performance.md,
    "Garbage collection on the signal path")."""
    gc.collect()
    gc.freeze()
