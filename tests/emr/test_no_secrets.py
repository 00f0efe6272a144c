"""No account id, access key, secret or personal bucket name anywhere in emr/ or tests/emr/."""

from __future__ import annotations

import re

import pytest

from .conftest import EMR_DIR, ROOT

FILES = sorted(
    path
    for folder in (EMR_DIR, ROOT / "tests" / "emr")
    for path in folder.rglob("*")
    if path.is_file() and "__pycache__" not in path.parts
)
ACCOUNT_ID = re.compile(r"(?<![\w.-])\d{12}(?![\w.-])")
ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
SECRET = re.compile(r"(?i)secret[\w ]{0,20}[=:]\s*['\"]?(?!testing)[A-Za-z0-9/+]{40}\b")
S3_URI = re.compile(r"s3://([^/\s'\"`)\]]*)")
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Literal bucket names allowed: the documentation placeholder and the generic word.
PLACEHOLDER_BUCKETS = {"my-abc-bucket", "bucket"}


def test_the_scan_sees_the_folder():
    names = {path.name for path in FILES}
    assert {"install-abcspark.sh", "cluster.yaml", "README.md", "spec.py"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_secret_account_id_or_bucket_name(path):
    text = path.read_text(errors="replace")
    assert not ACCOUNT_ID.findall(text), "a 12-digit number (an account id?)"
    assert not ACCESS_KEY.findall(text), "an AWS access key id"
    assert not SECRET.findall(text), "a secret access key"
    # Parameters, variables and globs (${Bucket}, {bucket}, BUCKET, ?*) are not bucket names.
    literal = {name for name in S3_URI.findall(text) if BUCKET_NAME.fullmatch(name)}
    assert literal <= PLACEHOLDER_BUCKETS, (
        f"bucket names {literal - PLACEHOLDER_BUCKETS}: use a parameter or my-abc-bucket"
    )
