"""Bridges to other EMG tools (imported on demand: sensorio itself never imports them).

- ``sensorio.bridges.libemg``: sensorio as a live source for libEMG's
  OnlineDataHandler, and recordings as files for its OfflineDataHandler.
- ``sensorio.bridges.bids``: a recording as a BIDS-EMG dataset (BDF+ and sidecars).
"""
