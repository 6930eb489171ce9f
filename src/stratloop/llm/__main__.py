"""``python -m stratloop.llm SCRIPT.yaml``: serve scripted OpenAI replies for a rehearsal."""

import sys

from stratloop.llm.scripted_server import main

if __name__ == "__main__":
    sys.exit(main())
