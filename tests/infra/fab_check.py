"""Run in a subprocess by test_airflow_sso: load a webserver_config.py into Flask-AppBuilder, report.

A subprocess because FAB's own security models and the Airflow FAB provider's models define the
same tables: one process can import only one of them. This one imports FAB's.

    python -m tests.infra.fab_check <cases.json>

cases.json: a list of {"config": <path of a webserver_config.py>, "role_keys": [[...], ...]}; prints
one report per case, as a JSON list.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path


def airflow_role_names() -> list[str]:
    """The roles the Airflow FAB auth manager creates (its ROLE_CONFIGS), read from its source."""
    import importlib.util

    spec = importlib.util.find_spec("airflow.providers.fab.auth_manager.security_manager.override")
    tree = ast.parse(Path(spec.origin).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "ROLE_CONFIGS":
            return [
                v.value
                for d in node.value.elts
                for k, v in zip(d.keys, d.values)
                if isinstance(k, ast.Constant) and k.value == "role"
            ]
    raise LookupError("ROLE_CONFIGS not found in the FAB auth manager")


def check(config: str, role_key_sets: list[list[str]], secret: bool = True) -> dict:
    import boto3
    from flask import Flask
    from flask_appbuilder import AppBuilder
    from flask_appbuilder.models.sqla.base import SQLA
    from moto import mock_aws

    with mock_aws():
        if secret:
            boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
                Name="batch-platform/prod/airflow/sso-client-secret", SecretString="the-client-secret"
            )
        app = Flask("airflow-sso-check")
        app.config.from_pyfile(config)
    app.config.update(SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY="check", FAB_UPDATE_PERMS=False)
    with app.app_context():
        db = SQLA(app)
        sm = AppBuilder(app, db.session).sm
        db.drop_all()
        db.create_all()
        roles = airflow_role_names()
        for role in roles:
            sm.add_role(role)
        remotes = {
            name: {
                "client_id": r.client_id,
                "client_secret": r.client_secret,
                "server_metadata_url": r._server_metadata_url,
                "api_base_url": r.api_base_url,
                "client_kwargs": r.client_kwargs,
            }
            for name, r in sm.oauth_remotes.items()
        }
        mapped = [
            sorted(r.name for r in sm._oauth_calculate_user_roles({"role_keys": keys}))
            for keys in role_key_sets
        ]
        return {
            "auth_type": sm.auth_type,
            "registration_role": sm.auth_user_registration_role,
            "roles_sync_at_login": app.config["AUTH_ROLES_SYNC_AT_LOGIN"],
            "airflow_roles": roles,
            "remotes": remotes,
            "mapped": mapped,
        }


if __name__ == "__main__":
    cases = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps([check(case["config"], case["role_keys"], case.get("secret", True)) for case in cases]))
