"""The batch DAG library: job specs (``dags/jobs/*.yaml``) become Airflow DAGs running Kubernetes Jobs.

Modules: ``settings`` (the platform contract: namespace, service account, node group), ``spec`` (the job
spec schema), ``jenkins_cron`` (Jenkins schedule semantics), ``timetable`` (the Airflow timetable that
honours them), ``factory`` (spec -> DAG). The package lives inside the DAG folder so that it ships with
the DAG bundle; Airflow puts the DAG folder on ``sys.path``, which makes it importable as
``batch_platform``.
"""
