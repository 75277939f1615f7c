"""Fuzz harnesses for every parser of untrusted input (see docs/security.md, "Fuzzing").

One module per parser family registers its targets with :mod:`tests.fuzz.runner`; the runner
drives them with atheris (coverage-guided, libFuzzer) and replays seeds and past crashes.
"""
