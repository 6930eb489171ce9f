"""The guide's Phase 3 daily health check: `stratloop check phase3-health`.

Usage: python scripts/phase3_health_check.py --environment staging --output day1.json [more ...]
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "phase3-health", *sys.argv[1:]])
