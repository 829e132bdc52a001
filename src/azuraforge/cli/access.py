"""``azuraforge users``, ``projects``, ``tokens`` and ``keys``: who may use the server and the
keys it signs with, run where it runs, on its store (as ``azuraforge db``). A password is read
from a prompt (not echoed) or from standard input with ``--password-stdin``, never from the
command line; a token is printed once, when it is made; a session key never."""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from azuraforge.cli.common import (
    ApiUrl,
    DatabaseUrl,
    UsageError,
    Verbose,
    arguments,
    console,
    settings_with,
    shown_time,
    user_errors,
)
from azuraforge.client import Client, save_token
from azuraforge.client.environment import API_URL_VARIABLE, api_url
from azuraforge.errors import CredentialError, InvalidParameterError

if TYPE_CHECKING:
    from azuraforge.platform.services.keys import ServerKeys
    from azuraforge.platform.store import Store

TOKEN_SHAPE = re.compile(r"af_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
"""What a token looks like (the server's services.access.TOKEN, without importing it)."""

users = typer.Typer(help="The server's users (run where the server runs).", no_args_is_help=True)
projects = typer.Typer(help="Projects and their members' roles.", no_args_is_help=True)
tokens = typer.Typer(help="API tokens for the CLI and scripts.", no_args_is_help=True)
keys = typer.Typer(
    help="The keys sessions and webhooks are signed with (docs/security.md, Keys).",
    no_args_is_help=True,
)

Role = Annotated[str, typer.Option("--role", help="viewer, editor or admin.")]
Purpose = Annotated[str, typer.Argument(help="session or webhook.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _actor() -> str:
    """Who acts through these commands: the account on the server's machine."""
    return f"cli:{getpass.getuser()}"


def _store(database_url: str | None) -> Store:
    from azuraforge.platform.store import Store

    return Store(settings_with(database_url=database_url).database_url)


@users.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="Letters, digits, '_', '.', '-'.")],
    admin: Annotated[bool, typer.Option("--admin", help="A server admin: every project.")] = False,
    password_stdin: PasswordStdin = False,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Create a user; their password is asked for (twice) unless given on standard input."""
    with user_errors(verbose):
        from azuraforge.platform.services.access import create_user as create

        store = _store(database_url)
        create(store, name, _password(password_stdin, f"users create {name}"), is_admin=admin)
        store.audit(_actor(), "user.create", name + (" (admin)" if admin else ""))
        console.print(f"user {name} created{' (server admin)' if admin else ''}")


@users.command("password")
def set_password(
    name: Annotated[str, typer.Argument(help="The user.")],
    password_stdin: PasswordStdin = False,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Set a user's password (the first start's admin has none: they sign in by a link until
    they set one); every session they had ends."""
    with user_errors(verbose):
        from azuraforge.platform.services.access import set_password as set_it

        store = _store(database_url)
        set_it(store, name, _password(password_stdin, f"users password {name}"))
        store.audit(_actor(), "user.password", name)
        console.print(f"password of {name} set; their sessions ended")


@users.command("link")
def make_link(
    name: Annotated[str, typer.Argument(help="The user.")],
    project: Annotated[str, typer.Option("--project", help="The project to sign in to.")] = (
        "default"
    ),
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="The server's address, as a browser reaches it (default: AZURAFORGE_API_URL, "
            "else the address the server of this store last started at).",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Print a one-time login link for a user (valid a day, used once)."""
    with user_errors(verbose):
        from azuraforge.platform.services.access import login_link

        store = _store(database_url)
        token = login_link(store, name, project)
        store.audit(_actor(), "user.link", name, project=project)
        print(f"{_server_address(store, url)}/api/v1/auth/link?token={token}")


SERVER_START = "server.start"
"""The audit log's action ``azuraforge serve`` records at each start, its address the
target: where a link of its store points."""


def _server_address(store: Store, given: str | None) -> str:
    """The server's address for a link: ``given``, else ``$AZURAFORGE_API_URL``, else the
    one the server of ``store`` last started at (on its port, whatever it is), else
    ``http://127.0.0.1:8000``."""
    if given or os.environ.get(API_URL_VARIABLE):
        return api_url(given)
    started = store.list_audit(limit=1, action=SERVER_START)
    return started[0].target.rstrip("/") if started else api_url()


def _password(from_stdin: bool, command: str) -> str:
    """The password, read from standard input or asked (twice) at the terminal; piped in
    without ``--password-stdin``, a usage error naming the flag (the prompt would read the
    pipe, echo what it could not hide and find no confirmation)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    _check_terminal("password", "--password-stdin", command)
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


def _check_terminal(what: str, flag: str, command: str) -> None:
    """Refuse to ask for a secret when standard input is not a terminal: the prompt could not
    hide it (Python's getpass warns "Password input may be echoed" and reads the pipe).

    Raises
    ------
    UsageError
        Naming ``flag``, which reads the secret from standard input.
    """
    if not sys.stdin.isatty():
        raise UsageError(
            f"standard input is not a terminal to ask the {what} at: to give it on standard "
            f"input, add {flag} (echo ... | azuraforge {command} {flag})"
        )


@users.command("list")
def list_users(database_url: DatabaseUrl = None, verbose: Verbose = False) -> None:
    """Every user: admin or not, disabled or not."""
    with user_errors(verbose):
        for user in _store(database_url).list_users():
            flags = [word for word, on in (("admin", user.is_admin),
                                           ("disabled", user.disabled_at)) if on]  # fmt: skip
            console.print(f"{user.name}{' (' + ', '.join(flags) + ')' if flags else ''}")


@projects.command("create")
def create_project(
    name: Annotated[str, typer.Argument(help="Letters, digits, '_', '.', '-'.")],
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Create a project."""
    with user_errors(verbose):
        from azuraforge.platform.services.access import check_name

        store = _store(database_url)
        store.create_project(check_name("project", name))
        store.audit(_actor(), "project.create", name, project=name)
        console.print(f"project {name} created")


@projects.command("list")
def list_projects(database_url: DatabaseUrl = None, verbose: Verbose = False) -> None:
    """Every project."""
    with user_errors(verbose):
        for name in _store(database_url).list_projects():
            console.print(name)


@projects.command("member")
def set_member(
    project: Annotated[str, typer.Argument(help="The project.")],
    user: Annotated[str, typer.Argument(help="The user.")],
    role: Role = "viewer",
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Give a user a role in a project (replacing the one they had)."""
    with user_errors(verbose):
        from azuraforge.platform.services.access import check_role

        store = _store(database_url)
        store.set_member(project, user, check_role(role))
        store.audit(_actor(), "member.set", f"{user}: {role}", project=project)
        console.print(f"{user} is {role} in {project}")


@projects.command("set")
def set_setting(
    project: Annotated[str, typer.Argument(help="The project.")],
    name: Annotated[str, typer.Argument(help="The setting (docs/security.md): mlflow_models.")],
    value: Annotated[str, typer.Argument(help="Its value, as JSON: true or false.")],
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Change a setting of a project (as its admins do with PATCH /api/v1/settings)."""
    with user_errors(verbose):
        from azuraforge.platform.services.project_settings import change_settings

        try:
            parsed = json.loads(value)
        except ValueError:
            raise UsageError(f"{value!r} is not a JSON value: say true or false") from None
        store = _store(database_url)
        change_settings(store, {name: parsed}, project)
        store.audit(_actor(), "project.set", f"{name}: {value}", project=project)
        console.print(f"{name} is {value} in {project}")


@tokens.command("create")
def create_token(
    user: Annotated[str, typer.Option("--user", help="Whose token.")],
    project: Annotated[str, typer.Option("--project", help="The project it is for.")],
    role: Role = "viewer",
    name: Annotated[str, typer.Option("--name", help="What it is for.")] = "",
    days: Annotated[float, typer.Option("--expires-in-days", help="Days it lasts.")] = 90.0,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Make a token; it is printed once, now, and never again."""
    with user_errors(verbose):
        from azuraforge.platform.services.access import new_token

        store = _store(database_url)
        token, record = new_token(store, user=user, project=project, role=role, name=name,
                                  expires_in=days * 86_400)  # fmt: skip
        store.audit(_actor(), "token.create", f"{record.prefix} of {user}: {role}",
                    project=project)  # fmt: skip
        console.print(f"token {record.prefix} ({role} in {project}); keep it, it is not shown "
                      "again:", highlight=False)  # fmt: skip
        print(token)


@tokens.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's.")] = None,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Tokens (never their secrets), newest first."""
    with user_errors(verbose):
        import time

        now = time.time()
        for t in _store(database_url).list_tokens(user):
            state = ("revoked" if t.revoked_at else
                     "expired" if t.expires_at and t.expires_at <= now else "active")  # fmt: skip
            console.print(f"{t.prefix}  {t.user}  {t.role} in {t.project}  {state}  {t.name}")


@tokens.command("revoke")
def revoke_token(
    prefix: Annotated[str, typer.Argument(help="The token's prefix (tokens list).")],
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Revoke a token: refused from now on."""
    with user_errors(verbose):
        store = _store(database_url)
        revoked = store.revoke_token(prefix)
        store.audit(_actor(), "token.revoke", f"{prefix} of {revoked.user}",
                    project=revoked.project)  # fmt: skip
        console.print(f"token {prefix} revoked")


def _keys(database_url: str | None) -> ServerKeys:
    from azuraforge.platform.services.keys import ServerKeys
    from azuraforge.platform.store import Store

    settings = settings_with(database_url=database_url)
    return ServerKeys(Store(settings.database_url), settings)


@keys.command("list")
def list_keys(database_url: DatabaseUrl = None, verbose: Verbose = False) -> None:
    """Each key's generation, when it was made and what it does (never the key)."""
    with user_errors(verbose):
        from azuraforge.platform.services.keys import PURPOSES

        server = _keys(database_url)
        for purpose in PURPOSES:
            configured = server.configured(purpose)
            kept = server.store.list_server_keys(purpose)
            if configured is not None:
                variable = f"AZURAFORGE_{purpose.upper()}_KEY"
                console.print(f"{purpose}  {len(configured.verifying)} set in the settings "
                              f"({variable}), the first signing")  # fmt: skip
            elif not kept:
                console.print(f"{purpose}  none yet (made when the server starts)")
            for key in kept if configured is None else []:
                role = "signs" if key is kept[0] else "verifies"
                console.print(f"{purpose}  generation {key.generation}  made "
                              f"{shown_time(key.made_at)}  {role}")  # fmt: skip


@keys.command("rotate")
def rotate_key(
    purpose: Purpose, database_url: DatabaseUrl = None, verbose: Verbose = False
) -> None:
    """Make a new key that signs from now on.

    The previous ones still verify (sessions signed with them stay good) until `azuraforge
    keys drop-old`."""
    with user_errors(verbose), arguments():
        server = _keys(database_url)
        made = server.rotate(purpose)
        server.store.audit(_actor(), "keys.rotate", f"{purpose}: generation {made}")
        console.print(f"{purpose} key rotated: generation {made} signs from now on, at every "
                      f"server within a second; {AFTER_ROTATION[purpose]}")  # fmt: skip


AFTER_ROTATION = {
    "session": "sessions signed before stay good for their 12 hours until "
    "`azuraforge keys drop-old session`",
    "webhook": "give the receivers its key (`azuraforge keys show webhook`): a delivery they "
    "refuse meanwhile is tried again, signed with it, for about three hours",
}
"""What to do once a purpose's key is rotated."""
AFTER_DROP = {
    "session": "the sessions signed with it are refused at every server within a second",
    "webhook": "the server signs with the newest alone",
}
"""What dropping a purpose's old keys changes."""


@keys.command("drop-old")
def drop_old_keys(
    purpose: Purpose, database_url: DatabaseUrl = None, verbose: Verbose = False
) -> None:
    """Drop the keys older than the one signing.

    Sessions signed with them are refused from now on (those signed before the last
    rotation end); webhooks are signed with the newest alone in any case."""
    with user_errors(verbose), arguments():
        server = _keys(database_url)
        dropped = server.drop_old(purpose)
        if not dropped:
            console.print(f"{purpose}: no key older than the one signing")
            return
        generations = f"generation{'s' * (len(dropped) > 1)} {', '.join(map(str, dropped))}"
        server.store.audit(_actor(), "keys.drop-old", f"{purpose}: {generations}")
        console.print(f"{purpose}: {generations} dropped; {AFTER_DROP[purpose]}")


@keys.command("show")
def show_key(purpose: Purpose, database_url: DatabaseUrl = None, verbose: Verbose = False) -> None:
    """Print the webhook key that signs now, for the receivers.

    They check deliveries with it. A session key is never shown: nothing outside the server
    reads a session."""
    with user_errors(verbose), arguments():
        from azuraforge.platform.services.keys import WEBHOOK

        if purpose != WEBHOOK:
            raise InvalidParameterError(
                f"only the webhook key is shown, not {purpose!r}: a session key is read by "
                "the server alone (`azuraforge keys list` says which are kept)"
            )
        server = _keys(database_url)
        key = server.signing(WEBHOOK).decode()
        server.store.audit(_actor(), "keys.show", WEBHOOK)
        print(key)


def login(
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Read the token from standard input.")
    ] = False,
    api: ApiUrl = None,
    verbose: Verbose = False,
) -> None:
    """Keep an API token (`azuraforge tokens create` makes one) for the commands that talk to
    this server, once the server says whose it is; asked for (not echoed) unless given on
    standard input."""
    with user_errors(verbose):
        if token_stdin:
            token = sys.stdin.readline().strip()
        else:
            _check_terminal("token", "--token-stdin", "login")
            token = typer.prompt("token", hide_input=True).strip()
        if not TOKEN_SHAPE.fullmatch(token):
            raise CredentialError("that is not a token: `azuraforge tokens create` makes one")
        url = api_url(api)
        who = Client(url, token=token).access.me()
        save_token(url, token)
        console.print(f"signed in to {url} as {who['user']} ({who['role']} in {who['project']})")


def logout(api: ApiUrl = None, verbose: Verbose = False) -> None:
    """Forget the token kept for this server."""
    with user_errors(verbose):
        url = api_url(api)
        save_token(url, None)
        console.print(f"signed out of {url}")


def audit(
    project: Annotated[str | None, typer.Option("--project", help="Only this project's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Entries.")] = 50,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """The audit log, newest first: who wrote what, when, in which project, from where."""
    with user_errors(verbose):
        for entry in _store(database_url).list_audit(project, limit):
            where = f" in {entry.project}" if entry.project else ""
            origin = f" from {entry.address}" if entry.address else ""
            line = f"{shown_time(entry.at)}  {entry.actor}  {entry.action} {entry.target}"
            # Names come from whoever tried to sign in: shown as text, not markup or control.
            shown = "".join(c if c.isprintable() else "?" for c in line + where + origin)
            console.print(shown, markup=False, highlight=False)
