"""template.yaml read as data: what triggers the classify function (tied to catdog's one list of types),
what the bucket refuses, what each function may do, and what raises an alarm.

Each test names the property it guards, so that an edit which weakens the template fails here even
though ``sam validate`` and ``cfn-lint`` still pass."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO

from catdog.imagetypes import IMAGE_TYPES


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref X -> {"Ref": "X"}, !Sub s -> {"Fn::Sub": s})."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load((REPO / "template.yaml").read_text(), Loader=_CloudFormationLoader)


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template["Resources"]


def test_given_the_template_when_uploads_trigger_classify_then_one_eventbridge_rule_on_the_prefix(resources):
    (event,) = resources["ClassifyFunction"]["Properties"]["Events"].values()
    pattern = event["Properties"]["Pattern"]

    assert event["Type"] == "EventBridgeRule"
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "BucketName"}]
    # the prefix alone: which names are photos is decided by catdog.imagetypes, in any letter case
    assert pattern["detail"]["object"]["key"] == [{"prefix": {"Ref": "UploadsPrefix"}}]
    notification = resources["PhotoBucket"]["Properties"]["NotificationConfiguration"]
    assert notification == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_given_the_template_then_no_function_keeps_a_suffix_list_of_its_own(resources):
    text = (REPO / "template.yaml").read_text().lower()
    suffixes = {suffix for kind in IMAGE_TYPES for suffix in kind.suffixes}

    assert not [suffix for suffix in suffixes if f'"{suffix}"' in text or f"'{suffix}'" in text]
    assert not [
        name
        for name, resource in resources.items()
        for event in (resource.get("Properties", {}).get("Events") or {}).values()
        if event["Type"] == "S3"
    ]


# --- The bucket ---------------------------------------------------------------------------------------


def test_given_the_photo_bucket_then_it_blocks_public_access_encrypts_and_owns_every_object(resources):
    bucket = resources["PhotoBucket"]["Properties"]

    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert resources["PhotoBucket"]["DeletionPolicy"] == "Retain"


def test_given_the_bucket_policy_then_plain_http_and_tls_below_1_2_are_refused_to_everyone(resources):
    policy = resources["PhotoBucketPolicy"]["Properties"]
    statements = policy["PolicyDocument"]["Statement"]
    everything = [{"Fn::GetAtt": "PhotoBucket.Arn"}, {"Fn::Sub": "${PhotoBucket.Arn}/*"}]

    assert policy["Bucket"] == {"Ref": "PhotoBucket"}
    assert all(statement["Effect"] == "Deny" for statement in statements), "the policy grants nothing"
    denials = [
        statement["Condition"]
        for statement in statements
        if (statement["Principal"], statement["Action"], statement["Resource"]) == ("*", "s3:*", everything)
    ]
    assert {"Bool": {"aws:SecureTransport": False}} in denials
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in denials


def test_given_the_lifecycle_then_unfinished_multipart_uploads_are_aborted_and_nothing_expires(resources):
    (rule,) = resources["PhotoBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]

    assert rule["Status"] == "Enabled"
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    # the whole bucket, and only the parts: no photo, label or report is ever expired or moved
    assert set(rule) == {"Id", "Status", "AbortIncompleteMultipartUpload"}
