"""Config section ``sso``: people log in to the Airflow UI through the company's identity provider (OIDC).

The FAB auth manager (the one the chart runs) does the OAuth login; the identity provider's groups
map to Airflow's roles. The client secret is never in the stack file: it lives in the durable
Secrets Manager secret ``batch-platform/<stack>/airflow/sso-client-secret`` (created by the stack,
valued by an operator, kept across a destroy). The generated admin stays as the break-glass account
(docs/airflow.md, "Single sign-on").
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from stacks.config.base import Section
from stacks.config.problems import Problem

ROLES = ("admin", "operator", "user", "viewer")

# Where each provider's groups arrive, as the FAB auth manager reads them (flask_appbuilder
# BaseSecurityManager.get_oauth_user_info): Okta and Keycloak in the userinfo "groups" claim,
# Entra ID in the ID token's "roles" claim (app roles, assigned to groups in Entra), Google not at all.
PROVIDERS_WITH_GROUPS = ("okta", "keycloak", "entra_id")


class SsoConfig(Section):
    """OIDC login for the UI. Off by default: only the break-glass admin and users an admin creates."""

    enabled: bool = Field(False, description="Log in through the identity provider below.")
    provider: Optional[Literal["okta", "entra_id", "google", "keycloak"]] = Field(
        None,
        description="okta, entra_id (Microsoft Entra ID), google (Google Workspace) or keycloak. AWS IAM "
        "Identity Center offers SAML, not OIDC, to custom applications: federate it through one of these.",
    )
    issuer: Optional[str] = Field(
        None,
        description="The provider's OIDC issuer URL (discovery at <issuer>/.well-known/openid-configuration), e.g. "
        "https://example.okta.com/oauth2/default, https://login.microsoftonline.com/<tenant-id>/v2.0, "
        "https://accounts.google.com, https://sso.example.com/realms/<realm>.",
    )
    client_id: Optional[str] = Field(None, description="The OIDC client (application) ID registered for Airflow.")
    group_roles: dict[str, list[Literal["admin", "operator", "user", "viewer"]]] = Field(
        default_factory=dict,
        description="Identity-provider group (Entra ID: app role value) -> Airflow roles. Roles are synced at "
        "every login; a user in no mapped group gets default_role.",
    )
    default_role: Optional[Literal["viewer", "user"]] = Field(
        None,
        description="Role every SSO user gets on top of its groups' roles (FAB adds the registration role at each "
        "login). Unset: none (the Public role, no permissions) for a user in no mapped group.",
    )

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and (not value.startswith("https://") or value.endswith("/")):
            raise ValueError("expected an https:// issuer URL without a trailing slash")
        return value

    def problems(self, tier: str, path: str) -> list[Problem]:
        if not self.enabled:
            return []
        found = [
            Problem(f"{path}.{key}", None, "required when sso.enabled is true")
            for key in ("provider", "issuer", "client_id")
            if getattr(self, key) is None
        ]
        if self.provider == "google" and self.group_roles:
            found.append(
                Problem(
                    f"{path}.group_roles",
                    sorted(self.group_roles),
                    "Google's OIDC sends no groups: give everyone default_role and grant more in the UI",
                )
            )
        if self.provider in PROVIDERS_WITH_GROUPS and not any("admin" in roles for roles in self.group_roles.values()):
            found.append(
                Problem(f"{path}.group_roles", dict(self.group_roles), "at least one group must map to admin")
            )
        return found
