"""The Airflow image: its requirements equal the tested pins, its Dockerfile the pinned versions, its tag its content."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import sys
from pathlib import Path

import pytest

from infra import airflow_image, versions
from infra.airflow_image import (
    CONTEXT_PATHS,
    DATABASE_DRIVERS,
    DOCKERFILE,
    DOCKERIGNORE,
    IMAGE_REQUIREMENTS,
    PLATFORM,
    REPO_ROOT,
    build_args,
    build_inputs,
    checkout_tag,
    content_tag,
    image_requirements,
    is_airflow_distribution,
)
from infra.amis import EKS_AMI_TYPES

LOCK_TEXT = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8")
DOCKERFILE_TEXT = (REPO_ROOT / DOCKERFILE).read_text(encoding="utf-8")
TAG = re.compile(r"^3\.2\.2-[0-9a-f]{12}$")


def _pins(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("==", 1) for line in lines)


# --- The requirements: one source of truth ---------------------------------------------------------


def test_image_requirements_file_is_generated_from_the_lock():
    # Bumping a provider in requirements.in/requirements.txt without `make lock` fails here.
    assert (REPO_ROOT / IMAGE_REQUIREMENTS).read_text(encoding="utf-8") == image_requirements(LOCK_TEXT)


def test_image_requirements_are_exactly_the_airflow_and_driver_pins_of_the_lock():
    image = _pins((REPO_ROOT / IMAGE_REQUIREMENTS).read_text(encoding="utf-8"))
    lock = {
        name: version
        for name, version in _pins(LOCK_TEXT).items()
        if is_airflow_distribution(name) or name in DATABASE_DRIVERS
    }
    assert image == lock
    assert image["apache-airflow"] == versions.AIRFLOW_VERSION
    for provider in ("cncf-kubernetes", "slack", "smtp", "amazon", "fab"):
        assert f"apache-airflow-providers-{provider}" in image
    # The metadata database's drivers (sync and async engine) are the ones tests/e2e/ runs against
    # a real PostgreSQL.
    assert set(DATABASE_DRIVERS) <= set(image)


def test_image_requirements_are_the_versions_the_tests_run():
    image = _pins((REPO_ROOT / IMAGE_REQUIREMENTS).read_text(encoding="utf-8"))
    installed = {name: importlib.metadata.version(name) for name in image}
    assert installed == image


def test_other_packages_of_the_lock_stay_out_of_the_image():
    image = _pins((REPO_ROOT / IMAGE_REQUIREMENTS).read_text(encoding="utf-8"))
    assert "pulumi" not in image and "boto3" not in image and "pytest" not in image


def test_a_lock_of_another_airflow_version_is_refused():
    lock = LOCK_TEXT.replace("apache-airflow==3.2.2", "apache-airflow==3.2.3")
    with pytest.raises(ValueError) as excinfo:
        image_requirements(lock)
    assert str(excinfo.value) == (
        "requirements.txt pins apache-airflow==3.2.3 but infra/versions.py AIRFLOW_VERSION is 3.2.2: "
        "the image's base and the chart run AIRFLOW_VERSION; change both together"
    )


def test_an_airflow_distribution_without_an_exact_pin_is_refused():
    lock = LOCK_TEXT.replace("apache-airflow-providers-slack==9.11.1", "apache-airflow-providers-slack>=9.11")
    line = lock.splitlines().index("apache-airflow-providers-slack>=9.11") + 1
    with pytest.raises(ValueError) as excinfo:
        image_requirements(lock)
    assert str(excinfo.value) == (
        f"requirements.txt line {line}: 'apache-airflow-providers-slack>=9.11': expected an exact pin name==version"
    )


def test_a_lock_without_airflow_is_refused():
    with pytest.raises(ValueError, match=r"^requirements.txt pins no apache-airflow: expected apache-airflow==3.2.2$"):
        image_requirements("boto3==1.44.8\n")


def test_names_are_compared_normalised():
    text = image_requirements("Apache_Airflow==3.2.2\napache.airflow.providers.smtp==3.2.0\nsix==1.17.0\n")
    assert _pins(text) == {"Apache_Airflow": "3.2.2", "apache.airflow.providers.smtp": "3.2.0"}


def test_requirements_command_checks_and_rewrites(tmp_path):
    root = _copy_of_the_build(tmp_path)
    assert airflow_image.main(["--root", str(root), "requirements", "--check"]) == 0
    (root / IMAGE_REQUIREMENTS).write_text("apache-airflow==3.2.2\n", encoding="utf-8")
    assert airflow_image.main(["--root", str(root), "requirements", "--check"]) == 1
    assert airflow_image.main(["--root", str(root), "requirements"]) == 0
    assert (root / IMAGE_REQUIREMENTS).read_text(encoding="utf-8") == image_requirements(LOCK_TEXT)


def test_build_args_command(capsys):
    assert airflow_image.main(["build-args"]) == 0
    assert capsys.readouterr().out == (
        "--platform linux/amd64 --build-arg AIRFLOW_VERSION=3.2.2 --build-arg PYTHON_VERSION=3.11\n"
    )


# --- The Dockerfile ---------------------------------------------------------------------------------


def _arg_defaults() -> dict[str, str]:
    before_from = DOCKERFILE_TEXT.split("\nFROM ", 1)[0]
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", before_from, flags=re.M))


def _instructions() -> list[str]:
    """Instructions with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE_TEXT)
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_base_defaults_are_the_pinned_versions():
    assert _arg_defaults() == build_args() == {"AIRFLOW_VERSION": versions.AIRFLOW_VERSION, "PYTHON_VERSION": "3.11"}
    (base,) = re.findall(r"^FROM (\S+)$", DOCKERFILE_TEXT, flags=re.M)
    resolved = base.replace("${AIRFLOW_VERSION}", versions.AIRFLOW_VERSION).replace(
        "${PYTHON_VERSION}", versions.AIRFLOW_PYTHON_VERSION
    )
    assert resolved == f"{versions.AIRFLOW_BASE_IMAGE_REPOSITORY}:{versions.AIRFLOW_BASE_IMAGE_TAG}"
    assert resolved == "apache/airflow:3.2.2-python3.11"


def test_the_image_python_is_the_test_python():
    assert versions.AIRFLOW_PYTHON_VERSION == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_dockerfile_installs_the_pins_as_the_airflow_user_without_cache():
    steps = _instructions()
    users = [i for i, step in enumerate(steps) if step.startswith("USER ")]
    (install,) = [i for i, step in enumerate(steps) if step.startswith("RUN ") and "pip install" in step]
    assert [steps[i] for i in users] == ["USER airflow"] and users[0] < install
    assert "--no-cache-dir" in steps[install]
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in steps[install]
    assert "-r /tmp/batch-platform-requirements.txt" in steps[install]
    assert "pip check" in steps[install]
    assert f"COPY --chown=airflow:0 {IMAGE_REQUIREMENTS} /tmp/batch-platform-requirements.txt" in steps


def test_dockerfile_ships_the_plugin_in_airflows_default_plugins_folder():
    assert "COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/" in _instructions()


def test_dockerfile_installs_the_dag_library_with_the_pins():
    steps = _instructions()
    assert "COPY --chown=airflow:0 images/airflow/library/pyproject.toml /tmp/batch-platform-library/pyproject.toml" in steps
    assert "COPY --chown=airflow:0 dags/batch_platform/ /tmp/batch-platform-library/batch_platform/" in steps
    (install,) = [step for step in steps if step.startswith("RUN ") and "pip install" in step]
    # One resolution with the pins, so pip check also covers the library's dependencies.
    assert "/tmp/batch-platform-library" in install and install.index("pip install") < install.index("pip check")


def test_the_library_is_built_with_the_setuptools_of_the_lock():
    import tomllib

    project = tomllib.loads((REPO_ROOT / "images/airflow/library/pyproject.toml").read_text(encoding="utf-8"))
    (requirement,) = project["build-system"]["requires"]
    assert requirement == f"setuptools=={_pins(LOCK_TEXT)['setuptools']}" == f"setuptools=={importlib.metadata.version('setuptools')}"
    assert project["tool"]["setuptools"]["packages"] == ["batch_platform"]


def test_dockerfile_labels_the_source_revision():
    steps = _instructions()
    label = next(step for step in steps if step.startswith("LABEL "))
    assert 'org.opencontainers.image.revision="${SOURCE_REVISION}"' in label
    assert "ARG SOURCE_REVISION=unknown" in steps


def test_no_secret_goes_into_the_image():
    names = re.findall(r"^(?:ARG|ENV)\s+(\w+)", DOCKERFILE_TEXT, flags=re.M)
    assert names and not [n for n in names if re.search(r"PASSWORD|SECRET|TOKEN|KEY|CREDENTIAL", n, re.I)]
    # Only the requirements and the plugin enter the build context: never .env files or kubeconfigs.
    assert _context_allowlist() == list(CONTEXT_PATHS)


def _context_allowlist() -> list[str]:
    text = (REPO_ROOT / DOCKERIGNORE).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*", "the ignore file must start by excluding everything"
    return [line[1:] for line in lines if line.startswith("!")]


def test_dockerignore_drops_what_the_tag_ignores():
    lines = (REPO_ROOT / DOCKERIGNORE).read_text(encoding="utf-8").splitlines()
    assert [f"**/{d}" for d in airflow_image.IGNORED_DIRS] == [l for l in lines if l.startswith("**/") and "." not in l]
    assert [f"**/*{s}" for s in airflow_image.IGNORED_SUFFIXES] == [l for l in lines if l.startswith("**/*.")]


def test_the_image_platform_is_the_nodes_architecture():
    assert all("x86_64" in ami_type for ami_type in EKS_AMI_TYPES.values())
    assert PLATFORM == "linux/amd64"


# --- The content tag ----------------------------------------------------------------------------------


def _copy_of_the_build(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for path in (DOCKERFILE, DOCKERIGNORE, IMAGE_REQUIREMENTS, "requirements.txt"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / path, root / path)
    for tree in airflow_image.TREES:
        shutil.copytree(REPO_ROOT / tree, root / tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def test_checkout_tag_has_the_airflow_version_and_twelve_hex_digits():
    assert TAG.match(checkout_tag())


def test_tag_is_stable_for_the_same_content(tmp_path):
    root = _copy_of_the_build(tmp_path)
    assert content_tag(build_inputs(root), build_args()) == checkout_tag() == checkout_tag()


def test_inputs_are_the_dockerfile_ignore_file_requirements_library_and_plugins():
    trees = ("images/airflow/library", "dags/batch_platform", "plugins")
    assert airflow_image.TREES == trees
    files = [p for tree in trees for p in (REPO_ROOT / tree).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sorted(build_inputs()) == sorted(
        [DOCKERFILE, DOCKERIGNORE, IMAGE_REQUIREMENTS] + [p.relative_to(REPO_ROOT).as_posix() for p in files]
    )
    assert "dags/batch_platform/timetable.py" in build_inputs()
    assert "images/airflow/library/pyproject.toml" in build_inputs()


def test_dags_specs_are_not_image_inputs():
    # Job specs ship by git-sync: changing one must not need a new image.
    assert not [path for path in build_inputs() if path.startswith("dags/jobs/")]


@pytest.mark.parametrize(
    "path",
    [DOCKERFILE, DOCKERIGNORE, IMAGE_REQUIREMENTS, "plugins/batch_platform_plugin.py",
     "dags/batch_platform/factory.py", "images/airflow/library/pyproject.toml"],
)
def test_tag_changes_when_any_input_changes(tmp_path, path):
    root = _copy_of_the_build(tmp_path)
    before = content_tag(build_inputs(root), build_args())
    with (root / path).open("a", encoding="utf-8") as handle:
        handle.write("\n# changed\n")
    after = content_tag(build_inputs(root), build_args())
    assert TAG.match(after) and after != before


def test_tag_changes_when_a_plugin_is_added_or_renamed(tmp_path):
    root = _copy_of_the_build(tmp_path)
    tags = {content_tag(build_inputs(root), build_args())}
    (root / "plugins" / "helpers").mkdir()
    (root / "plugins" / "helpers" / "extra.py").write_text("X = 1\n", encoding="utf-8")
    tags.add(content_tag(build_inputs(root), build_args()))
    (root / "plugins" / "helpers" / "extra.py").rename(root / "plugins" / "helpers" / "other.py")
    tags.add(content_tag(build_inputs(root), build_args()))
    assert len(tags) == 3


def test_tag_ignores_bytecode(tmp_path):
    root = _copy_of_the_build(tmp_path)
    before = content_tag(build_inputs(root), build_args())
    (root / "plugins" / "__pycache__").mkdir()
    (root / "plugins" / "__pycache__" / "batch_platform_plugin.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (root / "plugins" / "stray.pyc").write_bytes(b"\x00bytecode")
    assert content_tag(build_inputs(root), build_args()) == before


def test_tag_changes_with_the_build_arguments():
    inputs = build_inputs()
    assert content_tag(inputs, build_args(python_version="3.12")) != content_tag(inputs, build_args())
    assert content_tag(inputs, build_args(airflow_version="3.2.3")).startswith("3.2.3-")


def test_missing_image_file_is_an_error(tmp_path):
    root = _copy_of_the_build(tmp_path)
    (root / DOCKERFILE).unlink()
    with pytest.raises(FileNotFoundError):
        build_inputs(root)
