"""The guide's Phase 2 daily health check: `stratloop check phase2-health`.

Usage: python scripts/phase2_health_check.py --environment staging --output day1.json [more ...]
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "phase2-health", *sys.argv[1:]])
