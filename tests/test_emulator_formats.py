"""sensorio's Cyton and ASCII parsers decode the emulator's output with the
loss and corruption counts the ground truth says (skipped until the C core
knows these formats)."""

from __future__ import annotations

import numpy as np
import pytest
from emulator_util import run

import sensorio
from sensorio.errors import FormatError


def _parser(name: str) -> sensorio.Parser:
    try:
        return sensorio.Parser(name)
    except FormatError:
        pytest.skip(f"the {name} format is not in this build yet")


def test_cyton_parser_counts_what_the_truth_says() -> None:
    p = _parser("cyton")
    link = [
        "drop:at=0.3,count=2",
        "drop:at=1.0,count=30",
        "bitflip:at=0.5",
        "garbage:at=0.7,bytes=20",
    ]
    data, truth = run(b"b", format="cyton", seed=4, duration=2.0, truth_codes=True, link=link)
    p.feed(data)
    got = sensorio.concat_blocks(p.read())[0]["samples"]
    sent = truth.codes(0)
    st = p.stats
    # both drops are between good packets: the 8-bit counter shows them all
    assert st.lost_frames == len(truth.touched("drop")) == 32
    # the noise is counted, on its own; the packet after it survives
    assert (st.malformed, st.bytes_malformed) == (1, 20)
    # the last packet waits for the next start byte to be trusted
    n = got.shape[0]
    assert sent.shape[0] - n <= 1
    # a flipped bit in a sample goes unnoticed (no CRC): exactly that value differs
    [(_, fseq, offset, bit)] = truth.link_faults(kind="bitflip")[0]["frames"]
    row = int(np.flatnonzero(truth.frame_seq(0) == fseq)[0])
    diff = np.argwhere(got != sent[:n])
    assert diff.tolist() == [[row, (offset - 2) // 3]]
    byte_in_value = (offset - 2) % 3  # big-endian: byte 0 is the top one
    delta = int(got[row, diff[0][1]]) - int(sent[row, diff[0][1]])
    assert abs(delta) % (1 << (8 * (2 - byte_in_value) + bit)) == 0


@pytest.mark.parametrize("labels", [False, True])
def test_ascii_parser_decodes_the_lines(labels: bool) -> None:
    p = _parser("ascii")
    data, truth = run(
        format="ascii",
        seed=2,
        duration=1.0,
        truth_codes=True,
        labels=labels,
        link=["drop:at=0.2,count=2", "garbage:at=0.5,bytes=10"],
    )
    p.feed(data)
    got = sensorio.concat_blocks(p.read())[0]["samples"]
    sent = truth.codes(0)
    spoilt = np.isin(truth.frame_seq(0), truth.touched("garbage"))
    if labels:
        # noise before "ch1:" only lengthens the first label: the values survive
        np.testing.assert_array_equal(got, sent)
    else:
        assert p.stats.malformed == 1
        np.testing.assert_array_equal(got, sent[~spoilt])
