"""``python -m miner.apiindex``: the child process that builds one part of
the API index or collects docstrings (see :func:`miner.apiindex.build.main`)."""

import sys

from miner.apiindex.build import main

sys.exit(main())
