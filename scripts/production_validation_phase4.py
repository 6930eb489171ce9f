"""The guide's Phase 4 production validation: `stratloop check production-validation --phase 4`.

Usage: python scripts/production_validation_phase4.py --duration-hours H --output report.json
[--environment NAME] [--max-iterations N]
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "production-validation", "--phase", "4", *sys.argv[1:]])
