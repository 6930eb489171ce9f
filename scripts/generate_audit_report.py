"""Phase 4: write the self-contained HTML audit report."""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["audit", "report", *sys.argv[1:]])
