"""Daily shadow-mode validation on the day's own seeded sample; keeps one report per day.

Deployment guide, Phase 3 Stage 4 (daily checks).

Runs ``stratloop shadow daily-validation``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["shadow", "daily-validation", *sys.argv[1:]])
