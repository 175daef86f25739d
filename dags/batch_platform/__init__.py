"""The batch DAG library: job specs (``dags/jobs/*.yaml``) become Airflow DAGs running Kubernetes Jobs.

Modules: ``settings`` (the platform contract: namespace, service account, node group), ``spec`` (the job
spec schema), ``jenkins_cron`` (Jenkins schedule semantics), ``timetable`` (the Airflow timetable that
honours them), ``factory`` (spec -> DAG). The platform's Airflow image installs this package
(``images/airflow/library``), because the scheduler and the API server deserialize DAGs with its
timetable and have no DAG folder; the DAG processor finds that installed copy before the DAG
bundle's. Tests and local runs import it from the DAG folder, which Airflow puts on ``sys.path``.
"""
