"""template.yaml read as data: what triggers the classify function (tied to catdog's one list of types),
what the bucket refuses, what each function may do, and what raises an alarm.

Each test names the property it guards, so that an edit which weakens the template fails here even
though ``sam validate`` and ``cfn-lint`` still pass."""

from __future__ import annotations

import re
from pathlib import Path

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

#: an ExistingBucketName for the tests (a bucket of photos made before the stack), and its ARN as written
EXISTING = "photo-archive"
EXISTING_BUCKET = "arn:${AWS::Partition}:s3:::${ExistingBucketName}"


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


def test_given_the_default_versioning_then_the_bucket_is_left_unversioned_and_the_others_are_set(template):
    bucket = template["Resources"]["PhotoBucket"]["Properties"]

    def versioning(**values: str):
        deployed = _resolved(bucket, _parameter_values(template, **values), template["Conditions"])
        return deployed.get("VersioningConfiguration")

    # "Suspended" by default made a versioning-suspended bucket, where every delete leaves a delete
    # marker: deploy.md's `aws s3 rb --force` then fails with BucketNotEmpty
    assert versioning() is None
    assert versioning(BucketVersioning="Enabled") == {"Status": "Enabled"}
    assert versioning(BucketVersioning="Suspended") == {"Status": "Suspended"}


@pytest.mark.parametrize("existing", ["", EXISTING])
def test_given_the_bucket_policy_then_plain_http_and_tls_below_1_2_are_refused_to_everyone(
    template, existing
):
    policy = _resolved(
        template["Resources"]["PhotoBucketPolicy"]["Properties"],
        _parameter_values(template, ExistingBucketName=existing),
        template["Conditions"],
    )
    statements = policy["PolicyDocument"]["Statement"]
    everything = [{"Fn::GetAtt": "PhotoBucket.Arn"}, {"Fn::Sub": "${PhotoBucket.Arn}/*"}]
    (grant,) = [statement for statement in statements if statement["Effect"] == "Allow"]

    assert policy["Bucket"] == {"Ref": "PhotoBucket"}
    # the one grant: S3 Inventory of this bucket (and of the existing one), in this account, writing into
    # the batch prefix only
    assert (grant["Principal"], grant["Action"]) == ({"Service": "s3.amazonaws.com"}, "s3:PutObject")
    assert grant["Resource"] == {"Fn::Sub": "${PhotoBucket.Arn}/${BatchPrefix}inventory/*"}
    sources = [{"Fn::GetAtt": "PhotoBucket.Arn"}] + [{"Fn::Sub": EXISTING_BUCKET}] * bool(existing)
    assert grant["Condition"]["ArnLike"] == {"aws:SourceArn": sources}
    assert grant["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    denials = [
        statement["Condition"]
        for statement in statements
        if (statement["Principal"], statement["Action"], statement["Resource"]) == ("*", "s3:*", everything)
    ]
    assert {"Bool": {"aws:SecureTransport": False}} in denials
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in denials


def _lifecycle(template: dict, **values: str) -> dict:
    """The bucket's lifecycle rules by Id as CloudFormation deploys them for these parameter values."""
    rules = template["Resources"]["PhotoBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    deployed = _resolved(rules, _parameter_values(template, **values), template["Conditions"])
    return {rule.pop("Id"): rule for rule in deployed}


def test_given_the_default_lifecycle_then_unfinished_multipart_uploads_are_aborted_and_nothing_expires(
    template,
):
    # the whole bucket, and only the parts: no photo, label or report is expired or moved unless asked
    assert _lifecycle(template) == {
        "AbortIncompleteMultipartUploads": {
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    }


def test_given_days_to_expire_uploads_then_photos_and_their_labels_expire_and_nothing_else(template):
    pattern = template["Parameters"]["ExpireUploadsAfterDays"]["AllowedPattern"]
    assert not [value for value in ("0", "", "-1", "1.5", "None") if re.fullmatch(pattern, value)]
    assert re.fullmatch(pattern, "30")

    rules = _lifecycle(
        template, ExpireUploadsAfterDays="30", UploadsPrefix="incoming/", LabelsPrefix="results/"
    )

    assert {rule.get("Prefix") for rule in rules.values()} == {None, "incoming/", "results/"}
    for name in ("ExpireUploads", "ExpireLabels"):
        assert rules[name]["Status"] == "Enabled"
        assert rules[name]["ExpirationInDays"] == "30"


def _last_copy_deleted_on_day(rule: dict) -> int:
    """The day (after upload) S3 deletes the last copy of an object a rule expires, on a versioned bucket:
    expiry only adds a delete marker, so the photo itself is then a noncurrent version, deleted
    ``NoncurrentDays`` after it became noncurrent."""
    return int(rule["ExpirationInDays"]) + int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])


@pytest.mark.parametrize("days", ["1", "30", "365"])
def test_given_days_to_expire_uploads_on_a_versioned_bucket_when_they_pass_then_all_versions_go_a_day_later(
    template, days
):
    rules = _lifecycle(template, ExpireUploadsAfterDays=days, BucketVersioning="Enabled")

    # the page promises "deleted after that many days": before, a photo stayed twice that long
    assert [_last_copy_deleted_on_day(rules[name]) for name in ("ExpireUploads", "ExpireLabels")] == [
        int(days) + 1,
        int(days) + 1,
    ]


# --- What each function may do ------------------------------------------------------------------------

BUCKET = "arn:${AWS::Partition}:s3:::${BucketName}"
#: Every grant of every role the template defines, as (action, resource) with the bucket's ARN written
#: "bucket". Least privilege by prefix: a change to a policy must change this table.
GRANTS = {
    "ClassifyFunction": {
        ("s3:GetObject", "bucket/${UploadsPrefix}*"),
        ("s3:GetObject", "bucket/${LabelsPrefix}*"),
        ("s3:PutObject", "bucket/${LabelsPrefix}*"),
        ("s3:ListBucket", "bucket"),
    },
    "WebFunction": {
        ("s3:PutObject", "bucket/${UploadsPrefix}*"),  # what a presigned POST can do, and no more
        ("s3:GetObject", "bucket/${LabelsPrefix}*"),
        ("s3:ListBucket", "bucket"),
    },
    # bulk jobs read existing photos wherever they are, and write labels only (an upload's, or a bulk one)
    "BatchFunction": {
        ("s3:GetObject", "bucket/*"),
        ("s3:GetObjectVersion", "bucket/*"),
        ("s3:PutObject", "bucket/${LabelsPrefix}*"),
        ("s3:PutObject", "bucket/${BulkLabelsPrefix}*"),
        ("s3:ListBucket", "bucket"),
    },
    "QueueFunction": {
        ("s3:GetObject", "bucket/*"),
        ("s3:PutObject", "bucket/${LabelsPrefix}*"),
        ("s3:PutObject", "bucket/${BulkLabelsPrefix}*"),
        ("s3:ListBucket", "bucket"),
        # its event source mapping's, on its own queue (SAM's SQS event would grant them on every queue)
        ("sqs:ReceiveMessage", "WorkQueue.Arn"),
        ("sqs:DeleteMessage", "WorkQueue.Arn"),
        ("sqs:GetQueueAttributes", "WorkQueue.Arn"),
        ("sqs:ChangeMessageVisibility", "WorkQueue.Arn"),
    },
    "BatchOperationsRole": {
        ("lambda:InvokeFunction", "BatchFunction.Arn"),
        ("lambda:InvokeFunction", "${BatchFunction.Arn}:*"),
        ("s3:GetObject", "bucket/${BatchPrefix}*"),
        ("s3:GetObjectVersion", "bucket/${BatchPrefix}*"),
        ("s3:PutObject", "bucket/${BatchPrefix}*"),
        ("s3:GetBucketLocation", "bucket"),
        ("s3:ListBucket", "bucket"),
    },
}


#: What ExistingBucketName adds: the bulk functions label its photos as the stack bucket's (labels written
#: under the same prefixes), and a job may generate its manifest by listing it. Nothing else may touch it.
EXISTING_GRANTS = {
    "BatchFunction": {
        ("s3:GetObject", "existing/*"),
        ("s3:GetObjectVersion", "existing/*"),
        ("s3:PutObject", "existing/${LabelsPrefix}*"),
        ("s3:PutObject", "existing/${BulkLabelsPrefix}*"),
        ("s3:ListBucket", "existing"),
    },
    "QueueFunction": {
        ("s3:GetObject", "existing/*"),
        ("s3:PutObject", "existing/${LabelsPrefix}*"),
        ("s3:PutObject", "existing/${BulkLabelsPrefix}*"),
        ("s3:ListBucket", "existing"),
    },
    "BatchOperationsRole": {("s3:GetBucketLocation", "existing"), ("s3:ListBucket", "existing")},
}


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _statements(resource: dict) -> list[dict]:
    """The statements of a role's inline policies; a function's SAM ``Policies`` must all be inline."""
    policies = resource["Properties"].get("Policies", [])
    if resource["Type"] == "AWS::Serverless::Function":
        # a SAM policy template (S3CrudPolicy, ...) or a managed policy name grants whole buckets
        assert all(isinstance(policy, dict) and set(policy) == {"Statement"} for policy in policies)
        return [statement for policy in policies for statement in policy["Statement"]]
    return [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]


def _resource_text(value) -> str:
    """``!Sub "arn:...:s3:::${BucketName}/x*"`` -> ``bucket/x*`` (``${ExistingBucketName}`` -> ``existing``);
    ``!GetAtt F.Arn`` -> ``F.Arn``."""
    assert isinstance(value, dict) and len(value) == 1, f"a literal resource: {value!r}"
    ((function, text),) = value.items()
    assert function in ("Fn::Sub", "Fn::GetAtt") and isinstance(text, str)
    for arn, name in ((BUCKET, "bucket"), (EXISTING_BUCKET, "existing")):
        if text.startswith(arn):
            return name + text.removeprefix(arn)
    return text


def _grants(resource: dict, template: dict, existing: str = "") -> set[tuple[str, str]]:
    """Every (action, resource) of a role as deployed with ``ExistingBucketName=existing``."""
    values = _parameter_values(template, ExistingBucketName=existing)
    grants = set()
    for statement in _resolved(_statements(resource), values, template["Conditions"]):
        assert statement["Effect"] == "Allow" and set(statement) <= {"Sid", "Effect", "Action", "Resource"}
        grants |= {
            (action, _resource_text(target))
            for action in _listed(statement["Action"])
            for target in _listed(statement["Resource"])
        }
    return grants


def test_given_the_template_then_every_function_and_role_is_in_the_table_of_grants(resources):
    roles = {
        name
        for name, resource in resources.items()
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::IAM::Role")
    }

    assert roles == set(GRANTS)


@pytest.mark.parametrize("existing", ["", EXISTING])
@pytest.mark.parametrize("name", sorted(GRANTS))
def test_given_a_function_or_role_then_it_may_do_exactly_what_its_job_needs(
    template, resources, name, existing
):
    added = EXISTING_GRANTS.get(name, set()) if existing else set()

    assert _grants(resources[name], template, existing) == GRANTS[name] | added


def test_given_every_grant_then_no_wildcard_action_no_bucket_wide_write_and_no_write_that_triggers_classify(
    template, resources
):
    grants = {(name, *grant) for name in GRANTS for grant in _grants(resources[name], template, EXISTING)}
    writes = {(name, target) for name, action, target in grants if action == "s3:PutObject"}

    assert not [grant for grant in grants if "*" in grant[1]]
    assert not [grant for grant in grants if grant[2] in ("*", "bucket*", "existing*")]
    s3_targets = [grant[2] for grant in grants if grant[1].startswith("s3:")]
    assert not [target for target in s3_targets if not target.startswith(("bucket", "existing"))]
    assert not [write for write in writes if write[1] in ("bucket/*", "existing/*")]
    # only the page uploads photos; a label written under UploadsPrefix would be classified in turn
    assert {name for name, target in writes if target == "bucket/${UploadsPrefix}*"} == {"WebFunction"}


def test_given_the_batch_operations_role_then_only_batch_operations_of_this_account_may_assume_it(resources):
    (statement,) = resources["BatchOperationsRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# --- Parameters CloudFormation refuses ----------------------------------------------------------------

PREFIXES = ("UploadsPrefix", "LabelsPrefix", "BulkLabelsPrefix", "BatchPrefix")


def _is_function(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::"))


def _evaluate(expression, values: dict, conditions: dict | None = None):
    """The rule and condition functions the template uses, as CloudFormation evaluates them for these
    parameter values; ``Ref AWS::NoValue`` is None (the property is left out)."""
    if not _is_function(expression):
        return expression
    ((function, argument),) = expression.items()
    if function == "Ref" and argument == "AWS::NoValue":
        return None
    if function in ("Fn::Sub", "Fn::GetAtt") or (function == "Ref" and argument not in values):
        return expression  # what a grant names, a resource: compared as written
    if function == "Ref":
        return values[argument]
    if function == "Fn::If":
        name, if_true, if_false = argument
        chosen = if_true if _evaluate(conditions[name], values, conditions) else if_false
        return _evaluate(chosen, values, conditions)
    if function == "Fn::Contains":  # a rule function: [list of strings, string]
        strings, string = argument
        return _evaluate(string, values, conditions) in [
            _evaluate(item, values, conditions) for item in strings
        ]
    arguments = [_evaluate(item, values, conditions) for item in argument]
    if function == "Fn::Equals":
        return arguments[0] == arguments[1]
    if function == "Fn::Not":
        return not arguments[0]
    if function == "Fn::And":
        return all(arguments)
    if function == "Fn::Or":
        return any(arguments)
    raise AssertionError(f"a rule function this test does not evaluate: {function}")


def _resolved(value, values: dict, conditions: dict):
    """A property with the functions in it evaluated (``_evaluate``); what ``AWS::NoValue`` leaves out
    is gone from its list or object."""
    if _is_function(value):
        evaluated = _evaluate(value, values, conditions)
        return value if evaluated is value else _resolved(evaluated, values, conditions)
    if isinstance(value, dict):
        return {
            k: v
            for k, v in ((k, _resolved(v, values, conditions)) for k, v in value.items())
            if v is not None
        }
    if isinstance(value, list):
        return [v for v in (_resolved(item, values, conditions) for item in value) if v is not None]
    return value


def _parameter_values(template: dict, **values: str) -> dict:
    return {name: values.get(name, spec.get("Default")) for name, spec in template["Parameters"].items()}


def _accepted(template: dict, **values: str) -> bool:
    """Whether CloudFormation takes these values: each AllowedPattern (a whole-string match), then Rules."""
    parameters = template["Parameters"]
    values = _parameter_values(template, **values)
    if any(not re.fullmatch(parameters[name]["AllowedPattern"], values[name]) for name in PREFIXES):
        return False
    return all(
        _evaluate(assertion["Assert"], values)
        for rule in template["Rules"].values()
        if _evaluate(rule.get("RuleCondition", True), values)
        for assertion in rule["Assertions"]
    )


def _apart(*prefixes: str) -> bool:
    """No key can be under two of them: none is empty and none starts another."""
    pairs = [(a, b) for i, a in enumerate(prefixes) for j, b in enumerate(prefixes) if i != j]
    return all(prefixes) and not [(a, b) for a, b in pairs if b.startswith(a)]


CANDIDATES = ["uploads/", "labels/", "batch/", "incoming/", "results/", "", "uploads", "labels"]
CANDIDATES += ["labels/uploads/", "uploads/labels/", "uploads/batch/", "*/", "../", "/uploads/", "up"]


def test_given_the_defaults_and_other_distinct_folders_then_cloudformation_accepts_them(template):
    assert _accepted(template)
    assert _accepted(template, UploadsPrefix="incoming/", LabelsPrefix="results/", BatchPrefix="jobs/")


@pytest.mark.parametrize(
    ("uploads", "labels"),
    [
        ("uploads/", "uploads/"),  # every upload is a label: nothing labelled
        ("uploads/", ""),
        ("", "labels/"),
        ("labels/uploads/", "labels/"),  # every upload is under the labels: nothing labelled
        ("uploads/", "uploads/labels/"),  # labels are uploads: each one triggers the function again
        ("uploads", "uploads-labels/"),  # no "/": "uploads" starts "uploads-labels/"
        ("*/", "labels/"),  # an IAM wildcard in every policy that names the prefix
    ],
)
def test_given_prefixes_that_overlap_then_cloudformation_refuses_the_stack(template, uploads, labels):
    assert not _accepted(template, UploadsPrefix=uploads, LabelsPrefix=labels)


@pytest.mark.parametrize("batch", ["batch/", "uploads/", "labels/", "incoming/"])
def test_given_any_prefixes_then_the_stack_is_accepted_only_when_no_key_can_be_under_two(template, batch):
    accepted = [
        (uploads, labels)
        for uploads in CANDIDATES
        for labels in CANDIDATES
        if _accepted(template, UploadsPrefix=uploads, LabelsPrefix=labels, BatchPrefix=batch)
    ]

    assert accepted
    assert not [pair for pair in accepted if not _apart(*pair, batch)]


# --- Concurrency --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "parameter"),
    [("ClassifyFunction", "ClassifyReservedConcurrency"), ("BatchFunction", "BatchReservedConcurrency")],
)
def test_given_a_reserved_concurrency_parameter_then_a_number_reserves_and_caps_and_none_leaves_it_out(
    template, function, parameter
):
    reserved = template["Resources"][function]["Properties"]["ReservedConcurrentExecutions"]
    pattern = template["Parameters"][parameter]["AllowedPattern"]

    def deployed(value: str):
        assert re.fullmatch(pattern, value), value
        return _evaluate(reserved, _parameter_values(template, **{parameter: value}), template["Conditions"])

    assert deployed("240") == "240"
    assert deployed("none") is None  # the property is left out: no reservation
    # the default deploys on any account: a reservation needs a limit 100 above it, new accounts have 10
    assert deployed(template["Parameters"][parameter]["Default"]) is None
    # 0 would stop the function altogether: an outage, not a limit
    assert not [value for value in ("0", "", "-1", "1.5", "None", "all") if re.fullmatch(pattern, value)]


def test_given_the_unbounded_functions_then_the_queue_is_capped_by_its_event_source(resources):
    """The queue function's cap is its SQS event source's, not a reservation; the web page is throttled."""
    work = resources["QueueWorkSource"]["Properties"]

    assert work["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "QueueMaxConcurrency"}}
    assert "ReservedConcurrentExecutions" not in resources["QueueFunction"]["Properties"]
    assert resources["WebApi"]["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0


# --- Failures kept, and seen --------------------------------------------------------------------------


def _of_type(resources: dict, kind: str) -> dict:
    return {name: resource["Properties"] for name, resource in resources.items() if resource["Type"] == kind}


def _watched(alarm: dict) -> tuple[str, str, str]:
    """(namespace, metric, the resource of this stack it names) of one alarm; an API's alarm also names
    its stage."""
    dimension, *stage = alarm["Dimensions"]
    assert stage in ([], [{"Name": "Stage", "Value": "$default"}])
    value = dimension["Value"]
    target = value["Ref"] if "Ref" in value else value["Fn::GetAtt"].removesuffix(".QueueName")
    return alarm["Namespace"], alarm["MetricName"], target


def _failure_queues(resources: dict) -> set[str]:
    """Every queue failed work goes to: dead-letter queues, on-failure destinations, rules' dead letters."""
    dead_letters = {
        queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"].removesuffix(".Arn")
        for queue in _of_type(resources, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue
    }
    destinations = {
        function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"][
            "Fn::GetAtt"
        ].removesuffix(".Arn")
        for function in _of_type(resources, "AWS::Serverless::Function").values()
        if "EventInvokeConfig" in function
    }
    undelivered = {
        event["Properties"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"].removesuffix(".Arn")
        for function in _of_type(resources, "AWS::Serverless::Function").values()
        for event in (function.get("Events") or {}).values()
        if "DeadLetterConfig" in event.get("Properties", {})
    }
    return dead_letters | destinations | undelivered


def test_given_the_alarms_then_they_watch_the_failure_queues_and_the_functions_errors_and_throttles(
    resources,
):
    watched = {_watched(alarm) for alarm in _of_type(resources, "AWS::CloudWatch::Alarm").values()}

    assert watched == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "ClassifyFailures"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "WorkDeadLetters"),
        ("AWS/Lambda", "Errors", "ClassifyFunction"),
        ("AWS/Lambda", "Errors", "BatchFunction"),
        ("AWS/Lambda", "Errors", "QueueFunction"),
        ("AWS/Lambda", "Errors", "WebFunction"),
        ("AWS/ApiGateway", "5xx", "WebApi"),  # the web function answers its own errors as JSON 500s
        ("AWS/Lambda", "Throttles", "ClassifyFunction"),
        ("AWS/Lambda", "Throttles", "BatchFunction"),
        ("AWS/Lambda", "Throttles", "QueueFunction"),
    }
    # a queue or function added later is covered too, or this fails
    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", q) for q in _failure_queues(resources)
    } <= watched
    assert {("AWS/Lambda", "Errors", f) for f in _of_type(resources, "AWS::Serverless::Function")} <= watched


def test_given_any_alarm_then_it_fires_on_the_first_message_or_error_and_tells_the_topic(resources):
    for name, alarm in _of_type(resources, "AWS::CloudWatch::Alarm").items():
        statistic = "Maximum" if alarm["Namespace"] == "AWS/SQS" else "Sum"
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            statistic,
            "GreaterThanThreshold",
            0,
        ), name
        assert alarm["EvaluationPeriods"] == 1 and alarm["Period"] <= 300, name
        # no data (an idle function, an empty queue that stopped reporting) is not an alarm
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["AlarmDescription"], name


def test_given_an_alarm_email_then_it_is_subscribed_and_without_one_nothing_is(template, resources):
    subscription = resources["AlarmEmailSubscription"]
    condition = template["Conditions"][subscription["Condition"]]
    pattern = template["Parameters"]["AlarmEmail"]["AllowedPattern"]

    assert resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert _evaluate(condition, _parameter_values(template)) is False
    assert _evaluate(condition, _parameter_values(template, AlarmEmail="ops@example.com")) is True
    assert [value for value in ("", "ops@example.com") if re.fullmatch(pattern, value)] == [
        "",
        "ops@example.com",
    ]
    assert not [value for value in ("ops", "ops@", "a b@example.com") if re.fullmatch(pattern, value)]


def test_given_failed_work_then_it_lands_in_an_encrypted_queue_that_keeps_it_14_days(resources):
    queues = _of_type(resources, "AWS::SQS::Queue")
    classify = resources["ClassifyFunction"]["Properties"]["EventInvokeConfig"]
    work = queues["WorkQueue"]
    work_source = resources["QueueWorkSource"]["Properties"]

    assert classify["MaximumRetryAttempts"] == 2
    assert classify["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": "ClassifyFailures.Arn"},
    }
    assert work["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": "WorkDeadLetters.Arn"},
        "maxReceiveCount": {"Ref": "QueueMaxReceiveCount"},
    }
    assert _failure_queues(resources) == {"ClassifyFailures", "WorkDeadLetters"}
    assert all(
        queues[name]["MessageRetentionPeriod"] == 14 * 24 * 3600 for name in _failure_queues(resources)
    )
    assert all(queue["SqsManagedSseEnabled"] is True for queue in queues.values())
    # a message is not handed out again while a slow batch still holds it (6 x the function's timeout)
    assert work["VisibilityTimeout"] >= 6 * resources["QueueFunction"]["Properties"]["Timeout"]
    assert work_source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert work_source["EventSourceArn"] == {"Fn::GetAtt": "WorkQueue.Arn"}


def test_given_the_receive_count_parameter_then_a_message_is_tried_again_before_it_is_dead_lettered(template):
    """MinValue was 1: each receive of a throttled (SlowDown) message, or one the function had no time
    to begin (NotStarted), counts, so at 1 such a message went to WorkDeadLetters unlabelled at once."""
    receives = template["Parameters"]["QueueMaxReceiveCount"]
    assert receives["MinValue"] >= 3
    assert receives["MinValue"] <= receives["Default"] <= receives["MaxValue"] == 1000  # SQS's own bound


def test_given_the_labelling_functions_then_each_outlasts_the_s3_calls_of_one_photo_stalling(resources):
    """A label's S3 calls that stall end in an error a retry can cure, but the function timing out first
    reports nothing (a Batch Operations task then counts as failed, not TemporaryFailure; a queue batch
    comes back whole, each message a receive nearer the dead-letter queue)."""
    from catdog.labeling import (
        FUNCTION_S3_CONFIG,
        S3_ATTEMPTS,
        S3_BODY_READS_PER_LABEL,
        S3_CALLS_PER_LABEL,
        SLOWEST_PHOTO_SECONDS,
        TIMEOUT_MARGIN_SECONDS,
        WORST_LABEL_SECONDS,
    )

    # the client as the functions build it: each call's attempts, and each body read, given up on
    config = FUNCTION_S3_CONFIG
    per_call = S3_ATTEMPTS * (config.connect_timeout + config.read_timeout)
    stalls = S3_CALLS_PER_LABEL * per_call + S3_BODY_READS_PER_LABEL * config.read_timeout
    assert stalls + SLOWEST_PHOTO_SECONDS <= WORST_LABEL_SECONDS  # test_label_currency counts the calls

    # the classify and batch functions end a label, the worst one included, with a margin to spare
    for name in ("ClassifyFunction", "BatchFunction"):
        timeout = resources[name]["Properties"]["Timeout"]
        assert timeout >= WORST_LABEL_SECONDS + TIMEOUT_MARGIN_SECONDS, name
    # the queue function begins a message only with as much left: ten of the worst accepted photos
    # (about 6 s each at 640 MB) must fit before that, or messages come back not begun
    begun_with = WORST_LABEL_SECONDS + TIMEOUT_MARGIN_SECONDS
    assert resources["QueueFunction"]["Properties"]["Timeout"] - begun_with >= 10 * SLOWEST_PHOTO_SECONDS


def test_given_an_upload_event_eventbridge_cannot_deliver_then_it_joins_the_failed_invocations(resources):
    (name, event), *_ = resources["ClassifyFunction"]["Properties"]["Events"].items()
    statements = resources["ClassifyFailuresPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (statement,) = [statement for statement in statements if statement["Effect"] == "Allow"]

    assert event["Properties"]["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": "ClassifyFailures.Arn"}}
    assert resources["ClassifyFailuresPolicy"]["Properties"]["Queues"] == [{"Ref": "ClassifyFailures"}]
    # only this rule (SAM names it function + event) may send, and only messages
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert (statement["Effect"], statement["Action"]) == ("Allow", "sqs:SendMessage")
    assert statement["Resource"] == {"Fn::GetAtt": "ClassifyFailures.Arn"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": f"ClassifyFunction{name}.Arn"}}
    }


def _chosen(item, values: dict, conditions: dict):
    """A list item as CloudFormation keeps it: an ``Fn::If`` decided, ``AWS::NoValue`` left out (None)."""
    if isinstance(item, dict) and "Fn::If" in item:
        name, if_true, if_false = item["Fn::If"]
        item = if_true if _evaluate(conditions[name], values, conditions) else if_false
    return None if item == {"Ref": "AWS::NoValue"} else item


@pytest.mark.parametrize("queue_events", ["", "archive/"])
def test_given_any_queue_policy_then_each_service_may_send_only_from_a_named_source(template, queue_events):
    values = _parameter_values(template, QueueEventPrefix=queue_events)
    conditions = template["Conditions"]
    statements = [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SQS::QueuePolicy"
        and _evaluate(conditions.get(resource.get("Condition"), True), values, conditions)
        for item in resource["Properties"]["PolicyDocument"]["Statement"]
        if (statement := _chosen(item, values, conditions)) is not None and statement["Effect"] == "Allow"
    ]

    # S3 notifications and undelivered upload events; with QueueEventPrefix, its rule and its dead letters
    assert len(statements) == (2 if not queue_events else 4)
    assert all(
        statement["Action"] == "sqs:SendMessage" and "Service" in statement["Principal"]
        for statement in statements
    )
    assert all("aws:SourceArn" in statement["Condition"]["ArnEquals"] for statement in statements)


@pytest.mark.parametrize("queue_events", ["", "incoming/"], ids=["no queue events", "queue events"])
def test_given_any_queue_then_its_policy_refuses_every_request_without_tls(template, queue_events):
    values = _parameter_values(template, QueueEventPrefix=queue_events)
    conditions = template["Conditions"]
    resources = template["Resources"]
    queues = {name for name, resource in resources.items() if resource["Type"] == "AWS::SQS::Queue"}
    refused = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::SQS::QueuePolicy":
            continue
        assert "Condition" not in resource  # a policy that may not exist would leave its queue without it
        for item in resource["Properties"]["PolicyDocument"]["Statement"]:
            statement = _chosen(item, values, conditions)
            if statement and statement["Effect"] == "Deny" and statement["Principal"] == "*":
                assert statement["Action"] == "sqs:*"
                assert statement["Condition"] == {"Bool": {"aws:SecureTransport": False}}
                queue = statement["Resource"]["Fn::GetAtt"].removesuffix(".Arn")
                assert {"Ref": queue} in resource["Properties"]["Queues"]
                refused.add(queue)

    assert refused == queues == {"ClassifyFailures", "WorkQueue", "WorkDeadLetters"}


def test_given_the_alarm_topic_then_it_is_not_encrypted_with_the_aws_managed_key(resources):
    # CloudWatch cannot publish to a topic under alias/aws/sns (it needs kms:GenerateDataKey, which only a
    # customer managed key's policy can grant): every alarm would be dropped without a word
    topic = resources["AlarmTopic"]["Properties"]
    assert "alias/aws/sns" not in str(topic.get("KmsMasterKeyId", ""))


def test_given_a_queue_event_prefix_then_its_objects_reach_the_work_queue_and_undelivered_the_dead_letters(
    template,
):
    rule = template["Resources"]["QueueEventRule"]
    (target,) = rule["Properties"]["Targets"]
    conditions = template["Conditions"]

    assert rule["Condition"] == "LabelQueueEvents"
    assert not _evaluate(conditions["LabelQueueEvents"], _parameter_values(template), conditions)
    assert _evaluate(
        conditions["LabelQueueEvents"], _parameter_values(template, QueueEventPrefix="a/"), conditions
    )
    assert rule["Properties"]["EventPattern"]["detail"]["object"]["key"] == [
        {"prefix": {"Ref": "QueueEventPrefix"}}
    ]
    assert target["Arn"] == {"Fn::GetAtt": "WorkQueue.Arn"}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": "WorkDeadLetters.Arn"}}


@pytest.mark.parametrize(
    ("prefix", "accepted"),
    [
        ("", True),
        ("archive/", True),
        ("uploads/", False),
        ("labels/", False),
        ("bulk-labels/", False),
        ("batch/", False),
    ],
)
def test_given_a_queue_event_prefix_then_cloudformation_refuses_the_stacks_own(template, prefix, accepted):
    # labels under it would be labelled in turn, without end; uploads would be labelled twice
    assert _accepted(template, QueueEventPrefix=prefix) == accepted
    assert re.fullmatch(template["Parameters"]["QueueEventPrefix"]["AllowedPattern"], "a/b/") is None


@pytest.mark.parametrize(
    ("existing", "accepted"),
    [
        ("", True),
        (EXISTING, True),
        ("Old_Photos", True),  # a name from before 2018 in us-east-1
        ("catdog-photos", False),  # the stack's own
        ("s3://photo-archive", False),
        ("photo-archive/2019/", False),
        ("arn:aws:s3:::photo-archive", False),
        ("photo-archive*", False),  # a wildcard in every grant
    ],
)
def test_given_an_existing_bucket_name_then_cloudformation_takes_only_another_buckets_name(
    template, existing, accepted
):
    pattern = template["Parameters"]["ExistingBucketName"]["AllowedPattern"]
    taken = re.fullmatch(pattern, existing) is not None
    values = {"BucketName": "catdog-photos", "ExistingBucketName": existing}

    assert (taken and _accepted(template, **values)) == accepted


@pytest.mark.parametrize("parameter", ["MaxImageBytes", "MaxPixels"])
@pytest.mark.parametrize("value", ["1", "20971520", "0", "1.5", "2e7", "-5", ""])
def test_given_a_size_limit_parameter_then_cloudformation_accepts_exactly_what_the_functions_do(
    template, parameter, value
):
    from catdog.settings import Settings

    accepted = re.fullmatch(template["Parameters"][parameter]["AllowedPattern"], value) is not None
    try:
        Settings.from_env({"MAX_IMAGE_BYTES" if parameter == "MaxImageBytes" else "MAX_PIXELS": value})
        cold_start = True
    except ValueError:
        cold_start = False

    assert accepted == cold_start


def test_given_the_functions_then_each_logs_to_its_own_group_kept_for_the_retention_parameter(
    template, resources
):
    groups = _of_type(resources, "AWS::Logs::LogGroup")
    used = {
        name: function["LoggingConfig"]["LogGroup"]["Ref"]
        for name, function in _of_type(resources, "AWS::Serverless::Function").items()
    }

    assert sorted(used.values()) == sorted(groups)  # one group a function, none unused
    assert all(group["RetentionInDays"] == {"Ref": "LogRetentionDays"} for group in groups.values())
    assert (
        template["Parameters"]["LogRetentionDays"]["Default"]
        in (template["Parameters"]["LogRetentionDays"]["AllowedValues"])
    )


def test_given_the_web_function_then_the_http_api_routes_the_page_for_get_and_head_and_the_api_for_all(
    resources,
):
    """An HTTP API answers only the methods its routes name: HEAD (uptime checks) needs routes of its own."""
    events = resources["WebFunction"]["Properties"]["Events"].values()
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events if e["Type"] == "HttpApi"}

    assert routes == {
        ("GET", "/"),
        ("HEAD", "/"),
        ("GET", "/static/{name}"),
        ("HEAD", "/static/{name}"),
        ("ANY", "/api/{proxy+}"),
    }


def test_given_the_functions_that_classify_then_no_memory_size_accepted_runs_out_on_an_accepted_photo(
    template, resources
):
    """ClassifyMemorySize's MinValue was 256: a stack deployed at 256 or 512 MB was killed (out of
    memory, nothing reported) by the worst photos MaxPixels accepts, which peak at about 500 MB."""
    import json

    measured = json.loads((REPO / "benchmarks" / "results" / "memory.json").read_text())
    parameters = template["Parameters"]
    memory = parameters["ClassifyMemorySize"]

    # GIVEN the worst accepted image of every format measured at the template's default MaxPixels
    assert measured["max_pixels"] == int(parameters["MaxPixels"]["Default"])
    # THEN the least memory the stack accepts holds it at 85 % at most (the rule docs/benchmarks.md uses)
    assert memory["MinValue"] * 0.85 >= measured["worst_after_peak_rss_mb"]
    # and so do the worst photos one after another in a warm function, as the code ships
    assert memory["MinValue"] * 0.85 >= measured["warm_sequence"]["peak_rss_mb"]
    assert memory["MinValue"] <= memory["Default"]
    # and every function that classifies photos takes its memory from that parameter
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        code = (REPO / resource["Properties"]["CodeUri"] / "app.py").read_text()
        if "Labeler" in code or "Classifier" in code:
            assert resource["Properties"]["MemorySize"] == {"Ref": "ClassifyMemorySize"}, name


def test_given_the_local_stack_when_it_routes_the_web_api_then_it_takes_the_templates_routes(resources):
    from local.http_api import ROUTES

    events = resources["WebFunction"]["Properties"]["Events"].values()
    routes = {(event["Properties"]["Method"], event["Properties"]["Path"]) for event in events}

    assert set(ROUTES) == routes


def test_given_the_local_stack_when_it_names_its_bucket_then_it_takes_the_names_the_template_takes(template):
    # GIVEN the names the stack's BucketName parameter allows, and catdog serve's check of --bucket
    from local.serve import NEW_BUCKET_NAME

    allowed = template["Parameters"]["BucketName"]["AllowedPattern"]

    # THEN they are one rule: a bucket name that runs locally deploys
    assert allowed == f"^{NEW_BUCKET_NAME.pattern}$"


def test_given_the_functions_then_each_reports_as_its_own_service_named_as_catdog_serve_names_it(
    template, resources
):
    """Powertools puts the service name in every log line and as a dimension of every metric: one name for
    all four functions summed a bulk backfill's ImagesClassified into the live uploads' series."""
    from local.serve import POWERTOOLS_DEFAULTS

    functions = {
        name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"
    }
    services = {
        name: p["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME") for name, p in functions.items()
    }
    local_name = POWERTOOLS_DEFAULTS["POWERTOOLS_SERVICE_NAME"] + "-{}"

    assert "POWERTOOLS_SERVICE_NAME" not in template["Globals"]["Function"]["Environment"]["Variables"]
    assert services == {name: local_name.format(Path(p["CodeUri"]).name) for name, p in functions.items()}
    assert len(set(services.values())) == 4
