"""Phase 4: check that every audit record has the guide's required fields, then verify the trail."""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["audit", "check-records", *sys.argv[1:]])
