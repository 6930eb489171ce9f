"""Phase 2 validation edge cases (deployment guide, Stage 2, Test 4).

Runs ``stratloop check validation-edge-cases``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "validation-edge-cases", *sys.argv[1:]])
