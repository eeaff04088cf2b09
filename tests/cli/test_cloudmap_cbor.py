"""test_cloudmap.py's steps again, with the CLI speaking Smithy RPCv2-CBOR to Cloud Map
(POST /service/Route53AutoNaming_v20170314/operation/<Op>), as the newest botocore
releases do; berth must answer both encodings the same."""

from test_cloudmap import *  # noqa: F401,F403 - the same steps, collected here again

REGION = "sa-east-1"
CLOUD_MAP_PROTOCOL = "smithy-rpc-v2-cbor"
