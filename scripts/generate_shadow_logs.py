"""Write Phase 1-2 and Phase 3 shadow logs for the same seeded iterations.

Deployment guide, Phase 3 readiness.

Runs ``stratloop shadow generate-logs``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["shadow", "generate-logs", *sys.argv[1:]])
