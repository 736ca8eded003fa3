"""Where processed streams go besides the Python API: ``sensorio.sinks.lsl.LslOutlet``
(Lab Streaming Layer). Each sink imports its optional dependency lazily."""
