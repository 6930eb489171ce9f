"""Phase 3 strategy factory check (deployment guide, Stage 2, Test 2).

Runs ``stratloop check strategy-factory``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "strategy-factory", *sys.argv[1:]])
