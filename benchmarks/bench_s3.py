"""S3 audit archive speed: invoicekit into a local S3 server vs a sequential loop, and a re-run.

The sandbox runs in its own process with 100 ms latency on every AWS-facing request
(GetInvoicePDF, AssumeRole, each document GET); moto's S3 server runs in another process on
loopback. The bucket has Object Lock; every object is put with a SHA-256 checksum and
GOVERNANCE retention.

* ``speedup_vs_sequential``: 2,000 documents with ``download_invoice_pdfs(dest="s3://...")``
  versus a plain sequential loop (boto3 ``get_invoice_pdf``, one urllib3 GET per document, one
  ``put_object`` with the checksum and the lock). The loop is timed on the first 200 documents
  and scaled — target >= 30x;
* ``rerun_s`` / ``rerun_get_invoice_pdf_calls``: the same call again with every document
  stored — target <= 2 s and zero GetInvoicePDF calls (read from ``/_sandbox/stats``).

``BENCH_S3_DOCUMENTS`` (default 2000) sets the size, for a quick check at a smaller one;
``BENCH_S3_CLIENT=boto3`` times botocore's path instead of the lean one (the default). Run
with ``python -m benchmarks s3``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from contextlib import ExitStack
from unittest import mock

from benchmarks import isolate_aws_env
from benchmarks.bench_pdfs import ACCOUNTS, LATENCY_MS, MONTHS, TODAY, sequential, workload

DOCUMENTS = int(os.environ.get("BENCH_S3_DOCUMENTS", "2000"))
#: ``download_invoice_pdfs(client=...)``: ``lean`` (the default) or ``boto3`` (BENCH_S3_CLIENT)
CLIENT = os.environ.get("BENCH_S3_CLIENT", "lean")
SEQUENTIAL_SAMPLE = max(20, min(200, DOCUMENTS // 10))
RETAIN_UNTIL = "2099-12-31"


def _putter(s3, bucket: str, lock: dict):
    """The sequential loop's way to keep a document: one ``put_object`` with checksum and lock."""

    def put(doc_id: str, body: bytes) -> None:
        sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
        s3.put_object(Bucket=bucket, Key=f"sequential/{doc_id}.pdf", Body=body,
                      ChecksumAlgorithm="SHA256", ChecksumSHA256=sha, **lock)  # fmt: skip

    return put


def run() -> list[dict]:
    isolate_aws_env()
    from invoicekit import _client, clock
    from invoicekit.archive import DEFAULT_MAX_WORKERS, download_invoice_pdfs
    from invoicekit.archive.s3 import retention
    from invoicekit.fleet import load_fleet
    from invoicekit.sandbox import start
    from invoicekit.sandbox.s3 import s3_server

    _, invoices, frame = workload(DOCUMENTS)
    lock = retention("GOVERNANCE", retain_until=RETAIN_UNTIL, now=TODAY)

    with ExitStack() as stack:
        endpoint = stack.enter_context(s3_server())
        sb = stack.enter_context(start(in_process=False, seed=7, accounts=ACCOUNTS, months=MONTHS,
                                       today=TODAY, latency_ms=LATENCY_MS))  # fmt: skip
        import boto3

        s3 = _client.client(boto3.Session(region_name="us-east-1"), "s3", endpoint_url=endpoint,
                            max_pool_connections=DEFAULT_MAX_WORKERS)  # fmt: skip
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        fleet = load_fleet(sb.fleet_config)

        seq_docs, seq_s = sequential(
            fleet, invoices, SEQUENTIAL_SAMPLE, _putter(s3, bucket, lock.put_args())
        )
        seq_estimate_s = seq_s * DOCUMENTS / seq_docs

        # invoicekit makes its own S3 client, as `invoicekit download --dest s3://` does: the
        # standard chain with AWS_ENDPOINT_URL_S3 (and its lean signed PUT, the default); the
        # variable is restored afterwards (the other benchmarks run in this process)
        stack.enter_context(mock.patch.dict(os.environ, {"AWS_ENDPOINT_URL_S3": endpoint}))

        def timed():
            sb.reset_stats()
            t0 = time.perf_counter()
            with clock.pinned(TODAY):
                result = download_invoice_pdfs(frame, f"s3://{bucket}/archive", fleet=fleet,
                                               progress=False, retention=lock,
                                               client=CLIENT)  # fmt: skip
            return result, time.perf_counter() - t0

        result, secs = timed()
        n_docs = int((result["status"] == "downloaded").sum())
        failed = int((result["status"] == "failed").sum())
        again, rerun_s = timed()
        rerun_calls = sum(sb.stats()["requests"].get("GetInvoicePDF", {}).values())
        skipped = int((again["status"] == "skipped").sum())

    speedup = seq_estimate_s / secs
    n = f"{DOCUMENTS:,}"
    return [
        {"benchmark": f"sequential download-and-put loop, {n} documents (s, estimated)",
         "measured": f"{seq_estimate_s:.1f}", "target": "-", "ok": True,
         "note": f"timed {seq_s:.1f} s on {seq_docs} documents, scaled x{DOCUMENTS / seq_docs:.1f}"},
        {"benchmark": f"invoicekit {n} documents into S3, {DEFAULT_MAX_WORKERS} workers (s)",
         "measured": f"{secs:.1f}", "target": "-", "ok": failed == 0,
         "note": f"{len(invoices)} invoices, {n_docs} documents put, {failed} failed, "
                 f"client={CLIENT}"},
        {"benchmark": "speedup_vs_sequential (S3)", "measured": f"{speedup:.1f}x",
         "target": ">= 30x", "ok": speedup >= 30,
         "note": f"latency {LATENCY_MS:.0f} ms on GetInvoicePDF and document GETs; moto S3"},
        {"benchmark": "rerun_s (everything stored, S3)", "measured": f"{rerun_s:.2f}",
         "target": "<= 2 s", "ok": rerun_s <= 2.0, "note": f"{skipped} skipped"},
        {"benchmark": "rerun_get_invoice_pdf_calls (S3)", "measured": rerun_calls,
         "target": "0", "ok": rerun_calls == 0, "note": "from /_sandbox/stats"},
    ]  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
