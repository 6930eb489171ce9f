"""Post-Phase 2-4: the date-range audit report with the per-phase summary."""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["audit", "final-report", *sys.argv[1:]])
