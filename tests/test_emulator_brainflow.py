"""BrainFlow's own Cyton driver reads the emulator's pseudo-terminal and gets
exactly the samples the ground truth says were sent."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sensorio.emulator import Emulator, Truth, TruthLog, config_from_options
from sensorio.emulator.devices.cyton import UV_PER_COUNT
from sensorio.emulator.pty import PtyServer
from sensorio.urlhandler.protocol_brainflow import load_brainflow

pytest.importorskip("brainflow")


def _brainflow():
    bs = load_brainflow()  # works around brainflow 5.23's pkg_resources look-up
    BoardIds, BoardShim, BrainFlowInputParams = bs.BoardIds, bs.BoardShim, bs.BrainFlowInputParams
    return BoardIds, BoardShim, BrainFlowInputParams


def test_brainflow_cyton_gets_exactly_the_truth(tmp_path) -> None:
    link = ["drop:at=0.4,count=3"]
    BoardIds, BoardShim, BrainFlowInputParams = _brainflow()
    opts = {
        "format": ["cyton"],
        "seed": ["9"],
        "truth_codes": ["1"],
        "link": link,
        "fault": ["liftoff:channel=3,start=0.2,end=0.5"],
    }
    truth = Truth(tmp_path / "truth.jsonl", keep=True)
    server = PtyServer(Emulator(config_from_options(opts), truth), link=tmp_path / "cyton").start()
    params = BrainFlowInputParams()
    params.serial_port = server.port
    board = BoardShim(BoardIds.CYTON_BOARD, params)
    try:
        board.prepare_session()
        board.start_stream()
        time.sleep(1.0)
        board.stop_stream()
        data = board.get_board_data()
    finally:
        board.release_session()
        del board  # now, not at interpreter exit, where BrainFlow's __del__ complains
        server.stop()
        truth.close()
    log = TruthLog.load(tmp_path / "truth.jsonl")
    commands = [r["text"] for r in log.of("command")]
    assert commands[:3] == ["v", "d", "b"]  # BrainFlow's handshake, then start
    assert log.of("command")[0]["reply"].endswith("$$$")

    board_id = BoardIds.CYTON_BOARD.value
    eeg = BoardShim.get_eeg_channels(board_id)
    package = data[BoardShim.get_package_num_channel(board_id)].astype(np.int64)
    got = np.rint(data[eeg].T / UV_PER_COUNT).astype(np.int64)
    sent_seq = log.frame_seq(0)
    sent = log.codes(0)
    n = got.shape[0]
    assert n > 150
    # what BrainFlow has is the start of what was sent, sample for sample;
    # only the packets in flight when it stopped reading are missing
    np.testing.assert_array_equal(package, sent_seq[:n] & 0xFF)
    np.testing.assert_array_equal(got, sent[:n])
    assert sent_seq.size - n <= 5
    # the lifted electrode rails, as the truth says
    [fault] = log.faults()
    t = sent_seq[:n] / 250.0
    inside = (t >= fault["start_s"]) & (t < fault["end_s"] - 1e-9)
    assert (got[inside, 2] == 2**23 - 1).all()
    dropped = log.touched("drop")
    assert len(dropped) == 3
    # BrainFlow sees the gap in the sample numbers where the truth says
    gap = np.flatnonzero(np.diff(package) % 256 != 1)
    assert gap.size == 1 and package[gap[0] + 1] - package[gap[0]] == 4
    assert not set(dropped) & set(sent_seq.tolist())
