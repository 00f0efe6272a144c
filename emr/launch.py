#!/usr/bin/env python3
"""Run abcspark on Amazon EMR from a laptop: ``python emr/launch.py --help``.

Needs boto3 and AWS credentials (none for ``--dry-run``). Walk-through: emr/README.md.
"""

from emr_launcher.cli import main  # emr/ is on sys.path when this file is run

if __name__ == "__main__":
    main()
