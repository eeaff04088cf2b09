"""AWS Private CA with the real aws CLI (and boto3) against a real `berth server`: the
root CA flow as AWS's documentation writes it (a configuration file, the CA's CSR,
RootCACertificate/V1 with `--csr fileb://`, import), an end-entity certificate for a
CSR `openssl req` made, verified with `openssl verify`, a subordinate CA imported with
its chain, disable, delete and restore, tags, and errors."""

import json
import re
import subprocess

import boto3
import pytest

REGION = "us-east-1"
CA_ARN_RE = re.compile(r"^arn:aws:acm-pca:us-east-1:\d{12}:certificate-authority/[0-9a-f-]{36}$")
ROOT_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"
SUB_TEMPLATE = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
LEAF_TEMPLATE = "arn:aws:acm-pca:::template/EndEntityCertificate/V1"

CA_CONFIG = {
    "KeyAlgorithm": "RSA_2048",
    "SigningAlgorithm": "SHA256WITHRSA",
    "Subject": {
        "Country": "US",
        "Organization": "Example Corp",
        "OrganizationalUnit": "Sales",
        "State": "WA",
        "Locality": "Seattle",
        "CommonName": "www.example.com",
    },
}


def text(berth, *args: str) -> str:
    """Runs `aws ... --output text`, which must succeed; returns its stdout."""
    r = berth.run(*args, "--output", "text")
    assert r.returncode == 0, f"aws {' '.join(args)}: {r.stderr}"
    return r.stdout


def openssl(berth, *args: str) -> str:
    r = subprocess.run(["openssl", *args], cwd=berth.tmp, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


def status(berth, arn: str) -> str:
    out = berth.aws("acm-pca", "describe-certificate-authority", "--certificate-authority-arn", arn)
    return out["CertificateAuthority"]["Status"]


@pytest.fixture(scope="module")
def root(berth):
    """The root CA flow, command by command as AWS documents it."""
    berth.write("ca_config.txt", json.dumps(CA_CONFIG))
    out = berth.aws(
        "acm-pca", "create-certificate-authority",
        "--certificate-authority-configuration", "file://ca_config.txt",
        "--certificate-authority-type", "ROOT",
        "--idempotency-token", "01234567",
        "--tags", "Key=Name,Value=MyPCA-RSA",
    )
    arn = out["CertificateAuthorityArn"]
    assert CA_ARN_RE.match(arn), arn
    assert status(berth, arn) == "PENDING_CERTIFICATE"
    csr = text(berth, "acm-pca", "get-certificate-authority-csr", "--certificate-authority-arn", arn)
    berth.write("ca.csr", csr)
    assert "BEGIN CERTIFICATE REQUEST" in csr
    issued = berth.aws(
        "acm-pca", "issue-certificate",
        "--certificate-authority-arn", arn,
        "--csr", "fileb://ca.csr",
        "--signing-algorithm", "SHA256WITHRSA",
        "--template-arn", ROOT_TEMPLATE,
        "--validity", "Value=365,Type=DAYS",
    )
    assert issued["CertificateArn"].startswith(arn + "/certificate/")
    cert = text(
        berth, "acm-pca", "get-certificate",
        "--certificate-authority-arn", arn, "--certificate-arn", issued["CertificateArn"],
    )
    berth.write("cert.pem", cert)
    berth.aws(
        "acm-pca", "import-certificate-authority-certificate",
        "--certificate-authority-arn", arn, "--certificate", "fileb://cert.pem",
    )
    return arn


def test_the_root_ca_is_active_with_its_certificate(berth, root):
    ca = berth.aws("acm-pca", "describe-certificate-authority", "--certificate-authority-arn", root)[
        "CertificateAuthority"
    ]
    assert ca["Status"] == "ACTIVE"
    assert ca["Type"] == "ROOT"
    assert ca["CertificateAuthorityConfiguration"] == CA_CONFIG
    assert re.match(r"^[0-9a-f]{2}(:[0-9a-f]{2})+$", ca["Serial"]), ca["Serial"]
    assert ca["NotBefore"] < ca["NotAfter"]
    assert ca["UsageMode"] == "GENERAL_PURPOSE"
    assert ca["RevocationConfiguration"]["CrlConfiguration"] == {"Enabled": False}
    got = berth.aws("acm-pca", "get-certificate-authority-certificate", "--certificate-authority-arn", root)
    assert "CertificateChain" not in got
    berth.write("root.pem", got["Certificate"])
    subject = openssl(berth, "x509", "-in", "root.pem", "-noout", "-subject", "-issuer")
    assert "CN = www.example.com" in subject or "CN=www.example.com" in subject, subject
    # The same idempotency token answers the same CA.
    again = berth.aws(
        "acm-pca", "create-certificate-authority",
        "--certificate-authority-configuration", "file://ca_config.txt",
        "--certificate-authority-type", "ROOT", "--idempotency-token", "01234567",
    )
    assert again["CertificateAuthorityArn"] == root


def issue_leaf(berth, ca: str, name: str, signing: str) -> dict:
    openssl(
        berth, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.csr", "-subj", f"/C=US/O=Example Corp/CN={name}.example.com",
        "-addext", f"subjectAltName=DNS:{name}.example.com",
    )
    issued = berth.aws(
        "acm-pca", "issue-certificate", "--certificate-authority-arn", ca,
        "--csr", f"fileb://{name}.csr", "--signing-algorithm", signing,
        "--template-arn", LEAF_TEMPLATE, "--validity", "Value=30,Type=DAYS",
    )
    got = berth.aws(
        "acm-pca", "get-certificate", "--certificate-authority-arn", ca,
        "--certificate-arn", issued["CertificateArn"],
    )
    berth.write(f"{name}.pem", got["Certificate"])
    berth.write(f"{name}-chain.pem", got["CertificateChain"])
    return got


def test_an_end_entity_certificate_verifies_with_openssl(berth, root):
    issue_leaf(berth, root, "app", "SHA256WITHRSA")
    assert "app.pem: OK" in openssl(berth, "verify", "-CAfile", "root.pem", "app.pem")
    info = openssl(berth, "x509", "-in", "app.pem", "-noout", "-text")
    assert "DNS:app.example.com" in info
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in info
    assert openssl(berth, "x509", "-in", "app.pem", "-noout", "-pubkey") == openssl(
        berth, "pkey", "-in", "app.key", "-pubout"
    )


def test_a_subordinate_ca_signed_by_the_root(berth, root):
    berth.write("sub_config.txt", json.dumps({
        "KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA",
        "Subject": {"Country": "US", "Organization": "Example Corp", "CommonName": "Sub CA"},
    }))
    sub = berth.aws(
        "acm-pca", "create-certificate-authority",
        "--certificate-authority-configuration", "file://sub_config.txt",
        "--certificate-authority-type", "SUBORDINATE",
    )["CertificateAuthorityArn"]
    berth.write("sub.csr", text(berth, "acm-pca", "get-certificate-authority-csr", "--certificate-authority-arn", sub))
    issued = berth.aws(
        "acm-pca", "issue-certificate", "--certificate-authority-arn", root,
        "--csr", "fileb://sub.csr", "--signing-algorithm", "SHA256WITHRSA",
        "--template-arn", SUB_TEMPLATE, "--validity", "Value=180,Type=DAYS",
    )
    got = berth.aws(
        "acm-pca", "get-certificate", "--certificate-authority-arn", root,
        "--certificate-arn", issued["CertificateArn"],
    )
    berth.write("sub.pem", got["Certificate"])
    berth.write("sub-chain.pem", got["CertificateChain"])
    # Without its chain a subordinate's certificate is refused.
    berth.aws_fails(
        "acm-pca", "import-certificate-authority-certificate", "--certificate-authority-arn", sub,
        "--certificate", "fileb://sub.pem", code="InvalidRequestException",
    )
    berth.aws(
        "acm-pca", "import-certificate-authority-certificate", "--certificate-authority-arn", sub,
        "--certificate", "fileb://sub.pem", "--certificate-chain", "fileb://sub-chain.pem",
    )
    assert status(berth, sub) == "ACTIVE"
    got = issue_leaf(berth, sub, "deep", "SHA256WITHECDSA")
    assert got["CertificateChain"].count("BEGIN CERTIFICATE") == 2
    ok = openssl(berth, "verify", "-CAfile", "root.pem", "-untrusted", "sub.pem", "deep.pem")
    assert "deep.pem: OK" in ok
    assert "CA:TRUE, pathlen:0" in openssl(berth, "x509", "-in", "sub.pem", "-noout", "-text")
    # The wrong certificate for a CA's key.
    berth.aws_fails(
        "acm-pca", "import-certificate-authority-certificate", "--certificate-authority-arn", sub,
        "--certificate", "fileb://app.pem", "--certificate-chain", "fileb://app-chain.pem",
        code="MalformedCertificateException",
    )


def test_disable_delete_and_restore(berth):
    arn = berth.aws(
        "acm-pca", "create-certificate-authority",
        "--certificate-authority-configuration", "file://ca_config.txt",
        "--certificate-authority-type", "ROOT",
    )["CertificateAuthorityArn"]
    berth.write("own.csr", text(berth, "acm-pca", "get-certificate-authority-csr", "--certificate-authority-arn", arn))
    cert_arn = berth.aws(
        "acm-pca", "issue-certificate", "--certificate-authority-arn", arn, "--csr", "fileb://own.csr",
        "--signing-algorithm", "SHA256WITHRSA", "--template-arn", ROOT_TEMPLATE, "--validity", "Value=1,Type=YEARS",
    )["CertificateArn"]
    berth.write("own.pem", text(berth, "acm-pca", "get-certificate", "--certificate-authority-arn", arn, "--certificate-arn", cert_arn))
    berth.aws("acm-pca", "import-certificate-authority-certificate", "--certificate-authority-arn", arn, "--certificate", "fileb://own.pem")
    berth.aws_fails("acm-pca", "delete-certificate-authority", "--certificate-authority-arn", arn, code="InvalidStateException")
    berth.aws("acm-pca", "update-certificate-authority", "--certificate-authority-arn", arn, "--status", "DISABLED")
    assert status(berth, arn) == "DISABLED"
    err = berth.aws_fails(
        "acm-pca", "issue-certificate", "--certificate-authority-arn", arn, "--csr", "fileb://app.csr",
        "--signing-algorithm", "SHA256WITHRSA", "--validity", "Value=1,Type=DAYS", code="InvalidStateException",
    )
    assert "DISABLED" in err
    berth.aws("acm-pca", "delete-certificate-authority", "--certificate-authority-arn", arn, "--permanent-deletion-time-in-days", "7")
    ca = berth.aws("acm-pca", "describe-certificate-authority", "--certificate-authority-arn", arn)["CertificateAuthority"]
    assert ca["Status"] == "DELETED"
    assert 6.9 * 86400 < ca["RestorableUntil"] - ca["LastStateChangeAt"] <= 7 * 86400 + 1
    berth.aws("acm-pca", "restore-certificate-authority", "--certificate-authority-arn", arn)
    assert status(berth, arn) == "DISABLED"
    berth.aws_fails("acm-pca", "restore-certificate-authority", "--certificate-authority-arn", arn, code="InvalidStateException")
    # A CA still waiting for its certificate is deleted at once.
    pending = berth.aws(
        "acm-pca", "create-certificate-authority", "--certificate-authority-configuration", "file://ca_config.txt",
        "--certificate-authority-type", "ROOT",
    )["CertificateAuthorityArn"]
    berth.aws("acm-pca", "delete-certificate-authority", "--certificate-authority-arn", pending)
    berth.aws_fails("acm-pca", "describe-certificate-authority", "--certificate-authority-arn", pending, code="ResourceNotFoundException")


def test_tags(berth, root):
    tags = berth.aws("acm-pca", "list-tags", "--certificate-authority-arn", root)["Tags"]
    assert tags == [{"Key": "Name", "Value": "MyPCA-RSA"}]
    berth.aws("acm-pca", "tag-certificate-authority", "--certificate-authority-arn", root, "--tags", "Key=team,Value=core", "Key=env")
    tags = berth.aws("acm-pca", "list-tags", "--certificate-authority-arn", root)["Tags"]
    assert tags == [{"Key": "Name", "Value": "MyPCA-RSA"}, {"Key": "team", "Value": "core"}, {"Key": "env"}]
    berth.aws("acm-pca", "untag-certificate-authority", "--certificate-authority-arn", root, "--tags", "Key=team", "Key=env")
    assert len(berth.aws("acm-pca", "list-tags", "--certificate-authority-arn", root)["Tags"]) == 1
    berth.aws_fails(
        "acm-pca", "tag-certificate-authority", "--certificate-authority-arn", root, "--tags", "Key=aws:reserved,Value=x",
        code="InvalidTagException",
    )


def test_listing_pages_with_the_cli_and_boto3(berth, root):
    cas = berth.aws("acm-pca", "list-certificate-authorities")["CertificateAuthorities"]
    assert root in [c["Arn"] for c in cas]
    pages = berth.aws("acm-pca", "list-certificate-authorities", "--max-items", "1")
    assert len(pages["CertificateAuthorities"]) == 1 and "NextToken" in pages
    client = boto3.client(
        "acm-pca", endpoint_url=berth.url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    paginator = client.get_paginator("list_certificate_authorities")
    arns = [c["Arn"] for page in paginator.paginate(PaginationConfig={"PageSize": 1}) for c in page["CertificateAuthorities"]]
    assert sorted(arns) == sorted(c["Arn"] for c in cas)
    described = client.describe_certificate_authority(CertificateAuthorityArn=root)["CertificateAuthority"]
    assert described["Status"] == "ACTIVE"
    assert described["NotAfter"] > described["NotBefore"]  # datetimes, parsed by botocore


def test_errors(berth, root):
    berth.aws_fails("acm-pca", "describe-certificate-authority", "--certificate-authority-arn", "arn:aws:acm-pca:x", code="InvalidArnException")
    missing = root[: -36] + "00000000-0000-4000-8000-000000000000"
    berth.aws_fails("acm-pca", "describe-certificate-authority", "--certificate-authority-arn", missing, code="ResourceNotFoundException")
    berth.write("junk.csr", "not a CSR")
    berth.aws_fails(
        "acm-pca", "issue-certificate", "--certificate-authority-arn", root, "--csr", "fileb://junk.csr",
        "--signing-algorithm", "SHA256WITHRSA", "--validity", "Value=1,Type=DAYS", code="MalformedCSRException",
    )
    berth.aws_fails(
        "acm-pca", "issue-certificate", "--certificate-authority-arn", root, "--csr", "fileb://app.csr",
        "--signing-algorithm", "SHA256WITHECDSA", "--validity", "Value=1,Type=DAYS", code="InvalidArgsException",
    )
    berth.aws_fails(
        "acm-pca", "issue-certificate", "--certificate-authority-arn", root, "--csr", "fileb://app.csr",
        "--signing-algorithm", "SHA256WITHRSA", "--validity", "Value=5,Type=YEARS", code="InvalidArgsException",
    )
    berth.aws_fails(
        "acm-pca", "get-certificate-authority-certificate", "--certificate-authority-arn", missing,
        code="ResourceNotFoundException",
    )
    # The CLI checks ranges itself; enums reach berth.
    berth.aws_fails(
        "acm-pca", "update-certificate-authority", "--certificate-authority-arn", root,
        "--status", "EXPIRED", code="InvalidArgsException",
    )
    berth.aws_fails(
        "acm-pca", "create-certificate-authority", "--certificate-authority-type", "ROOT",
        "--certificate-authority-configuration",
        "KeyAlgorithm=EC_secp521r1,SigningAlgorithm=SHA512WITHECDSA,Subject={CommonName=x}",
        code="InvalidArgsException",
    )
