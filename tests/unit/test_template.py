"""template.yaml read as data: what triggers the classify function, tied to catdog's one list of types."""

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
def resources() -> dict:
    return yaml.load((REPO / "template.yaml").read_text(), Loader=_CloudFormationLoader)["Resources"]


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
