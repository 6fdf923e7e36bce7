"""The pieces every part relies on: redaction, error translation, exact money, CLI exit codes."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from invoicekit import _money
from invoicekit._redact import RedactingFilter, redact, redact_url
from invoicekit.errors import (
    ApiError,
    ConfigError,
    InvalidArgumentError,
    InvoiceKitError,
    ThrottledError,
    translate_client_error,
)

SIG = "a" * 64
# AWS's documented example secret key, assembled at run time so that no tracked file holds a
# string shaped like a live secret (secret scanners cannot tell an example from a real key).
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEJ%2F%2F%2F%2F%2F%2F%2F%2F%2FwEaCXVzLWVhc3QtMSJHMEUCIQ"
PRESIGNED = (
    "https://bucket.s3.us-east-1.amazonaws.com/StatementDocuments/x/123-CommercialInvoice.pdf"
    f"?X-Amz-Security-Token={TOKEN}&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAXXXXXXXXXXXXXXXX%2F20260106%2Fus-east-1%2Fs3%2Faws4_request"
    f"&X-Amz-Date=20260106T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}"
)


def test_redact_url_keeps_where_but_drops_the_query():
    out = redact_url(PRESIGNED)
    assert out.startswith("https://bucket.s3.us-east-1.amazonaws.com/StatementDocuments/")
    assert SIG not in out and "X-Amz-Security-Token" not in out and TOKEN not in out


def test_redact_text_removes_presigned_parts_keys_and_secrets():
    text = (
        f"GET {PRESIGNED} failed; key AKIAIOSFODNN7EXAMPLE "
        f"aws_secret_access_key = {EXAMPLE_SECRET}; "
        f"fragment X-Amz-Signature={SIG}&X-Amz-Expires=900"
    )
    out = redact(text)
    for secret in (SIG, TOKEN, "AKIAIOSFODNN7EXAMPLE", EXAMPLE_SECRET):
        assert secret not in out
    assert "failed" in out and "amazonaws.com" in out


def test_logging_filter_redacts_formatted_records(caplog):
    logger = logging.getLogger("invoicekit.test")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="invoicekit.test"):
        logger.info("downloading %s", PRESIGNED)
    assert caplog.records and SIG not in caplog.text and TOKEN not in caplog.text


def test_errors_redact_their_message_and_keep_structure():
    err = ApiError(
        f"boom at {PRESIGNED}", operation="GetInvoicePDF", account_id="123456789012", code="X"
    )
    assert (
        SIG not in str(err)
        and err.operation == "GetInvoicePDF"
        and err.account_id == "123456789012"
    )
    assert isinstance(InvalidArgumentError("x"), ValueError)
    assert isinstance(InvalidArgumentError("x"), InvoiceKitError)
    cfg = ConfigError("unknown key 'acounts'", path="fleet.yml", line=3)
    assert str(cfg).startswith("fleet.yml:3: ") and cfg.line == 3


def test_translate_client_error_names_account_operation_code_and_fix():
    exc = ClientError(
        {
            "Error": {"Code": "AccessDeniedException", "Message": "not authorized"},
            "ResponseMetadata": {"RequestId": "req-1"},
        },
        "ListInvoiceSummaries",
    )
    err = translate_client_error(exc, account_id="111111111111")
    assert isinstance(err, ApiError) and not isinstance(err, ThrottledError)
    assert (err.code, err.operation, err.account_id, err.request_id) == (
        "AccessDeniedException",
        "ListInvoiceSummaries",
        "111111111111",
        "req-1",
    )
    assert "111111111111" in str(err) and "invoicing:ListInvoiceSummaries" in str(err)
    throttled = translate_client_error(
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "GetInvoicePDF")
    )
    assert isinstance(throttled, ThrottledError)


@pytest.mark.parametrize(
    ("currency", "digits", "amount", "rounded"),
    [
        ("USD", 2, "1.005", "1.01"),
        ("JPY", 0, "12345.5", "12346"),
        ("KWD", 3, "0.0005", "0.001"),
        ("EUR", 2, "-2.345", "-2.35"),
    ],
)
def test_minor_units_and_half_up_rounding(currency, digits, amount, rounded):
    assert _money.minor_units(currency) == digits
    assert _money.quantize(Decimal(amount), currency) == Decimal(rounded)


def test_to_decimal_is_exact_and_refuses_floats():
    assert _money.to_decimal("844.92") == Decimal("844.92")
    assert _money.to_decimal("") is None and _money.to_decimal(None) is None
    with pytest.raises(TypeError):
        _money.to_decimal(0.1)
    with pytest.raises(ValueError, match="not a decimal"):
        _money.to_decimal("12,5")


def test_cli_bad_arguments_exit_2_with_one_line(capsys):
    from invoicekit.cli import EXIT_BAD_INPUT, main

    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("invoicekit: error:")


def test_redact_catches_sts_xml_and_signed_session_token_headers():
    token = "IQoJb3JpZ2luX2VjEJr" + "x" * 40
    text = (
        f"<Credentials><SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey>"
        f"<SessionToken>{token}</SessionToken></Credentials> "
        f"x-amz-security-token:{token}\n{{'X-Amz-Security-Token': b'{token}'}}"
    )
    out = redact(text)
    assert token not in out and "wJalrXUtnFEMI" not in out
    assert out.count("REDACTED") >= 4


def test_install_log_redaction_covers_child_loggers_through_root_handlers():
    import io

    from invoicekit._redact import install_log_redaction

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        install_log_redaction()
        # a child logger nobody named: only the root handler's filter can see its records
        logging.getLogger("botocore.some.new.child").debug("GET %s", PRESIGNED)
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    assert "GET https://bucket.s3" in stream.getvalue()
    assert SIG not in stream.getvalue() and TOKEN not in stream.getvalue()


def test_reconcile_is_a_plain_package_whatever_was_imported_first():
    """No callable-module trick: ``invoicekit.reconcile`` is the package, in any import order,
    and every public name of the package that invoicekit exports is the same object."""
    import subprocess
    import sys

    code = (
        "import types\n"
        "import invoicekit.reconcile.checks as checks\n"  # a submodule first
        "import invoicekit, invoicekit.schema as s\n"
        "from invoicekit import reconcile as m\n"
        "assert type(m) is types.ModuleType and not callable(m), type(m)\n"
        "assert m is invoicekit.reconcile and m.reconcile_invoices is checks.reconcile_invoices\n"
        "f = m.reconcile_invoices(s.empty_frame())\n"
        "assert list(f.columns) == list(m.FINDING_COLUMNS) and len(f) == 0, f.columns\n"
        "assert callable(m.totals) and callable(invoicekit.totals)\n"
        "for name in m.__all__:\n"
        "    if name in invoicekit._EXPORTS:\n"
        "        assert getattr(invoicekit, name) is getattr(m, name), name\n"
        "assert set(invoicekit.__all__) <= set(dir(invoicekit)) | {'__version__'}\n"
        "for name in invoicekit.__all__: getattr(invoicekit, name)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_lazy_export_is_named_for_type_checkers():
    """The TYPE_CHECKING block of invoicekit/__init__.py imports exactly what __getattr__ serves,
    each from the module it is served from, so IDEs and mypy see the real objects."""
    import ast
    from pathlib import Path

    import invoicekit

    tree = ast.parse(Path(invoicekit.__file__).read_text())
    block = next(
        n
        for n in tree.body
        if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING"
    )
    named: dict[str, str] = {}
    for node in ast.walk(block):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                named[alias.asname or alias.name] = node.module
    submodules = {k for k, v in named.items() if v == "invoicekit"}
    exports = {k: v for k, v in named.items() if v != "invoicekit"}
    assert submodules == invoicekit._SUBMODULES
    assert exports == invoicekit._EXPORTS
    assert sorted(invoicekit.__all__) == sorted([*named, "__version__"])
