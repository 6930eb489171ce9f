"""Phase 4: one UTC day's audit report over every archive and instance."""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["audit", "daily-report", *sys.argv[1:]])
