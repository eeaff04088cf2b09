"""An AWS Private CA made the way AWS documents it, with the aws CLI against berth:
create-certificate-authority (ROOT), its CSR, a self-signed certificate from the
RootCACertificate/V1 template, import. The walkthroughs' TLS services name it."""

from __future__ import annotations

import json
from pathlib import Path

ROOT_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"


def _text(berth, *args: str) -> str:
    r = berth.run(*args, "--output", "text")
    assert r.returncode == 0, f"aws {' '.join(args)}: {r.stderr}"
    return r.stdout


def root_ca(berth, name: str = "berth-test-ca") -> tuple[str, Path]:
    """An ACTIVE root CA (EC P-256): its ARN, and its certificate's file (PEM)."""
    config = {"KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA",
              "Subject": {"CommonName": name}}
    berth.write(f"{name}-config.json", json.dumps(config))
    arn = berth.aws("acm-pca", "create-certificate-authority",
                    "--certificate-authority-configuration", f"file://{name}-config.json",
                    "--certificate-authority-type", "ROOT")["CertificateAuthorityArn"]
    berth.write(f"{name}.csr", _text(berth, "acm-pca", "get-certificate-authority-csr",
                                     "--certificate-authority-arn", arn))
    cert_arn = berth.aws("acm-pca", "issue-certificate", "--certificate-authority-arn", arn,
                         "--csr", f"fileb://{name}.csr", "--signing-algorithm", "SHA256WITHECDSA",
                         "--template-arn", ROOT_TEMPLATE,
                         "--validity", "Value=3650,Type=DAYS")["CertificateArn"]
    pem = _text(berth, "acm-pca", "get-certificate", "--certificate-authority-arn", arn,
                "--certificate-arn", cert_arn)
    path = berth.write(f"{name}.pem", pem)
    berth.aws("acm-pca", "import-certificate-authority-certificate",
              "--certificate-authority-arn", arn, "--certificate", f"fileb://{name}.pem")
    return arn, path


def with_ca(service_json: str, arn: str) -> str:
    """A seed's service JSON with its placeholder CA ARN (`certificateArn`) replaced,
    as a user does before running its create-service."""
    assert '"certificateArn"' in service_json
    return service_json.replace('"certificateArn"', json.dumps(arn))
