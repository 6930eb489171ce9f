"""Phase 2 validation overhead (deployment guide, Stage 3).

Runs ``stratloop check validation-overhead``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "validation-overhead", *sys.argv[1:]])
