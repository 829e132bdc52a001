"""Who may do what: users, projects and their members' roles, and API tokens.

The store keeps what it is given: a password's hash, a token's prefix and the SHA-256 of its
secret (never a password or a secret); :mod:`azuraforge.platform.services.access` makes them
and checks them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from azuraforge.errors import ConflictError, NotFoundError
from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.models import ApiToken, AuditEntry, Project, ProjectMember, User


@dataclass(frozen=True)
class UserRecord:
    id: int
    name: str
    password_hash: str
    is_admin: bool
    created_at: float
    disabled_at: float | None
    sessions_after: float | None = None


@dataclass(frozen=True)
class TokenRecord:
    """An API token as stored: its project by name, never its secret."""

    id: int
    prefix: str
    secret_hash: str
    user: str
    project: str
    role: str
    name: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    kind: str = "api"
    """``api``, or ``link``: a one-time login link."""


@dataclass(frozen=True)
class Credential:
    """A token as a request's check reads it: with its user's state and role."""

    token: TokenRecord
    is_admin: bool
    disabled_at: float | None
    sessions_after: float | None
    member_role: str | None
    """The user's role in the token's project (None: not a member)."""
    now: float
    """The database's clock at the read: what the token's expiry is judged by."""


@dataclass(frozen=True)
class AuditRecord:
    at: float
    actor: str
    project: str | None
    action: str
    target: str
    address: str


class AccessStore(StoreBase):
    """Users, projects' members, API tokens, and the audit log of who wrote what."""

    def audit(
        self, actor: str, action: str, target: str = "", *, project: str | None = None,
        address: str = "",
    ) -> None:  # fmt: skip
        """Record that ``actor`` did ``action`` on ``target`` (in ``project``, from
        ``address``) now."""
        with self._begin() as connection:
            connection.execute(
                insert(AuditEntry).values(
                    at=time.time(),
                    actor=actor[:100],
                    project=project,
                    action=action[:50],
                    target=target[:200],
                    address=address[:100],
                )
            )

    def list_audit(
        self, project: str | None = None, limit: int = 100, *, action: str | None = None
    ) -> list[AuditRecord]:
        """The newest ``limit`` entries (of ``project``, of ``action``), newest first."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if project is not None:
            query = query.where(AuditEntry.project == project)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        with self._read() as connection:
            return [
                AuditRecord(r.at, r.actor, r.project, r.action, r.target, r.address)
                for r in connection.execute(query)
            ]

    def create_user(self, name: str, password_hash: str, *, is_admin: bool = False) -> UserRecord:
        """Store user ``name``.

        Raises
        ------
        ConflictError
            If the name is taken.
        """
        now = time.time()
        try:
            with self._begin() as connection:
                new_id = connection.execute(
                    insert(User).values(
                        name=name, password_hash=password_hash, is_admin=is_admin, created_at=now
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
        except IntegrityError:
            raise ConflictError(f"a user is named {name!r} already") from None
        return UserRecord(int(new_id), name, password_hash, is_admin, now, None)

    def find_user(self, name: str) -> UserRecord | None:
        """User ``name``, or None."""
        with self._read() as connection:
            row = connection.execute(select(User).where(User.name == name)).first()
        return None if row is None else _user(row)

    def end_sessions(self, name: str) -> None:
        """Refuse from now on the sessions of user ``name`` signed until now (by the
        database's clock, which sessions are signed by)."""
        with self._begin() as connection:
            connection.execute(
                update(User).where(User.name == name).values(sessions_after=self.clock)
            )

    def find_user_now(self, name: str) -> tuple[UserRecord | None, float]:
        """User ``name`` (or None) and the database's clock, in one read (a session's
        check: its expiry and sign-outs are judged by that clock)."""
        query = select(User).add_columns(self.clock.label("now")).where(User.name == name)
        with self._read() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None, self._now_in(connection)
        return _user(row), float(row.now)

    def set_password(self, name: str, password_hash: str) -> None:
        """Store user ``name``'s new password hash.

        Raises
        ------
        NotFoundError
            If no user has that name.
        """
        with self._begin() as connection:
            done = connection.execute(
                update(User).where(User.name == name).values(password_hash=password_hash)
            )
        if done.rowcount != 1:
            raise NotFoundError(f"no user named {name!r}")

    def list_users(self) -> list[UserRecord]:
        """Every user, by name."""
        with self._read() as connection:
            rows = connection.execute(select(User).order_by(User.name)).all()
        return [_user(row) for row in rows]

    def create_project(self, name: str) -> None:
        """Store project ``name``.

        Raises
        ------
        ConflictError
            If the name is taken.
        """
        try:
            with self._begin() as connection:
                connection.execute(insert(Project).values(name=name, created_at=time.time()))
        except IntegrityError:
            raise ConflictError(f"a project is named {name!r} already") from None

    def list_projects(self) -> list[str]:
        """Every project's name, in order."""
        with self._read() as connection:
            return list(connection.scalars(select(Project.name).order_by(Project.name)))

    def set_member(self, project: str, user: str, role: str) -> None:
        """Give ``user`` ``role`` in ``project`` (replacing the role they had)."""
        with self._begin() as connection:
            project_id, user_id = self.project_id(connection, project), _user_id(connection, user)
            where = (ProjectMember.project_id == project_id) & (ProjectMember.user_id == user_id)
            changed = connection.execute(update(ProjectMember).where(where).values(role=role))
            if not changed.rowcount:
                connection.execute(
                    insert(ProjectMember).values(
                        project_id=project_id, user_id=user_id, role=role, created_at=time.time()
                    )
                )

    def list_members(self, project: str) -> list[tuple[str, str]]:
        """The project's members and their roles, by name."""
        with self._read() as connection:
            rows = connection.execute(
                select(User.name, ProjectMember.role)
                .join(ProjectMember, ProjectMember.user_id == User.id)
                .where(ProjectMember.project_id == self.project_id(connection, project))
                .order_by(User.name)
            ).all()
        return [(name, role) for name, role in rows]

    def remove_member(self, project: str, user: str) -> None:
        """Take ``user`` out of ``project``.

        Raises
        ------
        NotFoundError
            If they are not a member.
        """
        with self._begin() as connection:
            project_id, user_id = self.project_id(connection, project), _user_id(connection, user)
            done = connection.execute(
                delete(ProjectMember).where(
                    (ProjectMember.project_id == project_id) & (ProjectMember.user_id == user_id)
                )
            )
        if done.rowcount != 1:
            raise NotFoundError(f"{user} is not a member of {project}")

    def member_role(self, project: str, user: str) -> str | None:
        """``user``'s role in ``project``, or None when they are not a member."""
        with self._read() as connection:
            return connection.scalar(
                select(ProjectMember.role)
                .join(Project, Project.id == ProjectMember.project_id)
                .join(User, User.id == ProjectMember.user_id)
                .where(Project.name == project, User.name == user)
            )

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
        """Store a token (its prefix unique; only the hash of its secret) of ``kind``
        (``api``, or ``link``: a one-time login link), made now and ending ``expires_in``
        seconds later (None: never), both by the database's clock."""
        with self._begin() as connection:
            now = self._now_in(connection)
            expires_at = None if expires_in is None else now + expires_in
            new_id = connection.execute(
                insert(ApiToken).values(
                    prefix=prefix,
                    secret_hash=secret_hash,
                    user_id=_user_id(connection, user),
                    project_id=self.project_id(connection, project),
                    role=role,
                    name=name,
                    created_at=now,
                    expires_at=expires_at,
                    kind=kind,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return TokenRecord(int(new_id), prefix, secret_hash, user, project, role, name, now,
                           expires_at, None, None, kind)  # fmt: skip

    def find_token(self, prefix: str) -> TokenRecord | None:
        """The token of ``prefix``, or None."""
        with self._read() as connection:
            row = connection.execute(_tokens().where(ApiToken.prefix == prefix)).first()
        return None if row is None else TokenRecord(*row)

    def find_credential(self, prefix: str) -> Credential | None:
        """The token of ``prefix`` with its user and the user's role in the token's project,
        in one read (every request checks one), or None."""
        member = (ProjectMember.project_id == ApiToken.project_id) & (
            ProjectMember.user_id == ApiToken.user_id
        )
        query = (
            _tokens()
            .add_columns(
                User.is_admin,
                User.disabled_at,
                User.sessions_after,
                ProjectMember.role,
                self.clock,
            )
            .outerjoin(ProjectMember, member)
            .where(ApiToken.prefix == prefix)
        )
        with self._read() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        *token, is_admin, disabled_at, sessions_after, held, now = row
        return Credential(TokenRecord(*token), bool(is_admin), disabled_at, sessions_after, held,
                          float(now))  # fmt: skip

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Every token (of ``user``), newest first."""
        query = _tokens().order_by(ApiToken.id.desc())
        if user is not None:
            query = query.where(User.name == user)
        with self._read() as connection:
            return [TokenRecord(*row) for row in connection.execute(query)]

    def revoke_token(self, prefix: str) -> TokenRecord:
        """Revoke the token of ``prefix`` (from now on it is refused); the token.

        Raises
        ------
        NotFoundError
            If no token has that prefix.
        """
        with self._begin() as connection:
            connection.execute(
                update(ApiToken)
                .where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        found = self.find_token(prefix)
        if found is None:
            raise NotFoundError(f"no token {prefix!r}")
        return found

    def use_once(self, prefix: str, when: float) -> bool:
        """Revoke the token of ``prefix`` at ``when`` if no one did yet: whether this call
        did (of two uses at once, one does)."""
        with self._begin() as connection:
            done = connection.execute(
                update(ApiToken)
                .where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))
                .values(revoked_at=when, last_used_at=when)
            )
        return bool(done.rowcount == 1)

    def touch_token(self, prefix: str, when: float) -> None:
        """Record that the token of ``prefix`` was used at ``when``."""
        with self._begin() as connection:
            connection.execute(
                update(ApiToken).where(ApiToken.prefix == prefix).values(last_used_at=when)
            )


def _tokens() -> Select[*tuple[Any, ...]]:
    """The columns of :class:`TokenRecord`, its user and project by name."""
    columns = (ApiToken.id, ApiToken.prefix, ApiToken.secret_hash, User.name, Project.name,
               ApiToken.role, ApiToken.name, ApiToken.created_at, ApiToken.expires_at,
               ApiToken.revoked_at, ApiToken.last_used_at, ApiToken.kind)  # fmt: skip
    return (
        select(*columns)
        .join(User, User.id == ApiToken.user_id)
        .join(Project, Project.id == ApiToken.project_id)
    )


def _user(row: Row[Any]) -> UserRecord:
    return UserRecord(
        row.id, row.name, row.password_hash, bool(row.is_admin), row.created_at,
        row.disabled_at, row.sessions_after,
    )  # fmt: skip


def _user_id(connection: Connection, name: str) -> int:
    found = connection.scalar(select(User.id).where(User.name == name))
    if found is None:
        raise NotFoundError(f"no user named {name!r}")
    return int(found)
