"""Writes vectors.json: requests signed by botocore (the AWS SDK for Python) at the
time it runs, which berth-sigv4's tests verify (at the time each was signed) and re-sign. Run: python3 make_vectors.py > vectors.json"""
import json

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
CASES = [
    ("POST", "http://127.0.0.1:4566/", {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
                                       "Content-Type": "application/x-amz-json-1.1"}, b"{}", "us-east-1", "ecs"),
    ("POST", "http://localhost:4566/", {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
     b"Action=GetCallerIdentity&Version=2011-06-15", "eu-west-1", "sts"),
    ("POST", "http://127.0.0.1:4566/service/Route53AutoNaming_v20170314/operation/ListNamespaces",
     {"Content-Type": "application/cbor", "Accept": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
     b"\xa0", "us-west-2", "servicediscovery"),
    ("GET", "http://127.0.0.1:4566/berth/agent/v1/watch?containerInstance=arn%3Aaws%3Aecs%3Aus-east-1%3A123456789012%3Acontainer-instance%2Fc%2Fabc&cluster=default",
     {}, b"", "us-east-1", "ecs"),
    ("GET", "http://example.amazonaws.com/a/./b/../c%20d?b=2&a=1&a=0&z=%20x", {"My-Header": "  two   spaces  "},
     b"", "us-east-1", "service"),
]

out = []
for method, url, headers, body, region, service in CASES:
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(CREDS, service, region).add_auth(req)
    host, _, path_query = url.split("//", 1)[1].partition("/")
    path, _, query = ("/" + path_query).partition("?")
    out.append({
        "method": method, "path": path, "query": query,
        "headers": [["Host", host]] + [[k, v] for k, v in req.headers.items()],
        "body": body.hex(), "region": region, "service": service,
    })
print(json.dumps({"accessKeyId": CREDS.access_key, "secret": CREDS.secret_key,
                  "requests": out}, indent=1))
