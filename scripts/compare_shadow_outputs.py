"""Compare two shadow logs and exit 0 only when equivalence reaches --threshold.

Deployment guide, Phase 3.

Runs ``stratloop shadow compare``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["shadow", "compare", *sys.argv[1:]])
