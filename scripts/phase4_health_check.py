"""The guide's Phase 4 daily health check: `stratloop check phase4-health`.

Usage: python scripts/phase4_health_check.py --environment staging --output day1.json [more ...]
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "phase4-health", *sys.argv[1:]])
