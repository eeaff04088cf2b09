"""Who gets in, with the real aws CLI: every service refuses a request signed with
keys berth does not know; beyond loopback `berth server` needs a stored key and serves
TLS only, which the CLI verifies against the data directory's API CA."""

import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import aws_exe, berth_bin


def cli(berth, key, secret, *args):
    env = berth.env()
    env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    return subprocess.run([aws_exe(), "--endpoint-url", berth.url, "--output", "json", *args],
                          env=env, capture_output=True, text=True, timeout=120)


CALLS = [
    (("ecs", "list-clusters"), "UnrecognizedClientException"),
    (("servicediscovery", "list-namespaces"), "UnrecognizedClientException"),
    (("acm-pca", "list-certificate-authorities"), "UnrecognizedClientException"),
    (("ec2", "describe-vpcs"), "AuthFailure"),
    (("sts", "get-caller-identity"), "InvalidClientTokenId"),
]


@pytest.mark.parametrize("args,code", CALLS, ids=[c[0][0] for c in CALLS])
def test_unknown_keys_and_wrong_secrets_are_refused(berth, args, code):
    r = cli(berth, "AKIAUNKNOWNKEY000000", "whatever", *args)
    assert r.returncode != 0 and code in r.stderr, r.stderr
    r = cli(berth, "test", "not-the-test-secret", *args)
    assert r.returncode != 0, r.stdout
    assert re.search(r"SignatureDoesNotMatch|InvalidSignatureException", r.stderr), r.stderr


def test_stored_keys_work_and_deleted_ones_stop(berth):
    out = subprocess.run([str(berth_bin()), "credentials", "create", "--account", "210987654321",
                          "--data-dir", str(berth.data_dir)], capture_output=True, text=True, check=True)
    key, secret = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", out.stdout).groups()
    r = cli(berth, key, secret, "sts", "get-caller-identity")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Account"] == "210987654321"
    listed = subprocess.run([str(berth_bin()), "credentials", "list", "--data-dir", str(berth.data_dir)],
                            capture_output=True, text=True, check=True).stdout
    assert key in listed and secret not in listed
    subprocess.run([str(berth_bin()), "credentials", "delete", key, "--data-dir", str(berth.data_dir)],
                   check=True, capture_output=True)
    import time
    time.sleep(6)  # the server trusts a key it read for 5 s
    r = cli(berth, key, secret, "ecs", "list-clusters")
    assert "UnrecognizedClientException" in r.stderr, r.stderr


def start_beyond_loopback(data: Path):
    return subprocess.Popen([str(berth_bin()), "server", "--listen", "0.0.0.0:0", "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_beyond_loopback_keys_and_tls_are_required():
    data = Path(tempfile.mkdtemp(prefix="berth-sec-")) / "data"
    p = start_beyond_loopback(data)
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0 and "berth credentials create" in err, err

    out = subprocess.run([str(berth_bin()), "credentials", "create", "--account", "123456789012",
                          "--data-dir", str(data)], capture_output=True, text=True, check=True)
    key, secret = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", out.stdout).groups()
    p = start_beyond_loopback(data)
    try:
        port = None
        for line in p.stdout:
            m = re.search(r"listening on https://[^:]+:(\d+)", line)
            if m:
                port = m.group(1)
                break
        assert port, "no https address"
        ca = data / "api-ca.pem"
        env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_MAX_ATTEMPTS": "1",
               "PATH": "/usr/bin:/bin"}
        url = f"https://127.0.0.1:{port}"

        def run(*args, **extra):
            return subprocess.run([aws_exe(), "--endpoint-url", url, "--output", "json", *args],
                                  env={**env, **extra}, capture_output=True, text=True, timeout=120)

        r = run("ecs", "list-clusters", "--ca-bundle", str(ca))
        assert r.returncode == 0, r.stderr
        # Unverified: the CLI refuses the certificate.
        r = run("ecs", "list-clusters")
        assert r.returncode != 0 and re.search(r"SSL|certificate", r.stderr), r.stderr
        # The test credential is refused beyond loopback.
        r = run("ecs", "list-clusters", "--ca-bundle", str(ca), AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        assert "UnrecognizedClientException" in r.stderr, r.stderr
    finally:
        p.terminate()
        p.wait(timeout=10)
