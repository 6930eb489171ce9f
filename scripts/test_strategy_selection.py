"""Phase 3 strategy selection check (deployment guide, Stage 2, Test 1).

Runs ``stratloop check strategy-selection``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "strategy-selection", *sys.argv[1:]])
