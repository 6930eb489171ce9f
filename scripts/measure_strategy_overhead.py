"""Phase 3 strategy-pattern overhead measurement (deployment guide, Stage 3).

Runs ``stratloop phase3 strategy-overhead``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["phase3", "strategy-overhead", *sys.argv[1:]])
