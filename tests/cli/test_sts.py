"""STS with the real aws CLI, over the AWS query protocol (a form in, XML out): who
the caller is, and XML errors the CLI reads (an action berth does not serve)."""

import json
import subprocess
import urllib.error
import urllib.request

from conftest import ACCOUNT, aws_exe, signed_headers

REGION = "eu-west-1"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def run_as(berth, access_key_id, *args):
    """`aws ...` with another access key id (a 12-digit one names the account)."""
    env = berth.env()
    env["AWS_ACCESS_KEY_ID"] = access_key_id
    cmd = [aws_exe(), "--endpoint-url", berth.url, "--output", "json", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def post_form(berth, form: str, signing_name: str = "sts"):
    """POSTs a query form; returns (status, headers, body text)."""
    headers = signed_headers(berth.url + "/", form.encode(), signing_name, REGION,
                             {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    req = urllib.request.Request(berth.url + "/", data=form.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_get_caller_identity(berth):
    out = berth.aws("sts", "get-caller-identity")
    assert out == {
        "UserId": ACCOUNT,
        "Account": ACCOUNT,
        "Arn": f"arn:aws:iam::{ACCOUNT}:root",
    }


def test_a_12_digit_access_key_names_the_account(berth):
    r = run_as(berth, "111122223333", "sts", "get-caller-identity")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["Account"] == "111122223333"
    assert out["Arn"] == "arn:aws:iam::111122223333:root"


def test_an_action_berth_does_not_serve_is_invalid_action(berth):
    err = berth.aws_fails(
        "sts", "assume-role", "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/app",
        "--role-session-name", "session", code="InvalidAction",
    )
    assert "AssumeRole" in err, err


def test_xml_errors_have_the_query_shape(berth):
    status, headers, body = post_form(berth, "Action=GetCallerIdentity&Version=2011-06-16")
    assert status == 400, body
    assert headers["Content-Type"] == "text/xml"
    rid = headers["x-amzn-RequestId"]
    assert body.startswith(
        f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>NoSuchVersion</Code>'
    ), body
    assert body.endswith(f"<RequestId>{rid}</RequestId></ErrorResponse>"), body


def test_a_malformed_form_is_a_400_and_berth_keeps_serving(berth):
    status, _, body = post_form(berth, "Action=GetCallerIdentity&Version=2011-06-15&Tags.member.1=%zz")
    assert status == 400, body
    assert "<Code>MalformedQueryString</Code>" in body, body
    assert "Tags.member.1" in body, body
    assert berth.aws("sts", "get-caller-identity")["Account"] == ACCOUNT
    assert berth.aws("ecs", "list-clusters")["clusterArns"] == []

