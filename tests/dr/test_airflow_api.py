"""The Airflow REST API client against a local fake server, and the fake against Airflow's own OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

import airflow.api_fastapi.core_api.openapi as openapi_package
from stacks.dr.airflow_api import (
    UNFINISHED_TASK_STATES,
    AirflowApi,
    AirflowApiError,
    Credentials,
    TaskLog,
    TaskLogRef,
    parse_task_log,
)

from tests.dr.fake_airflow import AirflowState, FakeAirflow, _log_response, log_key

SPEC_PATH = Path(openapi_package.__file__).parent / "v2-rest-api-generated.yaml"


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


@pytest.fixture
def api(airflow) -> AirflowApi:
    return AirflowApi(airflow.url, Credentials(username=airflow.state.username, password=airflow.state.password))


def test_health_is_public_and_parsed(airflow):
    health = AirflowApi(airflow.url, None).health()
    assert health.healthy is True
    assert health.summary == "metadatabase=healthy scheduler=healthy triggerer=n/a dag_processor=healthy"
    airflow.state.unhealthy_polls = 1
    assert AirflowApi(airflow.url, None).health().healthy is False


def test_calls_authenticate_once_with_a_bearer_token(api, airflow):
    assert api.dag_run_count() == 42
    assert api.dag_run_count() == 42
    posts = [r for r in airflow.state.requests if r.path == "/auth/token"]
    assert len(posts) == 1
    runs = [r for r in airflow.state.requests if r.path == "/api/v2/dags/~/dagRuns"]
    assert all(r.authorization and r.authorization.startswith("Bearer ") for r in runs)
    assert runs[0].query == {"limit": ["1"]}


def test_an_expired_token_is_renewed_once(api, airflow):
    api.dag_run_count()
    airflow.state.tokens.clear()  # the server forgot the token (expired)
    assert api.dag_run_count() == 42
    assert len([r for r in airflow.state.requests if r.path == "/auth/token"]) == 2


def test_a_given_token_is_used_as_is(airflow):
    airflow.state.tokens.add("pre-issued")
    api = AirflowApi(airflow.url, Credentials(token="pre-issued"))
    assert api.dag_run_count() == 42
    assert not [r for r in airflow.state.requests if r.path == "/auth/token"]


def test_wrong_credentials_fail_without_showing_them(airflow):
    api = AirflowApi(airflow.url, Credentials(username="dr-operator", password="wrong-password"))
    with pytest.raises(AirflowApiError) as caught:
        api.dag_run_count()
    assert caught.value.status == 401
    assert "wrong-password" not in str(caught.value)
    assert "wrong-password" not in repr(Credentials(username="u", password="wrong-password"))


def test_missing_credentials_say_where_to_put_them(airflow):
    with pytest.raises(AirflowApiError, match="AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD"):
        AirflowApi(airflow.url, None).dag_run_count()


def test_variable_create_then_overwrite_then_read(api, airflow):
    assert api.put_variable("dr_rehearsal_canary", "v1", "canary") is True
    assert api.put_variable("dr_rehearsal_canary", "v2", "canary") is True  # 409 -> PATCH
    assert [(r.method, r.path) for r in airflow.state.requests if "variables" in r.path] == [
        ("POST", "/api/v2/variables"),
        ("POST", "/api/v2/variables"),
        ("PATCH", "/api/v2/variables/dr_rehearsal_canary"),
    ]
    assert api.get_variable("dr_rehearsal_canary") == "v2"
    assert api.get_variable("absent") is None


def test_a_variable_encrypted_with_a_lost_key_is_an_error(api, airflow):
    api.put_variable("dr_rehearsal_canary", "v1", "canary")
    airflow.state.lose_fernet_key()
    with pytest.raises(AirflowApiError, match="HTTP 500"):
        api.get_variable("dr_rehearsal_canary")


LOG = '{"timestamp": "2025-01-01T00:00:01Z", "level": "info", "event": "Starting java -jar app.jar"}\n{"timestamp": "2025-01-01T00:03:10Z", "level": "info", "event": "COMPLETED"}\n'


def test_latest_finished_task_and_its_log_content_without_the_source_header(api, airflow):
    # the log endpoint's answer is made by Airflow's own FileTaskHandler over a remote store
    objects = {log_key("payroll_export", "scheduled__2025-01-01T00:00:00+00:00", "run_job", 1): LOG}
    airflow.state.read_remote = objects.get
    ref = api.latest_finished_task()
    assert ref == TaskLogRef("payroll_export", "scheduled__2025-01-01T00:00:00+00:00", "run_job", 1, -1)
    log = api.task_log(ref)
    assert log.lines == 2 and api.task_log_lines(ref) == 2
    assert len(log.sources) == 1 and log.sources[0].startswith("s3://")
    log_request = airflow.state.requests[-1]
    assert log_request.path == "/api/v2/dags/payroll_export/dagRuns/scheduled__2025-01-01T00%3A00%3A00%2B00%3A00/taskInstances/run_job/logs/1"
    airflow.state.task_instances = []
    assert api.latest_finished_task() is None


def test_a_log_whose_object_is_gone_has_a_header_and_no_content(api, airflow):
    airflow.state.read_remote = lambda key: None
    ref = TaskLogRef("payroll_export", "scheduled__2025-01-01T00:00:00+00:00", "run_job", 1, -1)
    raw = airflow.state.requests
    log = api.task_log(ref)
    assert log.lines == 0
    assert any(source.startswith("No logs found on s3") for source in log.sources)
    assert raw  # the answer itself is not empty: Airflow's header is there
    body = _log_response(airflow.state, "payroll_export", "scheduled__2025-01-01T00:00:00+00:00", "run_job", 1)
    assert len(body["content"]) >= 3 and body["content"][0]["event"] == "::group::Log message source details"


def test_parse_task_log_counts_content_lines_only():
    assert parse_task_log([]) == TaskLog(0, ())
    assert parse_task_log([{"event": "plain line"}, {"event": " "}]) == TaskLog(1, ())
    assert parse_task_log(["::group::Log message source details", "src", "::endgroup::", "a", "b"]) == TaskLog(2, ("src",))


def test_dags_are_listed_page_by_page_and_paused_one_by_one(api, airflow):
    airflow.state.dags = {f"dag_{i:03d}": {"is_paused": i % 2 == 0, "last_parsed_time": None, "bundle_name": "dags-folder", "bundle_version": None} for i in range(130)}
    dags = api.dags()
    assert [d.dag_id for d in dags] == sorted(airflow.state.dags) and len(dags) == 130
    assert [r.query.get("offset") for r in airflow.state.requests if r.path == "/api/v2/dags"] == [["0"], ["100"]]
    api.set_paused("dag_001", True)
    assert airflow.state.dags["dag_001"]["is_paused"] is True
    patch = airflow.state.requests[-1]
    assert (patch.method, patch.query, patch.body) == ("PATCH", {"update_mask": ["is_paused"]}, {"is_paused": True})


def test_unfinished_task_instances_ask_for_every_unfinished_state(api, airflow):
    airflow.state.running_polls = 1
    total, items = api.unfinished_task_instances()
    assert total == 1 and items[0]["state"] == "running"
    assert airflow.state.requests[-1].query["state"] == list(UNFINISHED_TASK_STATES)
    assert api.unfinished_task_instances() == (0, [])


def test_connect_host_reaches_the_server_under_another_name(airflow):
    # a recreated stack: the UI hostname's record still points at the old load balancer; the
    # client connects to the new one and still sends the hostname (Host header, TLS server name)
    port = airflow.server.server_address[1]
    api = AirflowApi(f"http://airflow.batch.example.internal:{port}", None, connect_host="127.0.0.1")
    assert api.health().healthy
    seen = []
    original = airflow.server.RequestHandlerClass.do_GET

    def record(handler):
        seen.append(handler.headers["Host"])
        original(handler)

    airflow.server.RequestHandlerClass.do_GET = record
    try:
        api.health()
    finally:
        airflow.server.RequestHandlerClass.do_GET = original
    assert seen == [f"airflow.batch.example.internal:{port}"]


def test_an_unreachable_server_is_a_clear_error():
    api = AirflowApi("http://127.0.0.1:9", None)  # discard port: nothing listens
    with pytest.raises(AirflowApiError, match="cannot reach http://127.0.0.1:9"):
        api.health()


def test_the_url_must_be_http():
    with pytest.raises(AirflowApiError, match="must start with http"):
        AirflowApi("airflow.internal:8080", None)


def test_credentials_from_env_and_secret():
    assert Credentials.from_env({"AIRFLOW_API_TOKEN": "t"}) == Credentials(token="t")
    assert Credentials.from_env({"AIRFLOW_API_USERNAME": "u", "AIRFLOW_API_PASSWORD": "p"}) == Credentials("u", "p")
    assert Credentials.from_env({"AIRFLOW_API_USERNAME": "u"}) is None
    assert Credentials.from_secret('{"username": "u", "password": "p"}') == Credentials("u", "p")
    with pytest.raises(AirflowApiError, match="must be JSON"):
        Credentials.from_secret("u:p")


# -- the client and the fake follow Airflow 3.2's OpenAPI document --------------------------------


def _operation(spec: dict, method: str, path: str) -> dict | None:
    if path == "/auth/token":
        return {"parameters": []}  # served by the auth manager's own app, not in the core API document
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    return None


def test_every_call_uses_a_path_and_parameters_of_the_openapi_document(api, airflow, spec):
    api.health()
    api.dag_run_count()
    api.put_variable("k", "v", "d")
    api.put_variable("k", "v", "d")
    api.get_variable("k")
    api.task_log_lines(api.latest_finished_task())
    api.dags()
    api.set_paused("payroll_export", True)
    api.unfinished_task_instances()
    assert len(airflow.state.requests) >= 11
    for request in airflow.state.requests:
        operation = _operation(spec, request.method, request.path)
        assert operation is not None, f"{request.method} {request.path} is not in the OpenAPI document"
        known = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        assert set(request.query) <= known, (request.path, set(request.query) - known)


@pytest.mark.parametrize(
    ("method", "path", "schema"),
    [
        ("GET", "/api/v2/monitor/health", "HealthInfoResponse"),
        ("GET", "/api/v2/dags/~/dagRuns", "DAGRunCollectionResponse"),
        ("POST", "/api/v2/variables", "VariableResponse"),
        ("GET", "/api/v2/variables/k", "VariableResponse"),
        ("GET", "/api/v2/dags/~/dagRuns/~/taskInstances", None),
        ("GET", "/api/v2/dags/d/dagRuns/r/taskInstances/t/logs/1", "TaskInstancesLogResponse"),
        ("GET", "/api/v2/dags", "DAGCollectionResponse"),
        ("PATCH", "/api/v2/dags/payroll_export", "DAGResponse"),
    ],
)
def test_the_fake_answers_in_the_documented_shapes(spec, method, path, schema):
    fake = FakeAirflow(AirflowState())
    fake.state.tokens.add("t")
    body = {"key": "k", "value": "v"} if method == "POST" else {"is_paused": True} if method == "PATCH" else None
    query = {"update_mask": ["is_paused"]} if method == "PATCH" else {}
    if path.endswith("/variables/k"):
        fake._answer("POST", "/api/v2/variables", {}, "Bearer t", {"key": "k", "value": "v"})
    status, answer = fake._answer(method, path, query, "Bearer t", body)
    fake.server.server_close()
    assert status in (200, 201)
    if schema is None:  # task instances: check the fields the client reads against the item schema
        item_props = spec["components"]["schemas"]["TaskInstanceResponse"]["properties"]
        assert set(answer["task_instances"][0]) <= set(item_props)
        return
    root = {**spec, "$ref": f"#/components/schemas/{schema}"}
    jsonschema.validate(answer, root)
