"""Phase 4: count violations in a trail and prove detection on injected copies."""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["audit", "violations", *sys.argv[1:]])
