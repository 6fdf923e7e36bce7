"""Shared fixtures: an isolated AWS environment and sandboxes on free loopback ports."""

from __future__ import annotations

import os

import pytest

# Nothing in the test suite may reach a real AWS account: fake default credentials, no
# instance metadata, no user config files. Set before boto3 reads anything.
_ISOLATED_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE",
    "AWS_SECRET_ACCESS_KEY": "fake-secret-for-tests",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
for _k in (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_INVOICING",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ROLE_ARN",
):
    os.environ.pop(_k, None)
os.environ.update(_ISOLATED_ENV)


@pytest.fixture(scope="session")
def sandbox():
    """A default sandbox (12 accounts x 24 months, fixed date) shared by a test module's worker.

    Treat it as read-only: tests that need faults, anomalies or other sizes use ``make_sandbox``.
    """
    from invoicekit.sandbox import start

    with start(today="2026-11-25") as sb:
        yield sb


@pytest.fixture
def make_sandbox():
    """Factory: ``make_sandbox(**kwargs)`` starts a sandbox that is stopped after the test."""
    from invoicekit.sandbox import start

    started = []

    def _make(**kwargs):
        kwargs.setdefault("today", "2026-11-25")
        sb = start(**kwargs)
        started.append(sb)
        return sb

    yield _make
    for sb in started:
        sb.stop()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API on loopback: moto in server mode, in its own process (see
    :func:`invoicekit.sandbox.s3.s3_server`).

    Yields the endpoint URL (``http://127.0.0.1:PORT``). Buckets persist for the session of the
    worker: give each test its own bucket name. ``POST /moto-api/reset`` wipes everything.
    """
    from invoicekit.sandbox.s3 import s3_server as serve

    with serve() as url:
        yield url


@pytest.fixture
def s3_bucket(s3_server, request):
    """Factory: ``s3_bucket(object_lock=True, versioning=None)`` creates a fresh bucket on the
    loopback S3 server and returns ``(name, boto3 S3 client)``; the bucket name is unique to the
    test. Object Lock implies versioning (as on AWS)."""
    import re
    import uuid

    import boto3

    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    stem = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:30].strip("-")

    def _make(object_lock: bool = False, versioning: bool | None = None) -> tuple[str, object]:
        name = f"{stem}-{uuid.uuid4().hex[:8]}"
        kwargs = {"Bucket": name}
        if object_lock:
            kwargs["ObjectLockEnabledForBucket"] = True
        client.create_bucket(**kwargs)
        if versioning and not object_lock:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name, client

    return _make


@pytest.fixture
def counted_puts(monkeypatch):
    """The keys the lean S3 PUT (:class:`invoicekit._lean.LeanS3Put`) puts, in order."""
    from invoicekit import _lean

    calls = []
    real = _lean.LeanS3Put.put

    def put(self, key, *args, **kwargs):
        calls.append(key)
        return real(self, key, *args, **kwargs)

    monkeypatch.setattr(_lean.LeanS3Put, "put", put)
    return calls
