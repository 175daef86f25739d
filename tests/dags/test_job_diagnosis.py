"""Why a Job failed, read from Kubernetes objects shaped as the API server returns them.

The objects are JSON documents as ``kubectl get -o json`` prints them (messages as the admission
controller, the scheduler, the kubelet and the Job controller write them), turned into client models
by the kubernetes client's own deserializer; the end-to-end test serves them from a local HTTP
server and reads them through the real client, selectors included.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client as k8s

from batch_platform import job_diagnosis as jd

NS = "batch-jobs"
JOB = "team-a-nightly-export-x7k2p"
POD = f"{JOB}-9zq4d"
T0 = "2026-12-01T19:00:00Z"

PSA_MESSAGE = (
    f'Error creating: pods "{JOB}-abcde" is forbidden: violates PodSecurity "restricted:v1.35": '
    'allowPrivilegeEscalation != false (container "base" must set securityContext.allowPrivilegeEscalation=false), '
    'unrestricted capabilities (container "base" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "base" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "base" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
)
QUOTA_MESSAGE = (
    f'Error creating: pods "{JOB}-fghij" is forbidden: exceeded quota: batch-jobs, requested: limits.memory=64Gi, '
    "used: limits.memory=0, limited: limits.memory=32Gi"
)
UNSCHEDULABLE = (
    "0/5 nodes are available: 2 node(s) had untolerated taint {workload: system}, 3 Insufficient memory. "
    "preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod."
)


def model(data, kind):
    return k8s.ApiClient()._ApiClient__deserialize(data, kind)


def job_json(conditions=(), active=0, failed=0):
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": JOB, "namespace": NS, "uid": "7d1c", "creationTimestamp": T0,
                     "labels": {"batch.platform/job": "team-a.nightly.export"}},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 3600, "template": {"spec": {"containers": [{"name": "base", "image": "x"}]}}},
        "status": {"active": active, "failed": failed, "startTime": T0, "conditions": list(conditions)},
    }


def condition(type_, reason, message, status="True"):
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastProbeTime": T0, "lastTransitionTime": T0}


def event(kind, name, reason, message, count=1, type_="Warning", at=T0, source="job-controller"):
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.18a2f", "namespace": NS, "creationTimestamp": at},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS, "apiVersion": "batch/v1" if kind == "Job" else "v1"},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": at,
        "lastTimestamp": at,
        "source": {"component": source},
        "reportingComponent": source,
    }


def pod_json(phase="Pending", conditions=(), container_statuses=None, reason=None, message=None):
    status = {"phase": phase, "conditions": list(conditions), "qosClass": "Burstable"}
    if container_statuses is not None:
        status["containerStatuses"] = container_statuses
    if reason:
        status["reason"], status["message"] = reason, message
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": NS, "creationTimestamp": T0,
                     "labels": {jd.JOB_NAME_LABEL: JOB, "job-name": JOB}},
        "spec": {"containers": [{"name": "base", "image": "registry.example.com/export:1.4"}]},
        "status": status,
    }


def container_status(state, last_state=None, name="base"):
    return {"name": name, "image": "registry.example.com/export:1.4", "imageID": "", "ready": False,
            "restartCount": 0, "state": state, "lastState": last_state or {}}


def test_admission_refusal_is_named_with_the_admission_message():
    job = model(job_json(), "V1Job")
    events = [model(event("Job", JOB, "FailedCreate", PSA_MESSAGE, count=4), "CoreV1Event")]
    found = jd.findings(job, [], events)
    assert [(f.subject, f.reason, f.count) for f in found] == [(f"Job/{JOB}", "FailedCreate", 4)]
    text = jd.render(JOB, found, 0)
    assert "0 pod(s) created" in text
    assert 'violates PodSecurity "restricted:v1.35"' in text and "(x4)" in text


def test_quota_refusal_and_deadline_both_show():
    job = model(job_json([condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")]), "V1Job")
    events = [model(event("Job", JOB, "FailedCreate", QUOTA_MESSAGE, count=12), "CoreV1Event")]
    reasons = [f.reason for f in jd.findings(job, [], events)]
    assert reasons == ["DeadlineExceeded", "FailedCreate"]
    assert "exceeded quota: batch-jobs" in jd.render(JOB, jd.findings(job, [], events), 0)


def test_unschedulable_pod_from_its_condition_and_the_schedulers_event():
    pod = model(pod_json(conditions=[condition("PodScheduled", "Unschedulable", UNSCHEDULABLE, status="False")]), "V1Pod")
    events = [model(event("Pod", POD, "FailedScheduling", UNSCHEDULABLE, count=3, source="default-scheduler"), "CoreV1Event")]
    found = jd.findings(model(job_json(active=1), "V1Job"), [pod], events)
    assert [(f.subject, f.reason) for f in found] == [(f"Pod/{POD}", "Unschedulable"), (f"Pod/{POD}", "FailedScheduling")]
    assert "3 Insufficient memory" in found[0].message


def test_oom_killed_container_says_what_to_change():
    statuses = [container_status({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": T0, "finishedAt": T0}})]
    pod = model(pod_json(phase="Failed", container_statuses=statuses), "V1Pod")
    job = model(job_json([condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")], failed=1), "V1Job")
    found = jd.findings(job, [pod], [])
    assert [(f.subject, f.reason) for f in found] == [
        (f"Job/{JOB}", "BackoffLimitExceeded"),
        (f"Pod/{POD}/base", "OOMKilled"),
    ]
    assert "exit code 137" in found[1].message and "resources.limits.memory" in found[1].message


def test_image_pull_back_off():
    statuses = [container_status({"waiting": {"reason": "ImagePullBackOff",
                                              "message": 'Back-off pulling image "registry.example.com/export:1.4"'}})]
    pod = model(pod_json(container_statuses=statuses), "V1Pod")
    events = [model(event("Pod", POD, "Failed", 'Failed to pull image "registry.example.com/export:1.4": not found',
                          source="kubelet"), "CoreV1Event")]
    found = jd.findings(None, [pod], events)
    assert [f.reason for f in found] == ["ImagePullBackOff", "Failed"]


def test_evicted_pod_and_normal_events_are_left_out():
    pod = model(pod_json(phase="Failed", reason="Evicted", message="The node was low on resource: memory."), "V1Pod")
    events = [model(event("Pod", POD, "Scheduled", "Successfully assigned", type_="Normal"), "CoreV1Event")]
    found = jd.findings(None, [pod], events)
    assert [(f.reason, f.message) for f in found] == [("Evicted", "The node was low on resource: memory.")]


def test_a_job_with_no_reason_says_so():
    assert "no reason" in jd.render(JOB, [], 1)


def test_platform_metric_names_are_the_ones_the_alarms_read():
    from infra.alarms import JOB_FAILURE_METRIC, JOB_WITHOUT_PODS_METRIC

    assert (jd.JOB_FAILED_METRIC, jd.JOB_WITHOUT_PODS_METRIC) == (JOB_FAILURE_METRIC, JOB_WITHOUT_PODS_METRIC)


# --- end to end: the real client against a local API server -----------------------------------------


class FakeApi(BaseHTTPRequestHandler):
    objects: dict = {}
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        type(self).requests.append((url.path, query))
        if url.path == f"/apis/batch/v1/namespaces/{NS}/jobs/{JOB}":
            body = self.objects["job"]
        elif url.path == f"/api/v1/namespaces/{NS}/pods":
            assert query["labelSelector"] == f"{jd.JOB_NAME_LABEL}={JOB}"
            body = {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": self.objects["pods"]}
        elif url.path == f"/api/v1/namespaces/{NS}/events":
            wanted = dict(part.split("=") for part in query["fieldSelector"].split(","))
            items = [
                e for e in self.objects["events"]
                if e["involvedObject"]["kind"] == wanted["involvedObject.kind"]
                and e["involvedObject"]["name"] == wanted.get("involvedObject.name", e["involvedObject"]["name"])
            ]
            body = {"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": items}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeApi.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class FakeTI:
    task_id = "run"
    # A real task instance has it; the failure messages link to it (dags/batch_platform/factory.py).
    log_url = "https://airflow.example/dags/team-a.nightly.export/runs/r/tasks/run?try_number=1"

    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value

    def xcom_pull(self, task_ids, key):
        return {"job_name": JOB, "job_namespace": NS}.get(key)


class Operator:
    """What the hook needs from the operator: its Kubernetes hook, its logger, maybe its Job."""

    def __init__(self, host):
        configuration = k8s.Configuration(host=host)
        api = k8s.ApiClient(configuration)
        self.hook = type("Hook", (), {"core_v1_client": k8s.CoreV1Api(api), "batch_v1_client": k8s.BatchV1Api(api)})()
        self.log = logging.getLogger("airflow.task")


@pytest.fixture
def statsd(monkeypatch):
    from airflow.sdk.observability.metrics.statsd_logger import get_statsd_logger
    from airflow.sdk.observability.stats import Stats

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(sock.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW__METRICS__METRICS_ALLOW_LIST", "^batch_platform\\.")
    Stats.initialize(factory=get_statsd_logger)

    def received():
        lines = []
        while True:
            try:
                lines += sock.recvfrom(65535)[0].decode().splitlines()
            except socket.timeout:
                return lines

    yield received
    Stats.initialize(factory=None)
    sock.close()


def test_the_hook_reads_the_cluster_logs_the_reason_and_keeps_it_for_the_notification(api_server, statsd, caplog):
    FakeApi.objects = {
        "job": job_json([condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")]),
        "pods": [],
        "events": [event("Job", JOB, "FailedCreate", PSA_MESSAGE, count=7)],
    }
    ti = FakeTI()
    with caplog.at_level(logging.ERROR, logger="airflow.task"):
        text = jd.report_job_failure(Operator(api_server), {"ti": ti})
    assert 'violates PodSecurity "restricted:v1.35"' in text and "DeadlineExceeded" in text
    assert text in caplog.text
    assert ti.pushed[jd.FAILURE_REASON_KEY] == text
    assert sorted(statsd()) == ["airflow.batch_platform.job_failed:1|c", "airflow.batch_platform.job_without_pods:1|c"]
    selectors = [q.get("fieldSelector") for p, q in FakeApi.requests if p == f"/api/v1/namespaces/{NS}/events"]
    assert selectors == [f"involvedObject.kind=Job,involvedObject.name={JOB}", "involvedObject.kind=Pod"]


def test_the_hook_asks_for_each_pods_events(api_server, statsd):
    pod = pod_json(conditions=[condition("PodScheduled", "Unschedulable", UNSCHEDULABLE, status="False")])
    FakeApi.objects = {"job": job_json(active=1), "pods": [pod],
                       "events": [event("Pod", POD, "FailedScheduling", UNSCHEDULABLE, source="default-scheduler")]}
    text = jd.report_job_failure(Operator(api_server), {"ti": FakeTI()})
    assert "1 pod(s) created" in text and "Unschedulable" in text
    assert statsd() == ["airflow.batch_platform.job_failed:1|c"]


def test_a_deleted_pods_events_still_count_and_other_jobs_pods_do_not(api_server, statsd):
    FakeApi.objects = {
        "job": job_json([condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")], failed=1),
        "pods": [],  # the pod is gone
        "events": [
            event("Pod", POD, "Evicted", "The node was low on resource: memory.", source="kubelet"),
            event("Pod", "another-job-abcde", "FailedScheduling", "not ours", source="default-scheduler"),
        ],
    }
    text = jd.report_job_failure(Operator(api_server), {"ti": FakeTI()})
    assert f"Pod/{POD}: Evicted" in text and "not ours" not in text
    # It had a pod (the Job counted one failed): not a Job without pods.
    assert statsd() == ["airflow.batch_platform.job_failed:1|c"]


def test_failed_pods_are_kept_for_the_diagnosis(dag):
    # The pod's status (OOMKilled, ImagePullBackOff) is only readable while the pod exists.
    assert dag.get_task("run").on_finish_action.value == "keep_pod"


def test_the_hook_never_raises(caplog):
    broken = Operator("http://127.0.0.1:9")  # nothing listens on the discard port
    broken.hook.core_v1_client.api_client.configuration.retries = 0
    with caplog.at_level(logging.WARNING, logger="airflow.task"):
        assert jd.report_job_failure(broken, {"ti": FakeTI()}) is None
    assert "could not read why the Job failed" in caplog.text


def test_no_job_no_diagnosis():
    class NoJob:
        task_id = "run"

        def xcom_pull(self, task_ids, key):
            return None

    assert jd.report_job_failure(Operator("http://127.0.0.1:9"), {"ti": NoJob()}) is None


# --- wiring: the factory's operator calls the hook, the notifications carry its text ----------------


@pytest.fixture(scope="module")
def dag():
    from batch_platform import settings as platform_settings
    from batch_platform.factory import build_dag
    from batch_platform.spec import parse_spec_data
    from tests.dags.test_factory import FULL_SPEC

    return build_dag(parse_spec_data(FULL_SPEC, "jobs/team-a.nightly.export.yaml"), platform_settings.load({}))


def test_the_job_task_diagnoses_on_failure_and_on_retry(dag):
    task = dag.get_task("run")
    assert jd.on_task_failure in task.on_failure_callback
    assert jd.on_task_failure in task.on_retry_callback


class ReasonTI(FakeTI):
    def xcom_pull(self, task_ids, key):
        assert task_ids == "run"
        return {jd.FAILURE_REASON_KEY: "Kubernetes Job x: 0 pod(s) created; why it failed:\n  - Job/x: FailedCreate"}.get(key)


@pytest.mark.parametrize("ti", [ReasonTI(), None], ids=["with-diagnosis", "no-task-instance"])
def test_slack_and_mail_carry_the_reason_when_there_is_one(dag, ti):
    import copy

    for notifier in dag.on_failure_callback:
        rendered = copy.copy(notifier)
        rendered.render_template_fields({"dag": dag, "run_id": "scheduled__2026-12-01T02:00:00+00:00", "ti": ti})
        text = rendered.text if hasattr(rendered, "text") else rendered.html_content
        assert "team-a.nightly.export failed" in text
        assert ("FailedCreate" in text) == (ti is not None)
        assert "None" not in text
