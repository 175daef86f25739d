"""The task-log policy lets the real S3 task handler upload and read logs, in an S3 that enforces IAM.

The provider's ``S3RemoteLogIO`` (what the S3 task handler uploads and reads through) runs its real
calls against moto with IAM enforcement on, as an IAM user holding exactly the policy document the
stack gives a component (``component_policy``). Every S3 request is allowed only if both moto's
own evaluator and a condition-aware IAM simulator (``tests/infra/iam_simulation.py``; moto ignores
``StringLike``) allow it, with the request's context keys (``s3:prefix`` of a listing).

One rule of S3 that moto does not model is added, decided by the simulator too: S3 answers a
HeadObject for a missing key with 404 only when the caller may ``s3:ListBucket`` the bucket, and
403 otherwise ("HeadObject", Amazon S3 API Reference: "If you don't have the s3:ListBucket
permission, Amazon S3 returns an HTTP status code 403 Forbidden error"); that request carries no
``s3:prefix``. The handler's first call for a new log is exactly such a HeadObject (is there a
previous log to append to?).
"""

from __future__ import annotations

import json
import re

from tests.airflow_env import configure

configure()

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core.authorization import enable_iam_authentication  # noqa: E402
from moto.s3.exceptions import BucketAccessDeniedError  # noqa: E402
from moto.s3.responses import S3Response  # noqa: E402

from infra.airflow import component_policy, connections_arn_pattern  # noqa: E402
from infra.airflow_values import TASK_LOG_CONNECTION_ID  # noqa: E402
from tests.infra.iam_simulation import ACCOUNT, IamSimulator  # noqa: E402

REGION = "eu-west-1"
BUCKET = "offline-task-logs"
PREFIX = "airflow/task-logs"
LOG_PATH = "dag_id=finance.ledger-export/run_id=scheduled__2024-06-03T05:00:00+00:00/task_id=run/attempt=1.log"


@pytest.fixture(scope="module")
def simulator():
    simulator = IamSimulator()
    yield simulator
    simulator.close()


@pytest.fixture
def identities() -> dict[str, list[dict]]:
    """Access key id -> the identity policies of the component it belongs to."""
    return {}


@pytest.fixture
def s3_with_conditions(monkeypatch, simulator, identities):
    """moto's S3 whose authorization also asks the simulator, and whose HeadObject follows S3's rule."""
    authorize = S3Response._authenticate_and_authorize_s3_action
    head_object = S3Response.head_object

    def policies_of(response) -> list[dict] | None:
        match = re.search(r"Credential=([^/]+)/", response.headers.get("Authorization", ""))
        return identities.get(match.group(1)) if match else None

    def simulated(response, action: str, bucket_name, key_name, context: dict) -> None:
        policies = policies_of(response)
        if policies is None:
            return  # the test's own set-up calls
        resource = f"arn:aws:s3:::{bucket_name}" + (f"/{key_name}" if key_name else "")
        if simulator.decide(policies, f"s3:{action}", resource, context=context) != "Allowed":
            raise BucketAccessDeniedError(bucket=bucket_name)

    def authorize_with_conditions(self, bucket_name=None, key_name=None):
        authorize(self, bucket_name=bucket_name, key_name=key_name)
        action = self.data["Action"]
        context = {}
        if action == "ListBucket" and self.querystring.get("prefix"):
            context["s3:prefix"] = self.querystring["prefix"][0]
        simulated(self, action, bucket_name, key_name, context)

    def head_object_like_s3(self, bucket_name, query, key_name, headers):
        status, response_headers, body = head_object(self, bucket_name, query, key_name, headers)
        if status == 404:
            try:
                simulated(self, "ListBucket", bucket_name, None, {})
            except BucketAccessDeniedError:
                return 403, {}, ""
        return status, response_headers, body

    monkeypatch.setattr(S3Response, "_authenticate_and_authorize_s3_action", authorize_with_conditions)
    monkeypatch.setattr(S3Response, "head_object", head_object_like_s3)


@pytest.fixture
def s3(monkeypatch, s3_with_conditions):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        admin = boto3.session.Session(aws_access_key_id="admin", aws_secret_access_key="admin", region_name=REGION)
        admin.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield admin


def _policy(*, write: bool) -> str:
    pattern = connections_arn_pattern("aws", REGION, ACCOUNT, "batch-platform/prod/airflow/connections")
    return component_policy(f"arn:aws:s3:::{BUCKET}", PREFIX, pattern, write=write)


def _component(admin, monkeypatch, identities, *, write: bool, policy: str | None = None):
    """An identity holding exactly the component's policy, as the task-log connection of Airflow."""
    from airflow.providers.amazon.aws.log.s3_task_handler import S3RemoteLogIO

    iam = admin.client("iam")
    user = "worker" if write else "api-server"
    iam.create_user(UserName=user)
    document = policy or _policy(write=write)
    iam.put_user_policy(UserName=user, PolicyName="task-logs", PolicyDocument=document)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    identities[key["AccessKeyId"]] = [json.loads(document)]
    connection = {
        "conn_type": "aws",
        "login": key["AccessKeyId"],
        "password": key["SecretAccessKey"],
        "extra": {"region_name": REGION},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{TASK_LOG_CONNECTION_ID.upper()}", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID", TASK_LOG_CONNECTION_ID)
    return S3RemoteLogIO(remote_base=f"s3://{BUCKET}/{PREFIX}", base_log_folder="/nonexistent", delete_local_copy=True)


def test_a_worker_uploads_a_new_log_and_appends_to_it(s3, monkeypatch, identities):
    io = _component(s3, monkeypatch, identities, write=True)
    location = f"s3://{BUCKET}/{PREFIX}/{LOG_PATH}"
    with enable_iam_authentication():
        assert io.write("first try line\n", location) is True
        assert io.write("second line\n", location) is True
    body = s3.client("s3").get_object(Bucket=BUCKET, Key=f"{PREFIX}/{LOG_PATH}")["Body"].read()
    assert body == b"first try line\nsecond line\n"


def test_a_worker_writes_nothing_outside_the_prefix(s3, monkeypatch, identities):
    io = _component(s3, monkeypatch, identities, write=True)
    with enable_iam_authentication():
        assert io.write("x\n", f"s3://{BUCKET}/elsewhere/{LOG_PATH}") is False
    assert "Contents" not in s3.client("s3").list_objects_v2(Bucket=BUCKET)


def test_the_api_server_reads_the_log_back_and_cannot_write(s3, monkeypatch, identities):
    s3.client("s3").put_object(Bucket=BUCKET, Key=f"{PREFIX}/{LOG_PATH}", Body=b"the batch ran\n")
    io = _component(s3, monkeypatch, identities, write=False)
    with enable_iam_authentication():
        sources, logs = io.read(LOG_PATH, None)
        assert sources == [f"s3://{BUCKET}/{PREFIX}/{LOG_PATH}"]
        assert logs == ["the batch ran\n"]
        assert io.write("forged\n", f"s3://{BUCKET}/{PREFIX}/{LOG_PATH}") is False
    assert s3.client("s3").get_object(Bucket=BUCKET, Key=f"{PREFIX}/{LOG_PATH}")["Body"].read() == b"the batch ran\n"


def test_a_listing_grant_limited_by_prefix_loses_the_first_upload(s3, monkeypatch, identities):
    # The control: the policy the stack had. HeadObject of the new key answers 403, and the handler
    # gives up ("Could not verify previous log to append") without uploading anything.
    document = json.loads(_policy(write=True))
    (listing,) = [s for s in document["Statement"] if s["Action"] == "s3:ListBucket"]
    listing["Condition"] = {"StringLike": {"s3:prefix": [f"{PREFIX}/*", PREFIX]}}
    io = _component(s3, monkeypatch, identities, write=True, policy=json.dumps(document))
    with enable_iam_authentication():
        assert io.write("first try line\n", f"s3://{BUCKET}/{PREFIX}/{LOG_PATH}") is False
    assert "Contents" not in s3.client("s3").list_objects_v2(Bucket=BUCKET)
