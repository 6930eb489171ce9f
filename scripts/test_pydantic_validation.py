"""Phase 2 Pydantic validation check (deployment guide, Stage 2, Tests 1-2).

Runs ``stratloop check pydantic-validation``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["check", "pydantic-validation", *sys.argv[1:]])
