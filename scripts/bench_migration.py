"""Benchmark of the Jenkins migration: 1,000 generated Jenkins jobs -> specs -> Airflow DagBag.

Usage (from the repository root):  python scripts/bench_migration.py [--jobs 1000] [--keep DIR]

Prints the conversion time (floor: 5 s), the time Airflow's DagBag takes to parse the resulting DAG
folder (floor: 10 s) and the peak memory of each step. Each step runs in its own Python process so
that the figures include imports and the memory peaks do not mix. Nothing reaches the network; all
files go to a temporary directory (kept with --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONVERSION_FLOOR_S = 5.0
DAGBAG_FLOOR_S = 10.0

TEAMS = ["finance", "billing", "reporting", "ops", "marketing", "risk", "supply", "hr", "data", "search"]
TIMERS = [
    "H 2 * * *", "H H(1-4) * * 1-5", "H/15 * * * *", "@daily", "@midnight", "@hourly", "@weekly", "@monthly",
    "H 6 1 * *", "TZ=Europe/Berlin\nH 7 * * 1-5", "H 3 * * 1-5\nH 12 * * 6", "H 9 13 * 5", "30 4 * * *",
    "TZ=America/New_York\n# business days\nH(0-29) 6 * * 1-5",
]


def freestyle(rng: random.Random, name: str, team: str) -> str:
    timer = rng.choice(TIMERS)
    java = rng.random() < 0.6
    command = (
        f"java -Xmx{rng.choice([1, 2, 4])}g -jar /opt/{name}/{name}.jar --env prod --build $BUILD_NUMBER"
        if java
        else f"cd \"$WORKSPACE\"\n./run-{name}.sh --date \"$(date +%F)\" --region $REGION"
    )
    downstream = (
        f"<hudson.tasks.BuildTrigger><childProjects>{name}-report</childProjects>"
        "<threshold><name>SUCCESS</name></threshold></hudson.tasks.BuildTrigger>"
        if rng.random() < 0.2 else ""
    )
    return textwrap.dedent(f"""\
        <?xml version='1.1' encoding='UTF-8'?>
        <project>
          <description>{team} batch job {name}</description>
          <properties>
            <hudson.model.ParametersDefinitionProperty><parameterDefinitions>
              <hudson.model.StringParameterDefinition><name>REGION</name><defaultValue>emea</defaultValue></hudson.model.StringParameterDefinition>
              <hudson.model.BooleanParameterDefinition><name>DRY_RUN</name><defaultValue>false</defaultValue></hudson.model.BooleanParameterDefinition>
              <hudson.model.ChoiceParameterDefinition><name>MODE</name><choices class="java.util.Arrays$ArrayList"><a class="string-array"><string>incremental</string><string>full</string></a></choices></hudson.model.ChoiceParameterDefinition>
              <hudson.model.PasswordParameterDefinition><name>DB_PASSWORD</name><defaultValue>{{AQAAABAAAAAQ1UuHZVsxAbD6MBRnbOnlm3a5vTS7}}</defaultValue></hudson.model.PasswordParameterDefinition>
            </parameterDefinitions></hudson.model.ParametersDefinitionProperty>
          </properties>
          <scm class="hudson.scm.NullSCM"/>
          <assignedNode>linux</assignedNode>
          <disabled>{str(rng.random() < 0.05).lower()}</disabled>
          <triggers><hudson.triggers.TimerTrigger><spec>{timer}</spec></hudson.triggers.TimerTrigger></triggers>
          <concurrentBuild>{str(rng.random() < 0.1).lower()}</concurrentBuild>
          <builders><hudson.tasks.Shell><command>{command.replace('&', '&amp;').replace('<', '&lt;')}</command></hudson.tasks.Shell></builders>
          <publishers>
            {downstream}
            <hudson.tasks.Mailer><recipients>{team}-oncall@example.com</recipients></hudson.tasks.Mailer>
            <jenkins.plugins.slack.SlackNotifier><room>#{team}-batch</room><notifyFailure>true</notifyFailure></jenkins.plugins.slack.SlackNotifier>
            <hudson.plugins.naginator.NaginatorPublisher><maxSchedule>{rng.randint(0, 3)}</maxSchedule><delay class="hudson.plugins.naginator.FixedDelay"><delay>120</delay></delay></hudson.plugins.naginator.NaginatorPublisher>
          </publishers>
          <buildWrappers>
            <hudson.plugins.build__timeout.BuildTimeoutWrapper><strategy class="hudson.plugins.build_timeout.impl.AbsoluteTimeOutStrategy"><timeoutMinutes>{rng.choice([15, 30, 60, 120])}</timeoutMinutes></strategy></hudson.plugins.build__timeout.BuildTimeoutWrapper>
          </buildWrappers>
        </project>
        """).lstrip()  # the multi-line command defeats dedent; the declaration must come first


def pipeline(rng: random.Random, name: str) -> str:
    script = textwrap.dedent(f"""\
        pipeline {{
            agent any
            triggers {{ cron('{rng.choice(TIMERS[:9])}') }}
            options {{ timeout(time: {rng.choice([20, 45, 90])}, unit: 'MINUTES'); retry(2); disableConcurrentBuilds() }}
            parameters {{ string(name: 'TARGET', defaultValue: 'prod', description: 'where') }}
            stages {{
                stage('Run') {{ steps {{ sh 'java -jar /app/{name}.jar --target "$TARGET"' }} }}
            }}
            post {{ failure {{ mail to: 'oncall@example.com', subject: 'failed', body: 'see log' }} }}
        }}""")
    script = script.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        "<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition>\n"
        f"  <description>pipeline {name}</description>\n"
        '  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition">\n'
        f"    <script>{script}</script>\n    <sandbox>true</sandbox>\n  </definition>\n"
        "  <disabled>false</disabled>\n</flow-definition>\n"
    )


def generate(root: Path, count: int, seed: int = 42) -> Path:
    """A Jenkins jobs/ tree with ``count`` jobs in team folders (some nested), 80% freestyle."""
    rng = random.Random(seed)
    jobs = root / "jenkins" / "jobs"
    for index in range(count):
        team = TEAMS[index % len(TEAMS)]
        name = f"{team}-job-{index:04d}"
        folder = jobs / team / "jobs"
        if index % 3 == 0:
            folder = folder / "nightly" / "jobs"
        target = folder / name
        target.mkdir(parents=True)
        text = pipeline(rng, name) if rng.random() < 0.2 else freestyle(rng, name, team)
        (target / "config.xml").write_text(text, encoding="utf-8")
    return jobs


CONVERT_CHILD = """
import json, resource, sys, time
start, cpu = time.perf_counter(), time.process_time()
from migration.cli import main
code = main(sys.argv[1:])
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "cpu_seconds": time.process_time() - cpu, "exit": code,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

DAGBAG_CHILD = """
import json, resource, sys, time
start, cpu = time.perf_counter(), time.process_time()
from airflow.dag_processing.dagbag import DagBag
imported = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
done = time.perf_counter()
print(json.dumps({"seconds": done - start, "cpu_seconds": time.process_time() - cpu,
                  "collect_seconds": done - imported, "dags": len(bag.dags),
                  "import_errors": len(bag.import_errors),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(code: str, args: list[str], env: dict[str, str]) -> dict:
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"benchmark step failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="keep the generated files in this (new) directory")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-migration-")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    try:
        jobs = generate(root, args.jobs)
        dag_folder = root / "dags"
        shutil.copytree(REPO / "dags" / "batch_platform", dag_folder / "batch_platform",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO / "dags" / ".airflowignore", dag_folder / ".airflowignore")
        home = root / "airflow-home"
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0",
            "PYTHONPATH": str(dag_folder),
        }
        conversion = run_child(CONVERT_CHILD, ["jenkins", str(jobs), "--out", str(dag_folder / "jobs"),
                                               "--report-dir", str(root / "report")], env)
        report = json.loads((root / "report" / "migration-report.json").read_text())
        dagbag = run_child(DAGBAG_CHILD, [str(dag_folder)], env)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    counts = report["summary"]
    print(f"Jenkins jobs generated:        {args.jobs}")
    print(f"Converted (incl. to review):   {counts['converted'] + counts['review']}  "
          f"(manual {counts['manual']}, failed {counts['error']}), exit status {conversion['exit']}")
    print(f"Conversion time:               {conversion['seconds']:.2f} s  (floor {CONVERSION_FLOOR_S:.0f} s; "
          f"whole process incl. imports; CPU {conversion['cpu_seconds']:.2f} s)")
    print(f"Conversion peak memory:        {conversion['peak_mb']:.0f} MiB")
    print(f"DagBag parse time:             {dagbag['seconds']:.2f} s  (floor {DAGBAG_FLOOR_S:.0f} s; "
          f"{dagbag['collect_seconds']:.2f} s collecting after importing Airflow; CPU {dagbag['cpu_seconds']:.2f} s)")
    print(f"Machine load during the run:   {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} CPUs)")
    print(f"DAGs loaded / import errors:   {dagbag['dags']} / {dagbag['import_errors']}")
    print(f"DagBag peak memory:            {dagbag['peak_mb']:.0f} MiB")
    ok = (
        conversion["seconds"] <= CONVERSION_FLOOR_S
        and dagbag["seconds"] <= DAGBAG_FLOOR_S
        and dagbag["dags"] == args.jobs
        and dagbag["import_errors"] == 0
    )
    print("Result:                        " + ("within the floors" if ok else "OUTSIDE the floors"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
