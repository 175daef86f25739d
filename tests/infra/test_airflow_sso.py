"""SSO: the rendered webserver_config.py, loaded and checked by Flask-AppBuilder's own security manager.

The file is loaded as the API server loads it (``app.config.from_pyfile``), its client secret read
from Secrets Manager (moto) with boto3, and handed to FAB's AppBuilder: FAB registers the OAuth
remote app (Authlib) and maps groups to roles with its own code, against Airflow's role names as the
FAB auth manager defines them (``ROLE_CONFIGS``).
"""

from __future__ import annotations

import pytest

from infra.airflow_sso import AIRFLOW_ROLES, FAB_PROVIDER, NO_ROLE, SsoSettings, webserver_config

SECRET_NAME = "batch-platform/prod/airflow/sso-client-secret"


def settings(provider="okta", issuer="https://example.okta.com/oauth2/default", **kw) -> SsoSettings:
    return SsoSettings(
        provider=provider,
        issuer=issuer,
        client_id="0oa1example",
        client_secret_name=SECRET_NAME,
        region="eu-west-1",
        group_roles=kw.pop("group_roles", {"batch-admins": ["admin"], "batch-ops": ["operator", "viewer"]}),
        **kw,
    )


PROVIDERS = {
    "entra_id": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0",
    "keycloak": "https://sso.example.com/realms/batch",
    "google": "https://accounts.google.com",
}
CASES = {
    "okta": (settings(), [[]]),
    "okta-secret-not-set": (settings(), []),
    "okta-default-viewer": (settings(default_role="viewer"), [["batch-ops", "unrelated"], ["batch-admins"], []]),
    **{
        p: (settings(p, issuer, group_roles={} if p == "google" else {"g": ["admin"]}), [])
        for p, issuer in PROVIDERS.items()
    },
}


@pytest.fixture(scope="module")
def fab(tmp_path_factory):
    """Every case's rendered config loaded into FAB (tests/infra/fab_check.py, one process of its own)."""
    import json
    import os
    import subprocess
    import sys

    from tests.airflow_env import REPO_ROOT

    folder = tmp_path_factory.mktemp("sso")
    cases = []
    for name, (s, role_keys) in CASES.items():
        path = folder / f"{name}.py"
        path.write_text(webserver_config(s))
        cases.append({"config": str(path), "role_keys": role_keys, "secret": name != "okta-secret-not-set"})
    (folder / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    out = subprocess.run(
        [sys.executable, "-m", "tests.infra.fab_check", str(folder / "cases.json")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(zip(CASES, json.loads(out.stdout.strip().splitlines()[-1])))


def test_fab_reads_our_okta_login_with_the_secret_from_secrets_manager(fab):
    from flask_appbuilder.security.manager import AUTH_OAUTH

    report = fab["okta"]
    assert report["auth_type"] == AUTH_OAUTH
    remote = report["remotes"]["okta"]
    assert remote["client_id"] == "0oa1example"
    assert remote["client_secret"] == "the-client-secret"
    assert remote["server_metadata_url"] == "https://example.okta.com/oauth2/default/.well-known/openid-configuration"
    assert "groups" in remote["client_kwargs"]["scope"].split()
    assert report["roles_sync_at_login"] is True
    assert report["registration_role"] == NO_ROLE
    # The roles we map to are roles the Airflow FAB auth manager defines.
    assert set(AIRFLOW_ROLES.values()) | {NO_ROLE} <= set(report["airflow_roles"])
    assert report["mapped"] == [["Public"]]


def test_an_unset_client_secret_does_not_stop_the_api_server(fab):
    # The config still loads (the API server also serves the execution API); only the login fails.
    assert fab["okta-secret-not-set"]["remotes"]["okta"]["client_secret"] == ""


def test_groups_become_airflow_roles_through_fabs_own_mapping(fab):
    # role_keys are what FAB's okta user-info code returns: the userinfo "groups" claim.
    report = fab["okta-default-viewer"]
    assert report["mapped"] == [["Op", "Viewer"], ["Admin", "Viewer"], ["Viewer"]]


@pytest.mark.parametrize("provider, issuer", list(PROVIDERS.items()))
def test_every_provider_is_one_fab_knows(fab, provider, issuer):
    report = fab[provider]
    remote = report["remotes"][FAB_PROVIDER[provider]]
    assert remote["server_metadata_url"] == f"{issuer}/.well-known/openid-configuration"
    assert remote["client_secret"] == "the-client-secret"
    if provider == "entra_id":
        assert remote["client_kwargs"]["verify_signature"] is True


def test_nothing_secret_in_the_rendered_file():
    text = webserver_config(settings())
    assert "the-client-secret" not in text and SECRET_NAME in text


def test_prod_plan_renders_sso_into_the_api_server_and_lets_only_it_read_the_secret(prod_plan, dev_plan):
    import json

    values = prod_plan.one("kubernetes:helm.sh/v3:Release", "prod-airflow-release").input("values")
    assert "AUTH_TYPE = AUTH_OAUTH" in values["apiServer"]["apiServerConfig"]
    secret = prod_plan.one("aws:secretsmanager/secret:Secret", "prod-airflow-sso-client-secret")
    assert secret.input("name") == SECRET_NAME
    assert secret.options["retainOnDelete"] is True
    grant = prod_plan.one("aws:iam/rolePolicy:RolePolicy", "prod-airflow-sso-client-secret-read")
    assert grant.input("role") == "prod-airflow-api-server"
    (statement,) = json.loads(grant.input("policy"))["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    # dev keeps the local user database (and the break-glass admin) only.
    dev_values = dev_plan.one("kubernetes:helm.sh/v3:Release", "dev-airflow-release").input("values")
    assert "apiServerConfig" not in dev_values["apiServer"]
    # The break-glass admin stays with SSO on: its Job is configured (this plan is a first deploy, where
    # the chart's Jobs wait for the image; tests/stacks/test_journeys.py enables them on the next up).
    assert "airflow users create --role Admin" in values["createUserJob"]["args"][2]


def test_config_rules():
    from stacks.config.sso import SsoConfig

    assert [p.path for p in SsoConfig(enabled=True).problems("prod", "sso")] == ["sso.provider", "sso.issuer", "sso.client_id"]
    google = SsoConfig(enabled=True, provider="google", issuer="https://accounts.google.com", client_id="x",
                       group_roles={"g": ["admin"]})
    assert "sends no groups" in google.problems("prod", "sso")[0].expected
    no_admin = SsoConfig(enabled=True, provider="okta", issuer="https://a.okta.com", client_id="x",
                         group_roles={"g": ["viewer"]})
    assert "admin" in no_admin.problems("prod", "sso")[0].expected
