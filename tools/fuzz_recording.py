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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sensorio import Parser  # noqa: E402
from sensorio.errors import SensorioError  # noqa: E402
from sensorio.recording import RecordingReader, feed_items  # noqa: E402


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
    import atheris  # only the fuzzing run needs it

    atheris.instrument_all()  # coverage feedback from the already imported Python code
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
