"""``python -m gate.sample DIR``: write the sample image into an OCI layout at DIR."""

import sys
from pathlib import Path

from gate.sample import write_sample_layout

print(write_sample_layout(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out/sample")))
