"""Reports of gate's results; one module per report (the native scan report in ``scan``)."""
