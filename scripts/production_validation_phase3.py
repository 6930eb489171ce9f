"""The guide's Phase 3 production validation: `stratloop check production-validation --phase 3`.

Usage: python scripts/production_validation_phase3.py --duration-hours H --output report.json
[--environment NAME] [--max-iterations N]
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "production-validation", "--phase", "3", *sys.argv[1:]])
