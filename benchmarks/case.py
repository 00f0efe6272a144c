"""Run one benchmark case in this fresh process: ``python case.py MODULE.FUNCTION JSON``.

Prints the case's result as one JSON line (the last line of standard output). Peer cases run
under the peers' own pythons, which do not have abcspark; this file imports nothing of it.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    module_name, function_name = sys.argv[1].rsplit(".", 1)
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(**json.loads(sys.argv[2]))
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
