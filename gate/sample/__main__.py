"""``python -m gate.sample DIR``: write the sample image into an OCI layout at DIR.

``python -m gate.sample --advisories`` prints the directory of the sample's OSV records.
"""

import sys
from pathlib import Path

from gate.sample import ADVISORIES, write_sample_layout

if sys.argv[1:] == ["--advisories"]:
    print(ADVISORIES)
else:
    print(write_sample_layout(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out/sample")))
