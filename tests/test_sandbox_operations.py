"""Every operation of the botocore ``invoicing`` model against the sandbox, through boto3.

Invoice units (AsOf across the model's mid-range changes, pagination, rules, idempotency),
profiles, tags and procurement-portal preferences; validation the server must do itself (a client
with ``parameter_validation=False`` sends what botocore would refuse); access control; stats.
Expectations come from the organization model (``sb.org``), never from hard-coded answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from invoicekit.sandbox import start

TODAY = "2026-11-25"
RAW = Config(parameter_validation=False, retries={"max_attempts": 1})


@pytest.fixture(scope="module")
def sb():
    with start(accounts=3, months=24, today=TODAY) as handle:
        yield handle


@pytest.fixture
def fresh(make_sandbox):
    """A sandbox of its own for tests that change state."""
    return make_sandbox(accounts=3, months=24)


def client(sb, account=None, *, config: Config | None = None):
    account = account or sb.org.accounts[0]
    return boto3.client(
        "invoicing",
        region_name="us-east-1",
        endpoint_url=sb.endpoint_url,
        aws_access_key_id=account.access_key_id,
        aws_secret_access_key=account.secret_access_key,
        config=config or Config(retries={"max_attempts": 1}),
    )


def org_client(sb, *, config=None):
    return boto3.client(
        "invoicing",
        region_name="us-east-1",
        endpoint_url=sb.endpoint_url,
        aws_access_key_id=sb.org.org_access_key_id,
        aws_secret_access_key=sb.org.org_secret_access_key,
        config=config or Config(retries={"max_attempts": 1}),
    )


def error(exc_info) -> dict:
    return exc_info.value.response


def fields(exc_info) -> list[str]:
    return [f["name"] for f in error(exc_info).get("fieldList", [])]


def members(sb, k=0) -> list[str]:
    return [m.account_id for m in sb.org.members[sb.org.accounts[k].account_id]]


def free_member(sb, k=0) -> str:
    """A member of payer ``k`` in no unit now (the payer itself always is)."""
    payer = sb.org.accounts[k].account_id
    taken = {a for u in sb.org.invoice_units(payer) for a in u["Rule"]["LinkedAccounts"]}
    return next(a for a in members(sb, k)[1:] if a not in taken)


def as_dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# -- the model ---------------------------------------------------------------------------------


def test_every_operation_of_the_model_is_answered_and_counted(fresh):
    model = botocore.session.get_session().get_service_model("invoicing")
    assert len(model.operation_names) >= 21
    c = client(fresh, config=RAW)
    fresh.reset_stats()
    for name in model.operation_names:
        method = getattr(c, botocore.xform_name(name))
        try:
            method()  # no members: answered by the server, never "unknown operation"
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            assert code in {"ValidationException", "ResourceNotFoundException"}, (name, code)
    counted = fresh.stats()["requests"]
    payer = fresh.org.accounts[0].account_id
    for name in model.operation_names:
        assert counted[name] == {payer: 1}, name


# -- invoice units: reading ----------------------------------------------------------------------


def test_list_invoice_units_equals_the_model_and_paginates(sb):
    for acct in sb.org.accounts:
        c = client(sb, acct)
        expected = sb.org.invoice_units(acct.account_id)
        got = c.list_invoice_units()["InvoiceUnits"]
        assert [u["InvoiceUnitArn"] for u in got] == [u["InvoiceUnitArn"] for u in expected]
        for g, e in zip(got, expected, strict=True):
            assert g["Rule"] == e["Rule"] and g["Name"] == e["Name"]
            assert g["LastModified"] == as_dt(e["LastModified"])
    c = client(sb)
    pages = list(c.get_paginator("list_invoice_units").paginate(PaginationConfig={"PageSize": 1}))
    payer = sb.org.accounts[0].account_id
    assert len(pages) == len(sb.org.invoice_units(payer)) >= 2
    assert all(len(p["InvoiceUnits"]) == 1 for p in pages)


def test_get_and_list_as_of_give_the_membership_before_and_after_the_move(sb):
    payer = sb.org.accounts[0].account_id
    c = client(sb)
    histories = sb.org.unit_histories(payer)
    checked = 0
    for arn, history in histories.items():
        for (_, cfg0), (t1, cfg1) in zip(history, history[1:], strict=False):
            if cfg0 is None or cfg1 is None:
                continue
            if cfg0["Rule"] == cfg1["Rule"] or t1 < datetime(2024, 11, 1, tzinfo=UTC).timestamp():
                continue
            before = c.get_invoice_unit(InvoiceUnitArn=arn, AsOf=as_dt(t1) - timedelta(hours=1))
            after = c.get_invoice_unit(InvoiceUnitArn=arn, AsOf=as_dt(t1) + timedelta(hours=1))
            assert before["Rule"]["LinkedAccounts"] == cfg0["Rule"]["LinkedAccounts"]
            assert after["Rule"]["LinkedAccounts"] == cfg1["Rule"]["LinkedAccounts"]
            assert after["LastModified"] == as_dt(t1)
            moved = set(cfg0["Rule"]["LinkedAccounts"]) ^ set(cfg1["Rule"]["LinkedAccounts"])
            lists = [
                c.list_invoice_units(AsOf=as_dt(t1) + d, Filters={"Accounts": sorted(moved)})
                for d in (-timedelta(hours=1), timedelta(hours=1))
            ]
            names = [{u["InvoiceUnitArn"] for u in page["InvoiceUnits"]} for page in lists]
            assert names[0] != names[1]
            checked += 1
    assert checked >= 2


def test_a_deleted_unit_is_visible_with_as_of_before_its_deletion(sb):
    payer = sb.org.accounts[2].account_id  # Data Platform: yearly research units
    c = client(sb, sb.org.accounts[2])
    deleted = [(arn, h) for arn, h in sb.org.unit_histories(payer).items() if h[-1][1] is None]
    assert deleted
    arn, history = deleted[0]
    gone_at = as_dt(history[-1][0])
    was = c.get_invoice_unit(InvoiceUnitArn=arn, AsOf=gone_at - timedelta(days=1))
    assert was["Name"] == history[-2][1]["Name"]
    listed = c.list_invoice_units(AsOf=gone_at - timedelta(days=1))["InvoiceUnits"]
    assert arn in {u["InvoiceUnitArn"] for u in listed}
    for kwargs in ({}, {"AsOf": gone_at + timedelta(days=1)}):
        with pytest.raises(ClientError) as exc:
            c.get_invoice_unit(InvoiceUnitArn=arn, **kwargs)
        assert error(exc)["Error"]["Code"] == "ResourceNotFoundException"
    assert arn not in {u["InvoiceUnitArn"] for u in c.list_invoice_units()["InvoiceUnits"]}


def test_list_filters_names_receivers_accounts(sb):
    payer = sb.org.accounts[0].account_id
    c = client(sb)
    units = sb.org.invoice_units(payer)
    one = units[0]
    by_name = c.list_invoice_units(Filters={"Names": [one["Name"]]})["InvoiceUnits"]
    assert [u["InvoiceUnitArn"] for u in by_name] == [one["InvoiceUnitArn"]]
    by_receiver = c.list_invoice_units(Filters={"InvoiceReceivers": [one["InvoiceReceiver"]]})
    assert [u["InvoiceUnitArn"] for u in by_receiver["InvoiceUnits"]] == [one["InvoiceUnitArn"]]
    account = one["Rule"]["LinkedAccounts"][-1]
    by_account = c.list_invoice_units(Filters={"Accounts": [account]})["InvoiceUnits"]
    assert [u["InvoiceUnitArn"] for u in by_account] == [one["InvoiceUnitArn"]]
    none = c.list_invoice_units(Filters={"Accounts": [payer], "Names": [one["Name"]]})
    assert none["InvoiceUnits"] == []
    assert (
        c.list_invoice_units(Filters={"BillSourceAccounts": ["999999999999"]})["InvoiceUnits"] == []
    )


# -- invoice units: changing ---------------------------------------------------------------------


def test_create_update_delete_take_effect_for_the_future_and_keep_history(fresh):
    c = client(fresh)
    payer = fresh.org.accounts[0].account_id
    invoices_before = fresh.org.invoices_for(payer)
    listed_before = c.list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": payer},
        Filter={"BillingPeriod": {"Year": 2026, "Month": 10}},
    )["InvoiceSummaries"]
    account = free_member(fresh)
    arn = c.create_invoice_unit(
        Name="Marketing Europe",
        InvoiceReceiver=account,
        Description="Campaign accounts",
        Rule={"LinkedAccounts": [account]},
        ResourceTags=[{"Key": "business-unit", "Value": "marketing"}],
    )["InvoiceUnitArn"]
    assert arn.startswith(f"arn:aws:invoicing::{payer}:invoice-unit/")
    created = c.get_invoice_unit(InvoiceUnitArn=arn)
    assert created["Rule"]["LinkedAccounts"] == [account]
    assert created["InvoiceReceiver"] == account and created["TaxInheritanceDisabled"] is False
    # changes come after the model's history: AsOf "yesterday" does not know the unit
    with pytest.raises(ClientError) as exc:
        c.get_invoice_unit(InvoiceUnitArn=arn, AsOf=datetime(2026, 11, 24, tzinfo=UTC))
    assert error(exc)["Error"]["Code"] == "ResourceNotFoundException"
    c.update_invoice_unit(InvoiceUnitArn=arn, Description="Renamed", Rule={"LinkedAccounts": []})
    updated = c.get_invoice_unit(InvoiceUnitArn=arn)
    assert updated["Description"] == "Renamed" and updated["Rule"]["LinkedAccounts"] == []
    assert updated["LastModified"] > created["LastModified"]
    old = c.get_invoice_unit(InvoiceUnitArn=arn, AsOf=created["LastModified"])
    assert old["Rule"]["LinkedAccounts"] == [account] and old["Description"] == "Campaign accounts"
    c.delete_invoice_unit(InvoiceUnitArn=arn)
    with pytest.raises(ClientError) as exc:
        c.get_invoice_unit(InvoiceUnitArn=arn)
    assert error(exc)["Error"]["Code"] == "ResourceNotFoundException"
    assert c.get_invoice_unit(InvoiceUnitArn=arn, AsOf=updated["LastModified"])["Name"] == (
        "Marketing Europe"
    )
    with pytest.raises(ClientError) as exc:
        c.delete_invoice_unit(InvoiceUnitArn=arn)
    assert error(exc)["Error"]["Code"] == "ResourceNotFoundException"
    # issued invoices never change: AWS uses the configuration at the end of the month
    assert fresh.org.invoices_for(payer) == invoices_before
    listed_after = c.list_invoice_summaries(
        Selector={"ResourceType": "ACCOUNT_ID", "Value": payer},
        Filter={"BillingPeriod": {"Year": 2026, "Month": 10}},
    )["InvoiceSummaries"]
    assert listed_after == listed_before


def test_moving_an_account_between_units_and_the_service_rules(fresh):
    c = client(fresh)
    payer = fresh.org.accounts[0].account_id
    units = fresh.org.invoice_units(payer)
    a, b = units[0], units[1]
    mover = a["Rule"]["LinkedAccounts"][-1]
    # an account in another unit is refused until it leaves that unit
    with pytest.raises(ClientError) as exc:
        c.update_invoice_unit(
            InvoiceUnitArn=b["InvoiceUnitArn"],
            Rule={"LinkedAccounts": [*b["Rule"]["LinkedAccounts"], mover]},
        )
    assert error(exc)["reason"] == "accountMembershipError"
    c.update_invoice_unit(
        InvoiceUnitArn=a["InvoiceUnitArn"],
        Rule={"LinkedAccounts": [x for x in a["Rule"]["LinkedAccounts"] if x != mover]},
    )
    c.update_invoice_unit(
        InvoiceUnitArn=b["InvoiceUnitArn"],
        Rule={"LinkedAccounts": [*b["Rule"]["LinkedAccounts"], mover]},
    )
    now = {u["InvoiceUnitArn"]: u for u in c.list_invoice_units()["InvoiceUnits"]}
    assert mover in now[b["InvoiceUnitArn"]]["Rule"]["LinkedAccounts"]
    assert mover not in now[a["InvoiceUnitArn"]]["Rule"]["LinkedAccounts"]
    stranger = members(fresh, 1)[1]
    cases = [
        ({"Name": "X", "InvoiceReceiver": stranger, "Rule": {}}, "nonMemberPresent"),
        (
            {"Name": "X", "InvoiceReceiver": payer, "Rule": {"LinkedAccounts": [stranger]}},
            "nonMemberPresent",
        ),
        ({"Name": a["Name"], "InvoiceReceiver": payer, "Rule": {}}, "duplicateInvoiceUnit"),
        (
            {
                "Name": "X",
                "InvoiceReceiver": payer,
                "Rule": {"LinkedAccounts": [payer], "BillSourceAccounts": ["999999999999"]},
            },
            "mutualExclusionError",
        ),
        (
            {"Name": "X", "InvoiceReceiver": payer, "Rule": {"BillSourceAccounts": [mover]}},
            "accountMembershipError",
        ),
    ]
    for kwargs, reason in cases:
        with pytest.raises(ClientError) as exc:
            c.create_invoice_unit(**kwargs)
        assert error(exc)["Error"]["Code"] == "ValidationException"
        assert error(exc)["reason"] == reason, kwargs


def test_client_token_makes_create_idempotent(fresh):
    c = client(fresh)
    payer = fresh.org.accounts[0].account_id
    kwargs = {"Name": "Idem", "InvoiceReceiver": payer, "Rule": {}, "ClientToken": "tok-1"}
    first = c.create_invoice_unit(**kwargs)["InvoiceUnitArn"]
    assert c.create_invoice_unit(**kwargs)["InvoiceUnitArn"] == first
    names = [u["Name"] for u in c.list_invoice_units()["InvoiceUnits"]]
    assert names.count("Idem") == 1
    with pytest.raises(ClientError) as exc:
        c.create_invoice_unit(**{**kwargs, "Description": "other"})
    assert error(exc)["reason"] == "invalidInput" and fields(exc) == ["ClientToken"]


def test_pagination_across_pages_with_created_units(fresh):
    c = client(fresh)
    payer = fresh.org.accounts[0].account_id
    for k in range(7):
        c.create_invoice_unit(Name=f"Team {k:02d}", InvoiceReceiver=payer, Rule={})
    expected = [u["InvoiceUnitArn"] for u in c.list_invoice_units(MaxResults=500)["InvoiceUnits"]]
    assert len(expected) == 7 + len(fresh.org.invoice_units(payer))
    got, token, pages = [], None, 0
    while True:
        page = c.list_invoice_units(MaxResults=3, **({"NextToken": token} if token else {}))
        got += [u["InvoiceUnitArn"] for u in page["InvoiceUnits"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert got == expected and pages == -(-len(expected) // 3)
    # a token is bound to its query
    token = c.list_invoice_units(MaxResults=3)["NextToken"]
    with pytest.raises(ClientError) as exc:
        c.list_invoice_units(MaxResults=3, NextToken=token, Filters={"Names": ["Team 01"]})
    assert error(exc)["reason"] == "invalidNextToken"
    with pytest.raises(ClientError) as exc:
        c.list_invoice_units(NextToken="not-a-token")
    assert error(exc)["reason"] == "invalidNextToken"


# -- validation the server must do ---------------------------------------------------------------

ARN = "arn:aws:invoicing::100000000001:invoice-unit/00000000"


@pytest.mark.parametrize(
    ("operation", "kwargs", "field"),
    [
        ("list_invoice_units", {"MaxResults": 0}, "MaxResults"),
        ("list_invoice_units", {"MaxResults": 501}, "MaxResults"),
        ("list_invoice_units", {"Filters": {"Accounts": []}}, "Filters.Accounts"),
        ("list_invoice_units", {"Filters": {"Accounts": ["12345"]}}, "Filters.Accounts[0]"),
        ("list_invoice_units", {"Filters": {"Names": ["x" * 51]}}, "Filters.Names[0]"),
        ("get_invoice_unit", {}, "InvoiceUnitArn"),
        ("get_invoice_unit", {"InvoiceUnitArn": "not-an-arn"}, "InvoiceUnitArn"),
        ("get_invoice_unit", {"InvoiceUnitArn": "arn:aws:x::1:" + "a" * 260}, "InvoiceUnitArn"),
        ("create_invoice_unit", {"InvoiceReceiver": "100000000001", "Rule": {}}, "Name"),
        (
            "create_invoice_unit",
            {"Name": "n" * 51, "InvoiceReceiver": "100000000001", "Rule": {}},
            "Name",
        ),
        (
            "create_invoice_unit",
            {"Name": " lead", "InvoiceReceiver": "100000000001", "Rule": {}},
            "Name",
        ),
        (
            "create_invoice_unit",
            {"Name": "n", "InvoiceReceiver": "1000", "Rule": {}},
            "InvoiceReceiver",
        ),
        ("create_invoice_unit", {"Name": "n", "InvoiceReceiver": "100000000001"}, "Rule"),
        (
            "create_invoice_unit",
            {"Name": "n", "InvoiceReceiver": "100000000001", "Rule": {}, "Description": "d" * 501},
            "Description",
        ),
        (
            "create_invoice_unit",
            {
                "Name": "n",
                "InvoiceReceiver": "100000000001",
                "Rule": {"LinkedAccounts": [f"{k:012d}" for k in range(1001)]},
            },
            "Rule.LinkedAccounts",
        ),
        ("update_invoice_unit", {"InvoiceUnitArn": ARN, "Description": "d" * 501}, "Description"),
        ("delete_invoice_unit", {}, "InvoiceUnitArn"),
        ("batch_get_invoice_profile", {"AccountIds": []}, "AccountIds"),
        ("batch_get_invoice_profile", {}, "AccountIds"),
        (
            "batch_get_invoice_profile",
            {"AccountIds": [f"{k:012d}" for k in range(1001)]},
            "AccountIds",
        ),
        ("tag_resource", {"ResourceArn": ARN}, "ResourceTags"),
        (
            "tag_resource",
            {"ResourceArn": ARN, "ResourceTags": [{"Key": "k" * 129, "Value": "v"}]},
            "ResourceTags[0].Key",
        ),
        ("untag_resource", {"ResourceArn": "arn:aws:s3:::bucket-name-x"}, "ResourceArn"),
        ("list_tags_for_resource", {"ResourceArn": "short"}, "ResourceArn"),
        ("list_procurement_portal_preferences", {"MaxResults": 101}, "MaxResults"),
        ("list_procurement_portals", {"MaxResults": 0}, "MaxResults"),
        ("list_procurement_portal_suppliers", {}, "PortalIdentifier"),
        (
            "get_procurement_portal_preference",
            {"ProcurementPortalPreferenceArn": ARN},
            "ProcurementPortalPreferenceArn",
        ),
        (
            "verify_procurement_portal_validation",
            {
                "ProcurementPortalPreferenceArn": "arn:aws:invoicing::100000000001:procurement-portal-preference/abc"
            },
            "Code",
        ),
    ],
)
def test_out_of_range_and_missing_members_get_validation_exception(sb, operation, kwargs, field):
    c = client(sb, config=RAW)
    with pytest.raises(ClientError) as exc:
        getattr(c, operation)(**kwargs)
    assert error(exc)["Error"]["Code"] == "ValidationException"
    assert error(exc)["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error(exc)["reason"] == "fieldValidationFailed"
    assert field in fields(exc)


def test_create_procurement_preference_requires_every_modeled_member(sb):
    c = client(sb, config=RAW)
    with pytest.raises(ClientError) as exc:
        c.create_procurement_portal_preference()
    required = (
        botocore.session.get_session()
        .get_service_model("invoicing")
        .shape_for("CreateProcurementPortalPreferenceRequest")
        .required_members
    )
    assert set(fields(exc)) == set(required)


def test_wrong_json_types_get_serialization_exception(sb):
    c = client(sb, config=RAW)
    with pytest.raises(ClientError) as exc:
        c.list_invoice_units(MaxResults="ten")
    assert error(exc)["Error"]["Code"] == "SerializationException"


# -- access control ------------------------------------------------------------------------------


def test_only_the_payer_reads_and_changes_its_units_and_profiles(sb):
    own, other = sb.org.accounts[0], sb.org.accounts[1]
    arn = sb.org.invoice_units(own.account_id)[0]["InvoiceUnitArn"]
    c_other = client(sb, other)
    calls = [
        lambda: c_other.get_invoice_unit(InvoiceUnitArn=arn),
        lambda: c_other.update_invoice_unit(InvoiceUnitArn=arn, Description="x"),
        lambda: c_other.delete_invoice_unit(InvoiceUnitArn=arn),
        lambda: c_other.list_tags_for_resource(ResourceArn=arn),
        lambda: c_other.tag_resource(ResourceArn=arn, ResourceTags=[{"Key": "k", "Value": "v"}]),
        lambda: c_other.batch_get_invoice_profile(AccountIds=[own.account_id]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)["Error"]["Code"] == "AccessDeniedException"
        assert error(exc)["ResponseMetadata"]["HTTPStatusCode"] == 403
    # the other payer's own list does not show them
    theirs = {u["InvoiceUnitArn"] for u in c_other.list_invoice_units()["InvoiceUnits"]}
    assert arn not in theirs
    # the organization identity may only assume roles
    with pytest.raises(ClientError) as exc:
        org_client(sb).list_invoice_units()
    assert error(exc)["Error"]["Code"] == "AccessDeniedException"


def test_the_payers_assumed_role_reads_its_units(sb):
    acct = sb.org.accounts[0]
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=sb.endpoint_url,
        aws_access_key_id=sb.org.org_access_key_id,
        aws_secret_access_key=sb.org.org_secret_access_key,
    )
    creds = sts.assume_role(
        RoleArn=acct.role_arn, RoleSessionName="units", ExternalId=acct.external_id
    )["Credentials"]
    c = boto3.client(
        "invoicing",
        region_name="us-east-1",
        endpoint_url=sb.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    got = [u["InvoiceUnitArn"] for u in c.list_invoice_units()["InvoiceUnits"]]
    assert got == [u["InvoiceUnitArn"] for u in sb.org.invoice_units(acct.account_id)]


# -- profiles ------------------------------------------------------------------------------------


def test_batch_get_invoice_profile_for_every_receiver(sb):
    for acct in sb.org.accounts:
        c = client(sb, acct)
        receivers = {acct.account_id} | {
            cfg["InvoiceReceiver"]
            for h in sb.org.unit_histories(acct.account_id).values()
            for _, cfg in h
            if cfg
        }
        wanted = sorted(receivers)
        got = c.batch_get_invoice_profile(AccountIds=wanted + wanted[:1])["Profiles"]
        assert [p["AccountId"] for p in got] == wanted
        for p in got:
            assert p == sb.org.invoice_profiles[p["AccountId"]]


# -- tags ----------------------------------------------------------------------------------------


def test_tags_on_units(fresh):
    c = client(fresh, config=RAW)
    arn = fresh.org.invoice_units(fresh.org.accounts[0].account_id)[0]["InvoiceUnitArn"]
    assert c.list_tags_for_resource(ResourceArn=arn)["ResourceTags"] == []
    c.tag_resource(
        ResourceArn=arn,
        ResourceTags=[{"Key": "bu", "Value": "retail"}, {"Key": "cc", "Value": "1"}],
    )
    c.tag_resource(ResourceArn=arn, ResourceTags=[{"Key": "cc", "Value": "2"}])
    assert c.list_tags_for_resource(ResourceArn=arn)["ResourceTags"] == [
        {"Key": "bu", "Value": "retail"},
        {"Key": "cc", "Value": "2"},
    ]
    c.untag_resource(ResourceArn=arn, ResourceTagKeys=["bu", "absent"])
    assert c.list_tags_for_resource(ResourceArn=arn)["ResourceTags"] == [
        {"Key": "cc", "Value": "2"}
    ]
    with pytest.raises(ClientError) as exc:
        c.tag_resource(ResourceArn=arn, ResourceTags=[{"Key": "aws:x", "Value": "v"}])
    assert error(exc)["Error"]["Code"] == "ValidationException"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(200)]
    with pytest.raises(ClientError) as exc:
        c.tag_resource(ResourceArn=arn, ResourceTags=many)
    assert error(exc)["Error"]["Code"] == "ServiceQuotaExceededException"
    unknown = arn[:-8] + "ffffffff"
    with pytest.raises(ClientError) as exc:
        c.list_tags_for_resource(ResourceArn=unknown)
    assert error(exc)["Error"]["Code"] == "ResourceNotFoundException"


# -- procurement portals -------------------------------------------------------------------------

PREF = {
    "ProcurementPortalName": "SAP_BUSINESS_NETWORK",
    "BuyerDomain": "NetworkID",
    "BuyerIdentifier": "AN01000000001",
    "SupplierDomain": "NetworkID",
    "SupplierIdentifier": "AN02000000002",
    "EinvoiceDeliveryEnabled": True,
    "EinvoiceDeliveryPreference": {
        "EinvoiceDeliveryDocumentTypes": ["AWS_CLOUD_INVOICE"],
        "Protocol": "CXML",
        "PurchaseOrderDataSources": [
            {
                "EinvoiceDeliveryDocumentType": "AWS_CLOUD_INVOICE",
                "PurchaseOrderDataSourceType": "PURCHASE_ORDER_NOT_REQUIRED",
            }
        ],
        "ConnectionTestingMethod": "PROD_ENV_DOLLAR_TEST",
        "EinvoiceDeliveryActivationDate": datetime(2026, 12, 1, tzinfo=UTC),
    },
    "PurchaseOrderRetrievalEnabled": False,
    "ProcurementPortalSharedSecret": "s3cr3t-value",
    "Contacts": [{"Name": "Accounts Payable", "Email": "ap@example.com"}],
}


def test_procurement_portal_preference_lifecycle(fresh):
    c = client(fresh)
    acct = fresh.org.accounts[0]
    unit = fresh.org.invoice_units(acct.account_id)[0]["InvoiceUnitArn"]
    arn = c.create_procurement_portal_preference(
        **PREF, Selector={"InvoiceUnitArns": [unit]}, ResourceTags=[{"Key": "k", "Value": "v"}]
    )["ProcurementPortalPreferenceArn"]
    pref = c.get_procurement_portal_preference(ProcurementPortalPreferenceArn=arn)[
        "ProcurementPortalPreference"
    ]
    assert pref["AwsAccountId"] == acct.account_id and pref["Version"] == 1
    assert pref["EinvoiceDeliveryPreferenceStatus"] == "PENDING_VERIFICATION"
    assert "ProcurementPortalSharedSecret" not in pref
    assert pref["Selector"] == {"InvoiceUnitArns": [unit]}
    assert c.list_tags_for_resource(ResourceArn=arn)["ResourceTags"] == [{"Key": "k", "Value": "v"}]
    # a second one for the same portal, buyer and supplier conflicts
    with pytest.raises(ClientError) as exc:
        c.create_procurement_portal_preference(**PREF)
    assert error(exc)["Error"]["Code"] == "ConflictException"
    assert error(exc)["resourceId"] == arn
    # ACTIVE needs the one-time passcode first
    with pytest.raises(ClientError) as exc:
        c.update_procurement_portal_preference_status(
            ProcurementPortalPreferenceArn=arn, EinvoiceDeliveryPreferenceStatus="ACTIVE"
        )
    assert error(exc)["Error"]["Code"] == "ConflictException"
    c.send_procurement_portal_validation(ProcurementPortalPreferenceArn=arn)
    with pytest.raises(ClientError) as exc:
        c.verify_procurement_portal_validation(ProcurementPortalPreferenceArn=arn, Code="000000x")
    assert error(exc)["Error"]["Code"] == "ValidationException"
    code = fresh.admin("procurement-codes")[arn]
    c.verify_procurement_portal_validation(ProcurementPortalPreferenceArn=arn, Code=code)
    c.update_procurement_portal_preference_status(
        ProcurementPortalPreferenceArn=arn,
        EinvoiceDeliveryPreferenceStatus="ACTIVE",
        EinvoiceDeliveryPreferenceStatusReason="go live",
    )
    pref = c.get_procurement_portal_preference(ProcurementPortalPreferenceArn=arn)[
        "ProcurementPortalPreference"
    ]
    assert pref["EinvoiceDeliveryPreferenceStatus"] == "ACTIVE" and pref["Version"] == 3
    # a disabled feature has no status to set
    with pytest.raises(ClientError) as exc:
        c.update_procurement_portal_preference_status(
            ProcurementPortalPreferenceArn=arn, PurchaseOrderRetrievalPreferenceStatus="ACTIVE"
        )
    assert error(exc)["Error"]["Code"] == "ConflictException"
    put = {
        k: v for k, v in PREF.items() if not k.endswith("Domain") and not k.endswith("Identifier")
    }
    put.pop("ProcurementPortalName")
    c.put_procurement_portal_preference(
        ProcurementPortalPreferenceArn=arn, **{**put, "PurchaseOrderRetrievalEnabled": True}
    )
    listed = c.list_procurement_portal_preferences()["ProcurementPortalPreferences"]
    assert [p["ProcurementPortalPreferenceArn"] for p in listed] == [arn]
    assert listed[0]["Version"] == 4
    assert listed[0]["PurchaseOrderRetrievalPreferenceStatus"] == "PENDING_VERIFICATION"
    # others cannot see it; deleting it makes it unknown
    with pytest.raises(ClientError) as exc:
        client(fresh, fresh.org.accounts[1]).get_procurement_portal_preference(
            ProcurementPortalPreferenceArn=arn
        )
    assert error(exc)["Error"]["Code"] == "AccessDeniedException"
    c.delete_procurement_portal_preference(ProcurementPortalPreferenceArn=arn)
    for call in (
        lambda: c.get_procurement_portal_preference(ProcurementPortalPreferenceArn=arn),
        lambda: c.delete_procurement_portal_preference(ProcurementPortalPreferenceArn=arn),
        lambda: c.list_tags_for_resource(ResourceArn=arn),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)["Error"]["Code"] == "ResourceNotFoundException"
    assert c.list_procurement_portal_preferences()["ProcurementPortalPreferences"] == []


def test_procurement_preferences_are_kept_per_account_and_paginate(fresh):
    c = client(fresh)
    for k in range(5):
        c.create_procurement_portal_preference(**{**PREF, "BuyerIdentifier": f"AN0100000000{k}"})
    pages = list(
        c.get_paginator("list_procurement_portal_preferences").paginate(
            PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(p["ProcurementPortalPreferences"]) for p in pages] == [2, 2, 1]
    other = client(fresh, fresh.org.accounts[1])
    assert other.list_procurement_portal_preferences()["ProcurementPortalPreferences"] == []
    with pytest.raises(ClientError) as exc:
        c.create_procurement_portal_preference(
            **{
                **PREF,
                "Selector": {"InvoiceUnitArns": [ARN[:-8] + "ffffffff"]},
                "BuyerIdentifier": "Z",
            }
        )
    assert error(exc)["Error"]["Code"] == "ValidationException"


def test_portals_and_suppliers_paginate_and_unknown_portals_are_not_found(sb):
    c = client(sb)
    portals = [
        p for page in c.get_paginator("list_procurement_portals").paginate(
            PaginationConfig={"PageSize": 1}
        ) for p in page["ProcurementPortals"]
    ]  # fmt: skip
    assert {p["PortalName"] for p in portals} == {"SAP_BUSINESS_NETWORK", "COUPA"}
    for portal in portals:
        all_at_once = c.list_procurement_portal_suppliers(
            PortalIdentifier=portal["PortalIdentifier"], MaxResults=100
        )["ProcurementPortalSuppliers"]
        paged = [
            s
            for page in c.get_paginator("list_procurement_portal_suppliers").paginate(
                PortalIdentifier=portal["PortalIdentifier"], PaginationConfig={"PageSize": 5}
            )
            for s in page["ProcurementPortalSuppliers"]
        ]
        assert paged == all_at_once and {s["Environment"] for s in paged} == {"PROD", "TEST"}
    with pytest.raises(ClientError) as exc:
        c.list_procurement_portal_suppliers(PortalIdentifier="ariba-classic")
    assert error(exc)["Error"]["Code"] == "ResourceNotFoundException"


def test_served_invoices_follow_the_units_as_of_each_month_end(sb):
    """Over the wire alone: ListInvoiceUnits(AsOf=month end) predicts the month's invoices."""
    from decimal import Decimal

    lines = {}
    for li in sb.org.line_items:
        lines.setdefault(li["invoice_id"], []).append(li)
    checked = 0
    for acct in sb.org.accounts:
        c = client(sb, acct)
        for year, month in sb.org.periods[-14:]:
            nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            units = c.list_invoice_units(AsOf=nxt - timedelta(milliseconds=1))["InvoiceUnits"]
            served = c.list_invoice_summaries(
                Selector={"ResourceType": "ACCOUNT_ID", "Value": acct.account_id},
                Filter={"BillingPeriod": {"Year": year, "Month": month}},
            )["InvoiceSummaries"]
            monthly = [
                i
                for i in served
                if i["BillType"] == "ANNIVERSARY" and "CommercialInvoiceId" not in i
            ]
            assert len(monthly) == 1 + len(units)
            by_source = {i["BillSourceAccounts"][0]: i for i in monthly}
            in_units = {a for u in units for a in u["Rule"]["LinkedAccounts"]}
            default = by_source.pop(acct.account_id)
            if units:
                n_members = len(sb.org.members[acct.account_id])
                assert default["BillSourceAccountsTotalCount"] == n_members - len(in_units)
            for unit in units:
                linked = unit["Rule"]["LinkedAccounts"]
                inv = by_source.pop(sorted(linked)[0])
                assert inv["BillSourceAccountsTotalCount"] == len(linked)
                items = lines[inv["InvoiceId"]]
                assert {li["usage_account_id"] for li in items} <= set(linked)
                sub = Decimal(inv["BaseCurrencyAmount"]["AmountBreakdown"]["SubTotalAmount"])
                assert sum(Decimal(li["amount_usd"]) for li in items) == sub
                checked += 1
            assert by_source == {}
    assert checked >= 28
