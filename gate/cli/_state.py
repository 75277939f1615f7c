"""Process-wide CLI settings chosen by global options (set anew by every invocation)."""

debug = False
