"""The DAG folder as Airflow sees it: real DagBag, real operators, per-file import errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.airflow_env import DAGS_FOLDER


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER), include_examples=False)


def test_every_example_spec_loads_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    specs = sorted(p.stem for p in (DAGS_FOLDER / "jobs").glob("*.yaml"))
    assert sorted(dagbag.dag_ids) == specs
    assert len(specs) >= 3


def test_every_spec_has_its_dag_file():
    for spec in (DAGS_FOLDER / "jobs").glob("*.yaml"):
        assert spec.with_suffix(".py").exists(), f"{spec.name} has no DAG file beside it"


def test_example_dag_shape(dagbag):
    from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
    from airflow.sdk import CronTriggerTimetable

    dag = dagbag.dags["finance.ledger-export"]  # get_dag() would ask the metadata DB
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "finance/nightly/ledger-export" in dag.doc_md
    assert isinstance(dag.timetable, CronTriggerTimetable)
    run = dag.get_task("run")
    assert isinstance(run, KubernetesJobOperator)
    assert run.wait_until_job_complete is True
    assert run.backoff_limit == 0
    assert run.retries == 2
    assert dag.get_task("trigger_finance_ledger_reconcile").trigger_dag_id == "finance.ledger-reconcile"
    assert dag.on_failure_callback  # the Slack notifier


def _copy_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(DAGS_FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


BAD_SPECS = {
    "unknown-field": (
        "name: unknown-field\nimage: img:1\ncommand: [run]\nretrys: 3\n",
        ["unknown-field.yaml", "field 'retrys'", "unknown field"],
    ),
    "bad-cron": (
        "name: bad-cron\nimage: img:1\ncommand: [run]\nschedule:\n  cron: ['H 25 * * *']\n",
        ["bad-cron.yaml", "schedule", "'25'", "hour"],
    ),
    "missing-image": (
        "name: missing-image\ncommand: [run]\n",
        ["missing-image.yaml", "field 'image'", "required"],
    ),
    "bad-yaml": (
        "name: bad-yaml\nimage: [unclosed\n",
        ["bad-yaml.yaml", "not valid YAML", "line"],
    ),
    "wrong-type": (
        "name: wrong-type\nimage: img:1\ncommand: [run]\nretries: many\n",
        ["wrong-type.yaml", "field 'retries'", "'many'", "integer"],
    ),
}


@pytest.fixture(scope="module")
def broken_dagbag(tmp_path_factory):
    from airflow.dag_processing.dagbag import DagBag
    from batch_platform.factory import dag_file_text

    folder = _copy_folder(tmp_path_factory.mktemp("broken"))
    for name, (text, _) in BAD_SPECS.items():
        (folder / "jobs" / f"{name}.yaml").write_text(text)
        (folder / "jobs" / f"{name}.py").write_text(dag_file_text(name))
    return DagBag(dag_folder=str(folder), include_examples=False), folder


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_a_bad_spec_is_the_import_error_of_its_own_dag_file(broken_dagbag, name):
    bag, folder = broken_dagbag
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert f"{name}.py" in errors
    for fragment in BAD_SPECS[name][1]:
        assert fragment in errors[f"{name}.py"], (fragment, errors[f"{name}.py"])


def test_bad_specs_hide_no_other_dag(broken_dagbag):
    bag, folder = broken_dagbag
    assert len(bag.import_errors) == len(BAD_SPECS)
    good = sorted(p.stem for p in (DAGS_FOLDER / "jobs").glob("*.yaml"))
    assert sorted(bag.dag_ids) == good


def test_dag_files_are_the_standard_text():
    """Every DAG file in dags/jobs is exactly the generated stub, so none hides custom code."""
    from batch_platform.dag_file import dag_file_text

    for dag_file in (DAGS_FOLDER / "jobs").glob("*.py"):
        assert dag_file.read_text() == dag_file_text(dag_file.stem), dag_file.name


def test_library_code_is_not_parsed_as_dag_files(dagbag):
    """dags/.airflowignore keeps Airflow from importing batch_platform/*.py as DAG files."""
    parsed = [Path(p).relative_to(DAGS_FOLDER).parts[0] for p in dagbag.file_last_changed]
    assert set(parsed) == {"jobs"}
