"""Run shadow mode in an environment and write the Phase 3 log.

Deployment guide, Phase 3 Stage 2, Test 3.

Runs ``stratloop shadow run``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["shadow", "run", *sys.argv[1:]])
