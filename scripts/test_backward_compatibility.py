"""Phase 2 backward-compatibility check (deployment guide, Stage 2, Test 3).

Runs ``stratloop check backward-compatibility``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "backward-compatibility", *sys.argv[1:]])
