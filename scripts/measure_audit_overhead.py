"""Phase 4: measure the per-record audit overhead against the 5 ms budget."""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["audit", "overhead", *sys.argv[1:]])
