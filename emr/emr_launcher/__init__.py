"""The laptop side of abcspark on EMR: upload artifacts, start a cluster or add a step, fetch.

``spec`` builds the EMR requests (no AWS calls), ``aws`` makes the boto3 calls, ``cli`` is the
command line of ``emr/launch.py``.
"""
