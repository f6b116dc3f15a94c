"""Entry point: ``python -m analytics.server --path /abs/folder [--port N] [--port-file F]``.

The implementation lives in ``analytics.chdb_server`` (imported by the package); this thin module
exists so that ``-m`` runs a module the package has not imported yet.
"""

import sys

from analytics.chdb_server import main

if __name__ == "__main__":
    sys.exit(main())
