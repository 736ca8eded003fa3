"""Application workflows above dsp, capture and recording: analyse a file
(``sensorio.workflows.analyze``: decode, run the pipelines, collect the
signals and the events). See docs/architecture.md for the layers."""
