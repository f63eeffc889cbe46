"""`python -m c7n_upgrade.sandbox.helm ARGS...` is the sandbox's `helm` (D/bin/helm runs it)."""
import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
