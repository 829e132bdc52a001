"""The project's view of who may do what: users, projects and their members, tokens, the audit log
(store/access.py). Each method applies its rule (:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from azuraforge.platform.store.access import AuditRecord, Credential, TokenRecord, UserRecord
from azuraforge.platform.store.interfaces.access import Access
from azuraforge.platform.store.records import RunCredentialRecord
from azuraforge.platform.store.scope.base import ScopeBase


class ScopedAccess(ScopeBase, Access):
    """:class:`~azuraforge.platform.store.interfaces.Access` kept to the view's project."""

    def audit(
        self,
        actor: str,
        action: str,
        target: str = "",
        *,
        project: str | None = None,
        address: str = "",
    ) -> None:
        self.store.audit(actor, action, target, project=self.project, address=address)

    def list_audit(
        self, project: str | None = None, limit: int = 100, *, action: str | None = None
    ) -> list[AuditRecord]:
        return self.store.list_audit(project=self.project, limit=limit, action=action)

    def create_user(self, name: str, password_hash: str, *, is_admin: bool = False) -> UserRecord:
        return self.store.create_user(name, password_hash, is_admin=is_admin)

    def find_user(self, name: str) -> UserRecord | None:
        return self.store.find_user(name)

    def end_sessions(self, name: str) -> None:
        self.store.end_sessions(name)

    def find_user_now(self, name: str) -> tuple[UserRecord | None, float]:
        return self.store.find_user_now(name)

    def set_password(self, name: str, password_hash: str) -> None:
        self.store.set_password(name, password_hash)

    def list_users(self) -> list[UserRecord]:
        return self.store.list_users()

    def create_project(self, name: str) -> None:
        self.store.create_project(name)

    def list_projects(self) -> list[str]:
        return self.store.list_projects()

    def set_member(self, project: str, user: str, role: str) -> None:
        self.store.set_member(project=self.project, user=user, role=role)

    def list_members(self, project: str) -> list[tuple[str, str]]:
        return self.store.list_members(project=self.project)

    def remove_member(self, project: str, user: str) -> None:
        self.store.remove_member(project=self.project, user=user)

    def member_role(self, project: str, user: str) -> str | None:
        return self.store.member_role(project=self.project, user=user)

    def create_token(
        self,
        prefix: str,
        secret_hash: str,
        *,
        user: str,
        project: str,
        role: str,
        name: str,
        expires_in: float | None,
        kind: str = "api",
    ) -> TokenRecord:
        return self.store.create_token(
            prefix,
            secret_hash,
            user=user,
            project=self.project,
            role=role,
            name=name,
            expires_in=expires_in,
            kind=kind,
        )

    def find_token(self, prefix: str) -> TokenRecord | None:
        return self.store.find_token(prefix)

    def find_credential(self, prefix: str) -> Credential | None:
        return self.store.find_credential(prefix)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        return self.store.list_tokens(user)

    def revoke_token(self, prefix: str) -> TokenRecord:
        return self.store.revoke_token(prefix)

    def use_once(self, prefix: str, when: float) -> bool:
        return self.store.use_once(prefix, when)

    def touch_token(self, prefix: str, when: float) -> None:
        self.store.touch_token(prefix, when)

    def find_run_credential(self, secret_hash: str) -> RunCredentialRecord | None:
        return self.store.find_run_credential(secret_hash)

    def database_now(self) -> float:
        return self.store.database_now()
