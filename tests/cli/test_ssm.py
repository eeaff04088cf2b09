"""SSM Parameter Store with the real aws CLI (and boto3) against a real `berth server`:
put, overwrite and versions, selectors and ARNs, SecureString with and without
decryption, history, labels, by-path and describe with filters, deletes, tags, every
error with its code, a boto3 paginator, and a restart on the same data directory (the
values survive; a SecureString's plaintext is nowhere in the data directory)."""

import base64
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
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, TIMESTAMP, berth_bin, match, signed_headers

REGION = "eu-west-1"
IMPORT_NETWORK = False
ARN_PREFIX = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"


def ssm(berth, *args: str) -> dict:
    return berth.aws("ssm", *args)


def fails(berth, code: str, *args: str) -> str:
    return berth.aws_fails("ssm", *args, code=code)


def put(berth, name: str, value: str, kind: str = "String", *extra: str) -> dict:
    return ssm(berth, "put-parameter", "--name", name, "--value", value, "--type", kind, *extra)


def client(url: str, validate: bool = True):
    """A boto3 client; `validate=False` sends what botocore would refuse itself."""
    return boto3.client(
        "ssm",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
    )


def names(params: list) -> list:
    return [p["Name"] for p in params]


def test_put_overwrite_versions_and_selectors(berth):
    assert put(berth, "/app/db/host", "db1.internal") == {"Version": 1, "Tier": "Standard"}
    fails(berth, "ParameterAlreadyExists", "put-parameter", "--name", "/app/db/host",
          "--value", "db2", "--type", "String")
    out = ssm(berth, "put-parameter", "--name", "/app/db/host", "--value", "db2.internal", "--overwrite")
    assert out == {"Version": 2, "Tier": "Standard"}
    got = ssm(berth, "get-parameter", "--name", "/app/db/host")["Parameter"]
    match(got, {
        "Name": "/app/db/host", "Type": "String", "Value": "db2.internal", "Version": 2,
        "LastModifiedDate": TIMESTAMP, "ARN": f"{ARN_PREFIX}/app/db/host", "DataType": "text",
    })
    assert "Selector" not in got
    old = ssm(berth, "get-parameter", "--name", "/app/db/host:1")["Parameter"]
    assert (old["Value"], old["Version"], old["Selector"]) == ("db1.internal", 1, ":1")
    by_arn = ssm(berth, "get-parameter", "--name", f"{ARN_PREFIX}/app/db/host")["Parameter"]
    assert (by_arn["Name"], by_arn["Value"]) == ("/app/db/host", "db2.internal")
    put(berth, "flat-name", "flat")
    flat = ssm(berth, "get-parameter", "--name", f"{ARN_PREFIX}/flat-name")["Parameter"]
    assert (flat["Name"], flat["ARN"]) == ("flat-name", f"{ARN_PREFIX}/flat-name")
    fails(berth, "ParameterVersionNotFound", "get-parameter", "--name", "/app/db/host:7")
    fails(berth, "ParameterNotFound", "get-parameter", "--name", "/app/db/nothing")


def test_get_parameters_names_arns_and_invalid_ones(berth):
    put(berth, "/gp/a", "A")
    put(berth, "/gp/b", "x,y,z", "StringList")
    out = ssm(berth, "get-parameters", "--names", "/gp/a", f"{ARN_PREFIX}/gp/b", "/gp/missing", "/gp/a:3")
    assert names(out["Parameters"]) == ["/gp/a", "/gp/b"]
    assert out["Parameters"][1]["Type"] == "StringList"
    assert out["Parameters"][1]["Value"] == "x,y,z"
    assert out["InvalidParameters"] == ["/gp/missing", "/gp/a:3"]


def test_secure_string_sealed_unless_decrypted(berth):
    put(berth, "/sec/password", "correct horse battery staple", "SecureString")
    put(berth, "/sec/token", "t0k3n-value", "SecureString", "--key-id", "alias/my-key")
    raw = ssm(berth, "get-parameter", "--name", "/sec/password")["Parameter"]
    assert raw["Type"] == "SecureString"
    assert raw["Value"] != "correct horse battery staple"
    assert b"horse" not in base64.b64decode(raw["Value"])
    plain = ssm(berth, "get-parameter", "--name", "/sec/password", "--with-decryption")["Parameter"]
    assert plain["Value"] == "correct horse battery staple"
    both = ssm(berth, "get-parameters", "--names", "/sec/password", f"{ARN_PREFIX}/sec/token",
               "--with-decryption")
    assert [p["Value"] for p in both["Parameters"]] == ["correct horse battery staple", "t0k3n-value"]
    described = ssm(berth, "describe-parameters", "--parameter-filters", "Key=Path,Values=/sec")
    assert {p["Name"]: p["KeyId"] for p in described["Parameters"]} == {
        "/sec/password": "alias/aws/ssm", "/sec/token": "alias/my-key"}
    fails(berth, "ValidationException", "put-parameter", "--name", "/sec/plain", "--value", "v",
          "--type", "String", "--key-id", "alias/my-key")


def test_history_and_labels(berth):
    put(berth, "/hist/p", "one", "String", "--description", "first")
    ssm(berth, "put-parameter", "--name", "/hist/p", "--value", "two", "--overwrite")
    ssm(berth, "put-parameter", "--name", "/hist/p", "--value", "three", "--overwrite",
        "--description", "third")
    out = ssm(berth, "label-parameter-version", "--name", "/hist/p", "--parameter-version", "2",
              "--labels", "stable", "9bad")
    assert out == {"InvalidLabels": ["9bad"], "ParameterVersion": 2}
    got = ssm(berth, "get-parameter", "--name", "/hist/p:stable")["Parameter"]
    assert (got["Value"], got["Version"], got["Selector"]) == ("two", 2, ":stable")
    hist = ssm(berth, "get-parameter-history", "--name", "/hist/p")["Parameters"]
    assert [h["Value"] for h in hist] == ["one", "two", "three"]
    assert [h.get("Description") for h in hist] == ["first", "first", "third"]
    assert [h["Labels"] for h in hist] == [[], ["stable"], []]
    match(hist[0], {"Name": "/hist/p", "Type": "String", "Version": 1, "Tier": "Standard",
                    "LastModifiedUser": f"arn:aws:iam::{ACCOUNT}:root", "LastModifiedDate": TIMESTAMP,
                    "Policies": [], "DataType": "text"})
    page = ssm(berth, "get-parameter-history", "--name", "/hist/p", "--max-items", "2")
    assert len(page["Parameters"]) == 2 and page["NextToken"]
    out = ssm(berth, "unlabel-parameter-version", "--name", "/hist/p", "--parameter-version", "2",
              "--labels", "stable", "never")
    assert out == {"RemovedLabels": ["stable"], "InvalidLabels": ["never"]}
    fails(berth, "ParameterNotFound", "get-parameter", "--name", "/hist/p:stable")
    fails(berth, "ParameterVersionNotFound", "label-parameter-version", "--name", "/hist/p",
          "--parameter-version", "9", "--labels", "x")
    fails(berth, "ParameterNotFound", "get-parameter-history", "--name", "/hist/none")


def test_by_path(berth):
    put(berth, "/bp/svc/url", "u")
    put(berth, "/bp/svc/key", "k", "SecureString")
    put(berth, "/bp/svc/deep/er", "d")
    put(berth, "/bp/svcx", "not under /bp/svc")
    one = ssm(berth, "get-parameters-by-path", "--path", "/bp/svc")["Parameters"]
    assert names(one) == ["/bp/svc/key", "/bp/svc/url"]
    assert one[0]["Value"] != "k"
    rec = ssm(berth, "get-parameters-by-path", "--path", "/bp/svc/", "--recursive", "--with-decryption")
    assert names(rec["Parameters"]) == ["/bp/svc/deep/er", "/bp/svc/key", "/bp/svc/url"]
    assert rec["Parameters"][1]["Value"] == "k"
    secure = ssm(berth, "get-parameters-by-path", "--path", "/bp", "--recursive",
                 "--parameter-filters", "Key=Type,Values=SecureString")
    assert names(secure["Parameters"]) == ["/bp/svc/key"]
    keyed = ssm(berth, "get-parameters-by-path", "--path", "/bp", "--recursive",
                "--parameter-filters", "Key=KeyId,Option=BeginsWith,Values=alias/")
    assert names(keyed["Parameters"]) == ["/bp/svc/key"]
    fails(berth, "InvalidFilterKey", "get-parameters-by-path", "--path", "/bp",
          "--parameter-filters", "Key=Name,Values=x")
    fails(berth, "ValidationException", "get-parameters-by-path", "--path", "bp")


def test_describe_with_filters(berth):
    put(berth, "/df/web/a", "1", "String", "--tags", "Key=team,Value=web")
    put(berth, "/df/web/b", "2", "StringList")
    put(berth, "/df/db/c", "3", "SecureString", "--description", "db password")
    put(berth, "/df/big", "x" * 5000, "String", "--tier", "Intelligent-Tiering")
    put(berth, "/df/ami", "ami-0123456789abcdef0", "String", "--data-type", "aws:ec2:image")

    def described(*args):
        return names(ssm(berth, "describe-parameters", *args)["Parameters"])

    under = ["/df/ami", "/df/big", "/df/db/c", "/df/web/a", "/df/web/b"]
    assert described("--parameter-filters", "Key=Path,Option=Recursive,Values=/df") == under
    assert described("--parameter-filters", "Key=Path,Values=/df") == ["/df/ami", "/df/big"]
    assert described("--parameter-filters", "Key=Name,Option=BeginsWith,Values=/df/web") == [
        "/df/web/a", "/df/web/b"]
    assert described("--parameter-filters", "Key=Name,Values=df/db/c") == ["/df/db/c"]
    assert described("--parameter-filters", "Key=Name,Option=Contains,Values=web/") == [
        "/df/web/a", "/df/web/b"]
    assert described("--parameter-filters", "Key=Tier,Values=Advanced") == ["/df/big"]
    assert described("--parameter-filters", "Key=DataType,Values=aws:ec2:image") == ["/df/ami"]
    assert described("--parameter-filters", "Key=tag:team,Values=web") == ["/df/web/a"]
    assert described("--parameter-filters", "Key=Path,Option=Recursive,Values=/df",
                     "Key=Type,Values=StringList,SecureString") == ["/df/db/c", "/df/web/b"]
    secure = described("--filters", "Key=Type,Values=SecureString")
    assert "/df/db/c" in secure and not [n for n in secure if n.startswith("/df/web")]
    old = ssm(berth, "describe-parameters", "--filters", "Key=Name,Values=/df/db/c")["Parameters"]
    match(old, [{"Name": "/df/db/c", "ARN": f"{ARN_PREFIX}/df/db/c", "Type": "SecureString",
                 "KeyId": "alias/aws/ssm", "Description": "db password", "Version": 1,
                 "Tier": "Standard", "Policies": [], "DataType": "text",
                 "LastModifiedDate": TIMESTAMP, "LastModifiedUser": f"arn:aws:iam::{ACCOUNT}:root"}])
    page = ssm(berth, "describe-parameters", "--parameter-filters",
               "Key=Path,Option=Recursive,Values=/df", "--max-items", "2")
    assert names(page["Parameters"]) == under[:2] and page["NextToken"]
    fails(berth, "InvalidFilterKey", "describe-parameters", "--parameter-filters", "Key=Label,Values=x")
    fails(berth, "InvalidFilterOption", "describe-parameters", "--parameter-filters",
          "Key=Type,Option=Contains,Values=String")
    fails(berth, "InvalidFilterValue", "describe-parameters", "--parameter-filters",
          "Key=Type,Values=Text")
    fails(berth, "ValidationException", "describe-parameters", "--filters", "Key=Type,Values=String",
          "--parameter-filters", "Key=Type,Values=String")


def test_deletes(berth):
    put(berth, "/del/one", "1")
    put(berth, "/del/two", "2")
    put(berth, "/del/three", "3")
    assert ssm(berth, "delete-parameter", "--name", "/del/one") == {}
    fails(berth, "ParameterNotFound", "delete-parameter", "--name", "/del/one")
    fails(berth, "ParameterNotFound", "get-parameter", "--name", "/del/one")
    out = ssm(berth, "delete-parameters", "--names", "/del/two", f"{ARN_PREFIX}/del/three", "/del/none")
    assert out == {"DeletedParameters": ["/del/two", f"{ARN_PREFIX}/del/three"],
                   "InvalidParameters": ["/del/none"]}
    assert ssm(berth, "get-parameters-by-path", "--path", "/del")["Parameters"] == []


def test_tags(berth):
    put(berth, "/tag/p", "v", "String", "--tags", "Key=env,Value=dev", "Key=owner,Value=me")
    tags = lambda: ssm(berth, "list-tags-for-resource", "--resource-type", "Parameter",
                       "--resource-id", "/tag/p")["TagList"]
    assert tags() == [{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "me"}]
    ssm(berth, "add-tags-to-resource", "--resource-type", "Parameter", "--resource-id", "/tag/p",
        "--tags", "Key=env,Value=prod", "Key=cost,Value=42")
    assert tags() == [{"Key": "cost", "Value": "42"}, {"Key": "env", "Value": "prod"},
                      {"Key": "owner", "Value": "me"}]
    ssm(berth, "remove-tags-from-resource", "--resource-type", "Parameter", "--resource-id", "/tag/p",
        "--tag-keys", "owner", "absent")
    assert tags() == [{"Key": "cost", "Value": "42"}, {"Key": "env", "Value": "prod"}]
    fails(berth, "InvalidResourceId", "list-tags-for-resource", "--resource-type", "Parameter",
          "--resource-id", "/tag/none")
    fails(berth, "InvalidResourceId", "list-tags-for-resource", "--resource-type", "Document",
          "--resource-id", "/tag/p")
    fails(berth, "InvalidResourceType", "add-tags-to-resource", "--resource-type", "Bucket",
          "--resource-id", "/tag/p", "--tags", "Key=a,Value=b")
    many = [f"Key=k{n},Value=v" for n in range(49)]
    fails(berth, "TooManyTagsError", "add-tags-to-resource", "--resource-type", "Parameter",
          "--resource-id", "/tag/p", "--tags", *many)
    fails(berth, "ValidationException", "add-tags-to-resource", "--resource-type", "Parameter",
          "--resource-id", "/tag/p", "--tags", "Key=aws:reserved,Value=x")
    assert len(tags()) == 2


LEVELS_16 = "/" + "/".join(f"l{n}" for n in range(16))

PUT_ERRORS = [
    ("ValidationException", ["--name", "no-type", "--value", "v"]),
    ("ValidationException", ["--name", "bad name", "--value", "v", "--type", "String"]),
    ("ValidationException", ["--name", "a/b", "--value", "v", "--type", "String"]),
    ("ValidationException", ["--name", "ssm-thing", "--value", "v", "--type", "String"]),
    ("ValidationException", ["--name", "/awsx", "--value", "v", "--type", "String"]),
    ("AccessDeniedException", ["--name", "/aws/reserved/x", "--value", "v", "--type", "String"]),
    ("HierarchyLevelLimitExceededException", ["--name", LEVELS_16, "--value", "v", "--type", "String"]),
    ("ValidationException", ["--name", "/big", "--value", "x" * 4097, "--type", "String"]),
    ("ValidationException", ["--name", "/big", "--value", "x" * 8193, "--type", "String",
                             "--tier", "Advanced"]),
    ("ValidationException", ["--name", "/t", "--value", "v", "--type", "String", "--overwrite",
                             "--tags", "Key=a,Value=b"]),
    ("ParameterPatternMismatchException", ["--name", "/pat", "--value", "abc", "--type", "String",
                                           "--allowed-pattern", "^[0-9]+$"]),
    ("InvalidAllowedPatternException", ["--name", "/pat", "--value", "1", "--type", "String",
                                        "--allowed-pattern", "([0-9"]),
    ("ValidationException", ["--name", "/dt", "--value", "v", "--type", "String", "--data-type", "Text"]),
    ("ValidationException", ["--name", "/tier", "--value", "v", "--type", "String", "--tier", "Gold"]),
    ("ValidationException", ["--name", "/pol", "--value", "v", "--type", "String", "--policies", "[]"]),
]


@pytest.mark.parametrize("code,args", PUT_ERRORS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(PUT_ERRORS)])
def test_put_errors(berth, code, args):
    err = fails(berth, code, "put-parameter", *args)
    assert err.strip()
    name = args[args.index("--name") + 1]
    r = berth.run("ssm", "get-parameter", "--name", name)
    assert r.returncode != 0, f"{name} was written: {r.stdout}"


def test_pattern_and_advanced_tier_accepted(berth):
    out = put(berth, "/ok/num", "12345", "String", "--allowed-pattern", "^[0-9]+$")
    assert out["Version"] == 1
    fails(berth, "ParameterPatternMismatchException", "put-parameter", "--name", "/ok/num",
          "--value", "12a", "--overwrite")
    assert put(berth, "/ok/adv", "x" * 8000, "String", "--tier", "Advanced") == {
        "Version": 1, "Tier": "Advanced"}
    fails(berth, "ValidationException", "put-parameter", "--name", "/ok/adv", "--value", "small",
          "--overwrite", "--tier", "Standard")


def test_unknown_members_are_refused(berth):
    body = json.dumps({"Name": "/raw", "Value": "v", "Type": "String", "Colour": "red"}).encode()
    headers = signed_headers(berth.url + "/", body, "ssm", REGION, {
        "X-Amz-Target": "AmazonSSM.PutParameter",
        "Content-Type": "application/x-amz-json-1.1",
    })
    req = urllib.request.Request(berth.url + "/", data=body, method="POST", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 400
    doc = json.loads(e.value.read())
    assert doc["__type"] == "SerializationException"
    assert "Colour" in doc["message"]


def test_boto3_paginator_and_limits(berth):
    c = client(berth.url)
    for n in range(23):
        c.put_parameter(Name=f"/pg/p{n:02}", Value=str(n), Type="String")
    pages = list(c.get_paginator("get_parameters_by_path").paginate(
        Path="/pg", PaginationConfig={"PageSize": 10}))
    assert [len(p["Parameters"]) for p in pages] == [10, 10, 3]
    assert [p["Name"] for pg in pages for p in pg["Parameters"]] == [f"/pg/p{n:02}" for n in range(23)]
    described = list(c.get_paginator("describe_parameters").paginate(
        ParameterFilters=[{"Key": "Path", "Values": ["/pg"]}], PaginationConfig={"PageSize": 7}))
    assert sum(len(p["Parameters"]) for p in described) == 23
    raw = client(berth.url, validate=False)
    for bad in ({"MaxResults": 11}, {"MaxResults": 0}):
        with pytest.raises(ClientError) as e:
            raw.get_parameters_by_path(Path="/pg", **bad)
        assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        c.describe_parameters(NextToken="not a token!")
    assert e.value.response["Error"]["Code"] == "InvalidNextToken"
    with pytest.raises(ClientError) as e:
        raw.get_parameters(Names=[f"/pg/p{n:02}" for n in range(11)])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "names" in e.value.response["Error"]["Message"]


def test_boto3_version_limit(berth):
    c = client(berth.url)
    for n in range(101):
        c.put_parameter(Name="/many", Value=f"v{n}", Type="String", Overwrite=True)
    assert c.get_parameter(Name="/many")["Parameter"]["Version"] == 101
    hist = [h["Version"] for p in c.get_paginator("get_parameter_history").paginate(Name="/many")
            for h in p["Parameters"]]
    assert hist == list(range(2, 102))
    c.label_parameter_version(Name="/many", ParameterVersion=2, Labels=["pinned"])
    with pytest.raises(ClientError) as e:
        c.put_parameter(Name="/many", Value="x", Overwrite=True)
    assert e.value.response["Error"]["Code"] == "ParameterMaxVersionLimitExceeded"
    assert c.get_parameter(Name="/many")["Parameter"]["Version"] == 101


# ---- a restart on the same data directory -------------------------------------------


def start_on(data_dir: Path, log: Path):
    """A `berth server` on `data_dir`; returns (process, url)."""
    proc = subprocess.Popen(
        [str(berth_bin()), "server", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=open(log, "ab"), text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            proc.kill()
            pytest.fail(f"no address from berth server: {log.read_text()}")
        m = re.search(r"berth server listening on (http://\S+)", line)
        if m:
            return proc, m.group(1)


def stop_proc(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_values_survive_a_restart_and_secrets_stay_sealed(tmp_path):
    data, log = tmp_path / "data", tmp_path / "berth.log"
    secret = "pl41ntext-that-must-not-be-stored"
    proc, url = start_on(data, log)
    try:
        c = client(url)
        c.put_parameter(Name="/restart/secret", Value=secret, Type="SecureString")
        c.put_parameter(Name="/restart/plain", Value="visible-value", Type="String")
        c.put_parameter(Name="/restart/plain", Value="visible-value-2", Type="String", Overwrite=True)
    finally:
        stop_proc(proc)
    files = [p for p in data.rglob("*") if p.is_file()]
    blob = b"".join(p.read_bytes() for p in files)
    assert b"visible-value-2" in blob, f"the values are not in {files}"
    assert secret.encode() not in blob
    proc, url = start_on(data, log)
    try:
        c = client(url)
        got = c.get_parameters(Names=["/restart/secret", f"{ARN_PREFIX}/restart/plain"],
                               WithDecryption=True)
        assert [p["Value"] for p in got["Parameters"]] == [secret, "visible-value-2"]
        assert c.get_parameter(Name="/restart/plain:1")["Parameter"]["Value"] == "visible-value"
    finally:
        stop_proc(proc)
    assert secret not in log.read_text()
