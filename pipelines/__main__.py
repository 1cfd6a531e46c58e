"""``python -m pipelines`` is the ``demem`` command."""
import sys

from pipelines.cli import main

sys.exit(main())
