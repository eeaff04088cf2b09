"""AWS Secrets Manager with the real aws CLI (and boto3) against a real `berth server`:
secrets by name, full ARN and partial ARN (as ECS task definitions name them), string
and binary values, versions and staging labels, idempotent tokens, updates, tags,
ListSecrets' filters, sorting and pages (the boto3 paginator), BatchGetSecretValue,
the deletion window, forced deletion and restore, random passwords, each error code,
and values that survive a restart and are never on disk in plain text."""

import base64
import datetime
import json
import queue
import re
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import TIMESTAMP, Berth, _start, berth_bin, match, signed_headers, stop

REGION = "us-east-1"
IMPORT_NETWORK = False
ARN_PREFIX = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
TOKEN1 = "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1"
TOKEN2 = "EXAMPLE2-90ab-cdef-fedc-ba987SECRET2"
TOKEN3 = "EXAMPLE3-90ab-cdef-fedc-ba987SECRET3"


def sm(berth, *args):
    return berth.aws("secretsmanager", *args)


def sm_fails(berth, *args, code):
    return berth.aws_fails("secretsmanager", *args, code=code)


def client(berth):
    return boto3.client(
        "secretsmanager", endpoint_url=berth.url, region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test",
    )


def post(berth, op: str, body: dict):
    """A raw, signed AWS JSON 1.1 request; (status, parsed body)."""
    data = json.dumps(body).encode()
    headers = signed_headers(
        berth.url + "/", data, "secretsmanager", REGION,
        {"X-Amz-Target": f"secretsmanager.{op}", "Content-Type": "application/x-amz-json-1.1"},
    )
    req = urllib.request.Request(berth.url + "/", data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def value(berth, secret_id, *args):
    return sm(berth, "get-secret-value", "--secret-id", secret_id, *args)


def epoch(t):
    """A timestamp as the CLI prints it, in epoch seconds."""
    if isinstance(t, (int, float)):
        return float(t)
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()


def test_create_and_get_by_name_full_and_partial_arn(berth):
    out = sm(
        berth, "create-secret", "--name", "retail-store-ecs-orders-db",
        "--description", "Orders database credentials",
        "--secret-string", '{"username":"orders","password":"pw1"}',
        "--tags", "Key=team,Value=orders",
    )
    arn = out["ARN"]
    assert re.fullmatch(ARN_PREFIX + r"retail-store-ecs-orders-db-[A-Za-z0-9]{6}", arn), arn
    assert out["Name"] == "retail-store-ecs-orders-db" and 32 <= len(out["VersionId"]) <= 64
    want = {
        "ARN": arn,
        "Name": "retail-store-ecs-orders-db",
        "VersionId": out["VersionId"],
        "SecretString": '{"username":"orders","password":"pw1"}',
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": TIMESTAMP,
    }
    # By name, by full ARN, and by the partial ARN an ECS task definition names.
    for secret_id in ["retail-store-ecs-orders-db", arn, ARN_PREFIX + "retail-store-ecs-orders-db"]:
        match(value(berth, secret_id), want)
    for missing in [ARN_PREFIX + "retail-store-ecs-orders", ARN_PREFIX + "retail-store-ecs-orders-db-ZZZZZZ",
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:retail-store-ecs-orders-db"]:
        err = sm_fails(berth, "get-secret-value", "--secret-id", missing, code="ResourceNotFoundException")
        assert "Secrets Manager can't find the specified secret." in err


def test_binary_values(berth):
    blob = bytes(range(256))
    berth.write("blob.bin", "")
    (berth.tmp / "blob.bin").write_bytes(blob)
    sm(berth, "create-secret", "--name", "tls/key", "--secret-binary", "fileb://blob.bin")
    got = value(berth, "tls/key")
    assert base64.b64decode(got["SecretBinary"]) == blob
    assert "SecretString" not in got
    assert client(berth).get_secret_value(SecretId="tls/key")["SecretBinary"] == blob


def test_versions_and_staging_labels(berth):
    first = sm(berth, "create-secret", "--name", "app/api-key", "--secret-string", "v1",
               "--client-request-token", TOKEN1)
    assert first["VersionId"] == TOKEN1
    put = sm(berth, "put-secret-value", "--secret-id", "app/api-key", "--secret-string", "v2",
             "--client-request-token", TOKEN2)
    match(put, {"ARN": first["ARN"], "Name": "app/api-key", "VersionId": TOKEN2, "VersionStages": ["AWSCURRENT"]})
    assert value(berth, "app/api-key")["SecretString"] == "v2"
    prev = value(berth, "app/api-key", "--version-stage", "AWSPREVIOUS")
    assert (prev["SecretString"], prev["VersionId"], prev["VersionStages"]) == ("v1", TOKEN1, ["AWSPREVIOUS"])
    assert value(berth, "app/api-key", "--version-id", TOKEN1)["SecretString"] == "v1"
    pending = sm(berth, "put-secret-value", "--secret-id", "app/api-key", "--secret-string", "v3",
                 "--client-request-token", TOKEN3, "--version-stages", "AWSPENDING", "canary")
    assert pending["VersionStages"] == ["AWSPENDING", "canary"]
    assert value(berth, "app/api-key")["SecretString"] == "v2"
    assert value(berth, "app/api-key", "--version-stage", "canary")["SecretString"] == "v3"
    described = sm(berth, "describe-secret", "--secret-id", "app/api-key")
    assert described["VersionIdsToStages"] == {
        TOKEN1: ["AWSPREVIOUS"], TOKEN2: ["AWSCURRENT"], TOKEN3: ["AWSPENDING", "canary"],
    }
    # Rotation's last step: AWSCURRENT moves to the pending version.
    sm_fails(berth, "update-secret-version-stage", "--secret-id", "app/api-key",
             "--version-stage", "AWSCURRENT", "--move-to-version-id", TOKEN3, code="InvalidParameterException")
    sm(berth, "update-secret-version-stage", "--secret-id", "app/api-key", "--version-stage", "AWSCURRENT",
       "--move-to-version-id", TOKEN3, "--remove-from-version-id", TOKEN2)
    sm(berth, "update-secret-version-stage", "--secret-id", "app/api-key", "--version-stage", "AWSPENDING",
       "--remove-from-version-id", TOKEN3)
    assert value(berth, "app/api-key")["SecretString"] == "v3"
    assert value(berth, "app/api-key", "--version-stage", "AWSPREVIOUS")["SecretString"] == "v2"
    listed = sm(berth, "list-secret-version-ids", "--secret-id", "app/api-key")
    assert {v["VersionId"]: v["VersionStages"] for v in listed["Versions"]} == {
        TOKEN2: ["AWSPREVIOUS"], TOKEN3: ["canary", "AWSCURRENT"],
    }
    every = sm(berth, "list-secret-version-ids", "--secret-id", "app/api-key", "--include-deprecated")
    deprecated = [v for v in every["Versions"] if v["VersionId"] == TOKEN1][0]
    match(deprecated, {"VersionId": TOKEN1, "CreatedDate": TIMESTAMP, "KmsKeyIds": ["DefaultEncryptionKey"]})
    assert "VersionStages" not in deprecated
    err = sm_fails(berth, "get-secret-value", "--secret-id", "app/api-key", "--version-stage", "AWSPENDING",
                   code="ResourceNotFoundException")
    assert "staging label: AWSPENDING" in err


def test_tokens_make_calls_idempotent(berth):
    args = ("create-secret", "--name", "idem", "--secret-string", "one", "--client-request-token", TOKEN1)
    first = sm(berth, *args)
    assert sm(berth, *args) == first
    sm_fails(berth, "create-secret", "--name", "idem", "--secret-string", "two",
             "--client-request-token", TOKEN1, code="ResourceExistsException")
    err = sm_fails(berth, "create-secret", "--name", "idem", "--secret-string", "one",
                   code="ResourceExistsException")
    assert "the secret idem already exists" in err
    put = ("put-secret-value", "--secret-id", "idem", "--secret-string", "two", "--client-request-token", TOKEN2)
    assert sm(berth, *put) == sm(berth, *put)
    sm_fails(berth, "put-secret-value", "--secret-id", "idem", "--secret-string", "three",
             "--client-request-token", TOKEN2, code="ResourceExistsException")
    assert len(sm(berth, "list-secret-version-ids", "--secret-id", "idem")["Versions"]) == 2


def test_update_and_describe(berth):
    arn = sm(berth, "create-secret", "--name", "upd", "--secret-string", "a", "--kms-key-id", "alias/mine")["ARN"]
    out = sm(berth, "update-secret", "--secret-id", "upd", "--description", "now described")
    assert out == {"ARN": arn, "Name": "upd"}
    out = sm(berth, "update-secret", "--secret-id", arn, "--secret-string", "b")
    assert out["ARN"] == arn and len(out["VersionId"]) >= 32
    value(berth, "upd")
    d = sm(berth, "describe-secret", "--secret-id", "upd")
    match(d, {
        "ARN": arn, "Name": "upd", "Description": "now described", "KmsKeyId": "alias/mine",
        "RotationEnabled": False, "LastChangedDate": TIMESTAMP, "LastAccessedDate": TIMESTAMP,
        "CreatedDate": TIMESTAMP,
    })
    assert epoch(d["LastAccessedDate"]) % 86400 == 0, "a day, as AWS shows it"
    assert sorted(map(tuple, d["VersionIdsToStages"].values())) == [("AWSCURRENT",), ("AWSPREVIOUS",)]
    assert "SecretString" not in d and "b" not in {str(v) for v in d.values()}
    for key in ("DeletedDate", "Tags"):
        assert key not in d


def test_tags(berth):
    sm(berth, "create-secret", "--name", "tagged", "--tags", "Key=team,Value=a", "Key=env,Value=prod")
    sm(berth, "tag-resource", "--secret-id", "tagged", "--tags", "Key=team,Value=b", "Key=cost,Value=42")
    assert sm(berth, "describe-secret", "--secret-id", "tagged")["Tags"] == [
        {"Key": "team", "Value": "b"}, {"Key": "env", "Value": "prod"}, {"Key": "cost", "Value": "42"},
    ]
    sm(berth, "untag-resource", "--secret-id", "tagged", "--tag-keys", "env", "absent")
    assert [t["Key"] for t in sm(berth, "describe-secret", "--secret-id", "tagged")["Tags"]] == ["team", "cost"]
    sm_fails(berth, "tag-resource", "--secret-id", "tagged", "--tags", "Key=aws:reserved,Value=x",
             code="InvalidParameterException")
    sm_fails(berth, "tag-resource", "--secret-id", "nope", "--tags", "Key=a,Value=b",
             code="ResourceNotFoundException")


def names(out):
    return [s["Name"] for s in out["SecretList"]]


def test_list_filters_and_sorting(berth):
    for name, desc, team in [("flt/prod/db", "Prod database", "orders"), ("flt/prod/api", "Prod API", "web"),
                             ("flt/test/db", "Test database", "orders")]:
        sm(berth, "create-secret", "--name", name, "--description", desc, "--secret-string", "x",
           "--tags", f"Key=team,Value={team}")
    listed = lambda *f: names(sm(berth, "list-secrets", "--filters", "Key=name,Values=flt/", *f))
    assert listed() == ["flt/prod/db", "flt/prod/api", "flt/test/db"]
    assert names(sm(berth, "list-secrets", "--filters", "Key=name,Values=flt/prod/")) == ["flt/prod/db", "flt/prod/api"]
    assert listed("Key=name,Values=!flt/prod") == ["flt/test/db"]
    assert listed("Key=tag-value,Values=orders") == ["flt/prod/db", "flt/test/db"]
    assert listed("Key=tag-key,Values=te") == ["flt/prod/db", "flt/prod/api", "flt/test/db"]
    assert listed("Key=description,Values=prod") == ["flt/prod/db", "flt/prod/api"]
    assert listed("Key=all,Values=DATABASE") == ["flt/prod/db", "flt/test/db"]
    by_name = names(sm(berth, "list-secrets", "--filters", "Key=name,Values=flt/", "--sort-by", "name",
                       "--sort-order", "desc"))
    assert by_name == ["flt/test/db", "flt/prod/db", "flt/prod/api"]
    entry = sm(berth, "list-secrets", "--filters", "Key=name,Values=flt/test/")["SecretList"][0]
    match(entry, {"Name": "flt/test/db", "Description": "Test database", "Tags": [{"Key": "team", "Value": "orders"}],
                  "CreatedDate": TIMESTAMP, "LastChangedDate": TIMESTAMP})
    assert list(entry["SecretVersionsToStages"].values()) == [["AWSCURRENT"]]
    assert "SecretString" not in entry


def test_pagination_with_the_cli_and_the_boto3_paginator(berth):
    made = [f"page/s{i:02d}" for i in range(7)]
    for n in made:
        sm(berth, "create-secret", "--name", n, "--secret-string", "x")
    flt = [{"Key": "name", "Values": ["page/"]}]
    paginator = client(berth).get_paginator("list_secrets")
    pages = list(paginator.paginate(Filters=flt, PaginationConfig={"PageSize": 2}))
    assert [len(p["SecretList"]) for p in pages] == [2, 2, 2, 1]
    assert [s["Name"] for p in pages for s in p["SecretList"]] == made
    first = sm(berth, "list-secrets", "--filters", "Key=name,Values=page/", "--max-items", "3")
    assert names(first) == made[:3] and "NextToken" in first
    rest = sm(berth, "list-secrets", "--filters", "Key=name,Values=page/", "--starting-token", first["NextToken"])
    assert names(rest) == made[3:]


def test_deletion_window_and_restore(berth):
    arn = sm(berth, "create-secret", "--name", "del/window", "--secret-string", "keep me")["ARN"]
    before = datetime.datetime.now(datetime.timezone.utc).timestamp()
    out = sm(berth, "delete-secret", "--secret-id", "del/window", "--recovery-window-in-days", "7")
    assert (out["ARN"], out["Name"]) == (arn, "del/window")
    assert abs(epoch(out["DeletionDate"]) - (before + 7 * 86400)) < 60
    assert epoch(sm(berth, "describe-secret", "--secret-id", arn)["DeletedDate"]) == epoch(out["DeletionDate"])
    err = sm_fails(berth, "get-secret-value", "--secret-id", "del/window", code="InvalidRequestException")
    assert "marked for deletion" in err
    sm_fails(berth, "put-secret-value", "--secret-id", "del/window", "--secret-string", "x",
             code="InvalidRequestException")
    sm_fails(berth, "create-secret", "--name", "del/window", code="InvalidRequestException")
    sm_fails(berth, "delete-secret", "--secret-id", "del/window", code="InvalidRequestException")
    flt = ("--filters", "Key=name,Values=del/")
    assert names(sm(berth, "list-secrets", *flt)) == []
    assert names(sm(berth, "list-secrets", *flt, "--include-planned-deletion")) == ["del/window"]
    assert sm(berth, "restore-secret", "--secret-id", "del/window") == {"ARN": arn, "Name": "del/window"}
    assert value(berth, "del/window")["SecretString"] == "keep me"
    assert "DeletedDate" not in sm(berth, "describe-secret", "--secret-id", "del/window")
    default = sm(berth, "delete-secret", "--secret-id", "del/window")
    assert abs(epoch(default["DeletionDate"]) - (before + 30 * 86400)) < 60


def test_forced_deletion(berth):
    sm(berth, "create-secret", "--name", "del/force", "--secret-string", "x")
    sm_fails(berth, "delete-secret", "--secret-id", "del/force", "--recovery-window-in-days", "6",
             code="InvalidParameterException")
    sm_fails(berth, "delete-secret", "--secret-id", "del/force", "--recovery-window-in-days", "31",
             code="InvalidParameterException")
    sm_fails(berth, "delete-secret", "--secret-id", "del/force", "--recovery-window-in-days", "7",
             "--force-delete-without-recovery", code="InvalidParameterException")
    out = sm(berth, "delete-secret", "--secret-id", "del/force", "--force-delete-without-recovery")
    assert out["Name"] == "del/force"
    sm_fails(berth, "describe-secret", "--secret-id", "del/force", code="ResourceNotFoundException")
    # The name is free at once, under a new ARN.
    again = sm(berth, "create-secret", "--name", "del/force", "--secret-string", "y")
    assert again["ARN"] != out["ARN"]
    # As on AWS, forcing the deletion of what does not exist is no error.
    ghost = sm(berth, "delete-secret", "--secret-id", "del/ghost", "--force-delete-without-recovery")
    assert ghost["Name"] == "del/ghost"
    sm_fails(berth, "delete-secret", "--secret-id", "del/ghost", code="ResourceNotFoundException")


def test_batch_get_secret_value(berth):
    for n in range(3):
        sm(berth, "create-secret", "--name", f"batch/{n}", "--secret-string", f"b{n}")
    out = sm(berth, "batch-get-secret-value", "--secret-id-list", "batch/0", ARN_PREFIX + "batch/2", "batch/missing")
    assert [v["SecretString"] for v in out["SecretValues"]] == ["b0", "b2"]
    assert [(e["SecretId"], e["ErrorCode"]) for e in out["Errors"]] == [("batch/missing", "ResourceNotFoundException")]
    out = sm(berth, "batch-get-secret-value", "--filters", "Key=name,Values=batch/")
    assert [v["Name"] for v in out["SecretValues"]] == ["batch/0", "batch/1", "batch/2"]
    sm_fails(berth, "batch-get-secret-value", code="InvalidParameterException")


def test_get_random_password(berth):
    p = sm(berth, "get-random-password")["RandomPassword"]
    assert len(p) == 32
    p = sm(berth, "get-random-password", "--password-length", "64", "--exclude-punctuation",
           "--exclude-characters", "abc", "--include-space")["RandomPassword"]
    assert len(p) == 64 and all(c.isalnum() or c == " " for c in p) and not set("abc") & set(p)
    sm_fails(berth, "get-random-password", "--password-length", "2", code="InvalidParameterException")
    sm_fails(berth, "get-random-password", "--exclude-numbers", "--exclude-punctuation", "--exclude-uppercase",
             "--exclude-lowercase", code="InvalidParameterException")


def test_errors(berth):
    sm(berth, "create-secret", "--name", "errs", "--secret-string", "x")
    cases = [
        (("create-secret", "--name", "bad name!"), "InvalidParameterException"),
        (("create-secret", "--name", "n" * 513), "ValidationException"),
        (("create-secret", "--name", "both", "--secret-string", "a", "--secret-binary", "QQ=="),
         "InvalidParameterException"),
        (("create-secret", "--name", "errs"), "ResourceExistsException"),
        (("describe-secret", "--secret-id", "nope"), "ResourceNotFoundException"),
        (("update-secret", "--secret-id", "nope", "--description", "d"), "ResourceNotFoundException"),
        (("put-secret-value", "--secret-id", "errs"), "InvalidRequestException"),
        (("list-secrets", "--max-results", "101"), "ValidationException"),
        (("list-secret-version-ids", "--secret-id", "errs", "--max-results", "101"), "ValidationException"),
        (("update-secret-version-stage", "--secret-id", "errs", "--version-stage", "AWSCURRENT"),
         "InvalidParameterException"),
        (("restore-secret", "--secret-id", "nope"), "ResourceNotFoundException"),
    ]
    for args, code in cases:
        sm_fails(berth, *args, code=code)
    c = client(berth)
    with pytest.raises(ClientError) as e:
        c.list_secrets(NextToken="not-a-token")
    assert e.value.response["Error"]["Code"] == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        c.list_secrets(Filters=[{"Key": "name", "Values": ["bad*value"]}])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "Filters.1" in e.value.response["Error"]["Message"]
    # A member the operation does not have is refused, naming it.
    status, body = post(berth, "GetSecretValue", {"SecretId": "errs", "Colour": "red"})
    assert status == 400 and body["__type"] == "SerializationException" and "Colour" in body["Message"]
    status, body = post(berth, "GetSecretValue", {"SecretId": "nope"})
    assert (status, body) == (400, {"__type": "ResourceNotFoundException",
                                    "Message": "Secrets Manager can't find the specified secret."})


def restart(server: Berth) -> Berth:
    """Stops `server` and starts another on its data directory."""
    server.proc.terminate()
    server.proc.wait(timeout=10)
    log = server.tmp / "berth-restarted.log"
    proc = subprocess.Popen(
        [str(berth_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(server.data_dir)],
        stdout=subprocess.PIPE, stderr=open(log, "wb"), text=True, cwd=server.tmp,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    while True:
        m = re.search(r"berth server listening on (http://\S+)", lines.get(timeout=30))
        if m:
            return Berth(m.group(1), proc, server.data_dir, log, server.region)


def test_values_survive_a_restart_and_are_never_on_disk_in_plain_text():
    server = _start(REGION)
    try:
        plain = "plaintext-canary-7f3a9c1e"
        blob = b"binary-canary-\x00\x01\x02-5d2b"
        arn = sm(server, "create-secret", "--name", "durable", "--secret-string", plain)["ARN"]
        (server.tmp / "b.bin").write_bytes(blob)
        sm(server, "create-secret", "--name", "durable-bin", "--secret-binary", "fileb://b.bin")
        sm(server, "put-secret-value", "--secret-id", "durable", "--secret-string", plain + "-v2")
        server = restart(server)
        files = [p for p in Path(server.data_dir).rglob("*") if p.is_file()]
        assert any(p.name == "berth.db" for p in files), files
        for p in files:
            data = p.read_bytes()
            for needle in (plain.encode(), blob, base64.b64encode(blob)):
                assert needle not in data, f"{p} holds a secret value"
        assert value(server, arn)["SecretString"] == plain + "-v2"
        assert value(server, "durable", "--version-stage", "AWSPREVIOUS")["SecretString"] == plain
        assert base64.b64decode(value(server, "durable-bin")["SecretBinary"]) == blob
    finally:
        stop(server)
