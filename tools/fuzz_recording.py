#!/usr/bin/env python3
"""Fuzz the recording reader (and the decoder behind it) with atheris.

    pip install atheris
    python3 tools/fuzz_recording.py tests/corpus/recording -max_total_time=600

The contract under test: any input either raises SensorioError (not a
recording, header cut or damaged) or reads through to the end, reporting
damage and cuts; nothing else may escape. tests/test_recording_fuzz.py
replays the corpus through the same one_input in every ordinary test run.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    import atheris  # only the fuzzing run needs it

    # coverage feedback from sensorio's code only: instrumenting everything
    # loaded (numpy included) costs minutes at start and slows every execution
    _instrumented = atheris.instrument_imports(include=["sensorio"])
else:
    _instrumented = contextlib.nullcontext()

with _instrumented:
    from sensorio import Parser
    from sensorio.errors import SensorioError
    from sensorio.recording import RecordingReader, feed_items


def one_input(data: bytes) -> None:
    try:
        reader = RecordingReader.from_bytes(data)
    except SensorioError:
        return
    parser = Parser("sio")  # the header's format is untrusted input too
    for _ in feed_items(parser, reader.items()):
        pass
    reader.report.problems()
    parser.stats.as_dict()


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
