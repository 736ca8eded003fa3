"""Moved to :mod:`sensorio.workflows.analyze` (the file-to-analysis workflow
sits above dsp, see docs/architecture.md). This name stays for old imports:
it is the same module object, so its names (and patches of them) are shared."""

import sys
from typing import TYPE_CHECKING

from ..workflows import analyze as _moved

if TYPE_CHECKING:  # what type checkers see here: the moved module's names
    from ..workflows.analyze import *  # noqa: F403

sys.modules[__name__] = _moved
