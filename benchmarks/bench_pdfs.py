"""PDF archive speed: invoicekit vs a sequential loop, and a re-run with everything present.

The sandbox runs in its own process (no shared GIL) with 100 ms latency on every AWS-facing
request — GetInvoicePDF calls, AssumeRole and each document GET alike (the sandbox sleeps
``latency_ms`` in the request's own thread before answering any of them).

* ``speedup_vs_sequential``: 2,000 documents (invoice PDFs and their supplemental documents)
  with :func:`invoicekit.download_invoice_pdfs` versus a plain sequential loop (boto3
  ``get_invoice_pdf`` then one urllib3 GET per document, writing each file). The loop is timed on
  the first 200 documents and scaled x10 (it would take minutes) — target >= 30x, measured with
  the default ``max_workers`` (64) and with 32;
* ``rerun_s`` / ``rerun_get_invoice_pdf_calls``: the same call again with every document already
  archived — target <= 2 s and zero GetInvoicePDF calls (read from ``/_sandbox/stats``).

Run with ``python -m benchmarks pdfs`` (``make bench``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks import isolate_aws_env

DOCUMENTS = 2000
SEQUENTIAL_SAMPLE = 200
LATENCY_MS = 100.0
ACCOUNTS = 60
MONTHS = 24
TODAY = "2026-11-25"
FEWER_WORKERS = 32


def _pick_invoices(org, documents: int) -> list[dict]:
    """The newest invoices, round-robin over accounts, until they hold ``documents`` documents."""
    newest_first = sorted(
        org.invoices,
        key=lambda i: (-i["BillingPeriod"]["Year"], -i["BillingPeriod"]["Month"], i["AccountId"]),
    )
    picked, n = [], 0
    for inv in newest_first:
        if n >= documents:
            break
        picked.append(inv)
        n += len(org.documents_for(inv["InvoiceId"]))
    return picked


def workload(documents: int):
    """The benchmarks' organization, its newest invoices with ``documents`` documents, and their
    summaries frame (the input of ``download_invoice_pdfs``)."""
    from invoicekit import schema
    from invoicekit.sandbox.org import build_organization

    org = build_organization(seed=7, accounts=ACCOUNTS, months=MONTHS, today=TODAY)
    invoices = _pick_invoices(org, documents)
    frame = schema.to_frame(invoices, account_names={a.account_id: a.name for a in org.accounts})
    return org, invoices, frame


def sequential(fleet, invoices: list[dict], limit: int, keep) -> tuple[int, float]:
    """The plain way: one invoice after the other, one document after the other, each handed
    to ``keep(document_id, body)`` (a file write, an S3 put); ``(documents, seconds)``."""
    import urllib3

    http = urllib3.PoolManager()
    clients: dict[str, object] = {}
    docs = 0
    t0 = time.perf_counter()
    for inv in invoices:
        acct = inv["AccountId"]
        if acct not in clients:
            clients[acct] = fleet.client(acct, "invoicing")  # the fleet's endpoint and keys
        pdf = clients[acct].get_invoice_pdf(InvoiceId=inv["InvoiceId"])["InvoicePDF"]
        urls = [(inv["InvoiceId"], pdf["DocumentUrl"])]
        urls += [(d["DocumentId"], d["DocumentUrl"]) for d in pdf.get("SupplementalDocuments", [])]
        for doc_id, url in urls:
            keep(doc_id, http.request("GET", url).data)
            docs += 1
        if docs >= limit:
            break
    return docs, time.perf_counter() - t0


def run() -> list[dict]:
    isolate_aws_env()
    from invoicekit.archive import DEFAULT_MAX_WORKERS, download_invoice_pdfs
    from invoicekit.fleet import load_fleet
    from invoicekit.sandbox import start

    _, invoices, frame = workload(DOCUMENTS)

    rows: list[dict] = []
    with start(in_process=False, seed=7, accounts=ACCOUNTS, months=MONTHS, today=TODAY,
               latency_ms=LATENCY_MS) as sb, tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        fleet = load_fleet(sb.fleet_config)

        seq_dir = Path(tmp) / "sequential"
        seq_dir.mkdir()

        def write(doc_id: str, body: bytes) -> None:
            (seq_dir / f"{doc_id}.pdf").write_bytes(body)

        seq_docs, seq_s = sequential(fleet, invoices, SEQUENTIAL_SAMPLE, write)
        seq_estimate_s = seq_s * DOCUMENTS / seq_docs

        def timed(dest: Path, workers: int):
            sb.reset_stats()
            t0 = time.perf_counter()
            result = download_invoice_pdfs(frame, dest, fleet=fleet, max_workers=workers,
                                           progress=False)  # fmt: skip
            return result, time.perf_counter() - t0

        runs = {}
        for workers in (DEFAULT_MAX_WORKERS, FEWER_WORKERS):
            result, secs = timed(Path(tmp) / f"archive-{workers}", workers)
            runs[workers] = (
                secs,
                int((result["status"] == "downloaded").sum()),
                int((result["status"] == "failed").sum()),
            )
        again, rerun_s = timed(Path(tmp) / f"archive-{DEFAULT_MAX_WORKERS}", DEFAULT_MAX_WORKERS)
        rerun_calls = sum(sb.stats()["requests"].get("GetInvoicePDF", {}).values())
        skipped = int((again["status"] == "skipped").sum())

    rows.append({"benchmark": "sequential loop, 2,000 documents (s, estimated)",
                 "measured": f"{seq_estimate_s:.1f}", "target": "-", "ok": True,
                 "note": f"timed {seq_s:.1f} s on {seq_docs} documents, scaled x{DOCUMENTS / seq_docs:.1f}"})  # fmt: skip
    for workers, (secs, n_docs, failed) in runs.items():
        speedup = seq_estimate_s / secs
        label = "default" if workers == DEFAULT_MAX_WORKERS else "max_workers=32"
        rows.append({"benchmark": f"invoicekit 2,000 documents, {workers} workers ({label}) (s)",
                     "measured": f"{secs:.1f}", "target": "-", "ok": failed == 0,
                     "note": f"{len(invoices)} invoices, {n_docs} documents, {failed} failed"})  # fmt: skip
        rows.append({"benchmark": f"speedup_vs_sequential ({workers} workers)",
                     "measured": f"{speedup:.1f}x", "target": ">= 30x", "ok": speedup >= 30,
                     "note": f"latency {LATENCY_MS:.0f} ms on GetInvoicePDF and document GETs"})  # fmt: skip
    rows.append({"benchmark": "rerun_s (everything archived)", "measured": f"{rerun_s:.2f}",
                 "target": "<= 2 s", "ok": rerun_s <= 2.0, "note": f"{skipped} skipped"})  # fmt: skip
    rows.append({"benchmark": "rerun_get_invoice_pdf_calls", "measured": rerun_calls,
                 "target": "0", "ok": rerun_calls == 0, "note": "from /_sandbox/stats"})  # fmt: skip
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
