"""``python -m llmos_quant ...`` runs the same CLI as the ``llmos-quant`` script."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
