"""Process-wide CLI settings chosen by global options."""

debug = False
gate_closed = False  # set by a command that returns the "gate closed" verdict (exit 2)
