"""Phase 3 strategy-pattern overhead measurement (deployment guide, Stage 3).

Runs ``stratloop check strategy-overhead``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "strategy-overhead", *sys.argv[1:]])
