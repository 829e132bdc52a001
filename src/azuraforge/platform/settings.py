"""The platform's settings: one Pydantic object read from the environment and a TOML file.

Every field is an environment variable ``AZURAFORGE_<FIELD>`` (``AZURAFORGE_DATABASE_URL``,
``AZURAFORGE_WORKERS``...) or a key of the TOML file named by ``AZURAFORGE_SETTINGS_FILE``
(default ``$AZURAFORGE_HOME/settings.toml``, read when it exists). The environment wins.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.home import default_home
from azuraforge.platform.hosts import allowed_host_entry

SETTINGS_FILE_VARIABLE = "AZURAFORGE_SETTINGS_FILE"
MIN_TOKEN = 32
"""The fewest characters of the scrape token (``metrics_token``)."""
SERVER_KEYS = ("session_key", "webhook_key", "metrics_token")
"""The settings that are the server's keys: its API processes get them, its workers not."""


def _split_list(entries: object) -> object:
    """Entries separated by commas (the environment), or a JSON list, or a list."""
    if isinstance(entries, str):
        text = entries.strip()
        return json.loads(text) if text.startswith("[") else text.split(",")
    return entries


_Entry = TypeVar("_Entry")
CommaList = Annotated[list[_Entry], NoDecode, BeforeValidator(_split_list)]
"""A list setting: in the environment its entries separated by commas, or a JSON list."""


class AssistBackend(BaseModel):
    """A text generator the assistant may answer with (docs/assist.md, On the platform)."""

    name: str = Field(
        ..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="What chats call it."
    )
    kind: str = Field(
        ..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="A backend of the entry-point group azuraforge.backends, checked at "
        "start: llama: llama.cpp in the server's process; transformers: transformers in it "
        "(the assist-train extra); openai: an OpenAI-compatible server (llama.cpp's, Ollama, "
        "vLLM) at url; echo: repeats the message (for trying the chat without a model); or "
        "one a plugin declares (docs/plugins.md).",
    )  # fmt: skip
    model: str = Field(
        "smollm2-135m-instruct",
        max_length=500,
        description="llama: a packaged model's name or a GGUF file's path; openai: the "
        "model's name on that server.",
    )
    url: str = Field("", max_length=500, description="openai: the server's /v1 address.")
    threads: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="llama: the threads llama.cpp computes on (default: one less than the "
        "CPUs the server may use, at least one: a core left to the server and its clients).",
    )
    cost_per_token: float = Field(
        0.0, ge=0, description="What a token read or written costs (the selector weighs it)."
    )
    specialties: list[Annotated[str, Field(pattern=r"^[a-z0-9_]{1,100}$")]] = Field(
        default_factory=list,
        max_length=100,
        description="Intents it is declared good at (code_python...): the selector starts "
        "them with a good answer's worth of belief, which measurement soon outweighs.",
    )

    @model_validator(mode="after")
    def _check_url(self) -> AssistBackend:
        if self.kind == "openai" and not self.url.startswith(("http://", "https://")):
            raise InvalidParameterError(
                f"assist backend {self.name!r} is an openai server: give its url "
                "(http://host:port/v1)"
            )
        return self


def settings_file() -> Path:
    """``$AZURAFORGE_SETTINGS_FILE``, else ``$AZURAFORGE_HOME/settings.toml``."""
    named = os.environ.get(SETTINGS_FILE_VARIABLE, "").strip()
    return Path(named).expanduser() if named else default_home() / "settings.toml"


class Settings(BaseSettings):
    """Everything the platform reads from its environment.

    Examples
    --------
    >>> settings = Settings(home=Path("/srv/af"), database_url="")
    >>> settings.database_url
    'sqlite:////srv/af/azuraforge.db'
    >>> settings.work_dir, settings.blob_store
    (PosixPath('/srv/af/work'), '/srv/af/blobs')
    """

    model_config = SettingsConfigDict(env_prefix="AZURAFORGE_", extra="forbid")

    home: Path = Field(
        default_factory=default_home, description="Folder of the default store and runs."
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the store; default sqlite:///$AZURAFORGE_HOME/azuraforge.db.",
    )
    transport: Literal["local", "celery"] = Field(
        "local", description="How queued runs reach workers: local processes or Celery."
    )
    broker_url: str = Field("", description="Celery broker (redis://...), for transport=celery.")
    workers: int = Field(2, ge=0, description="Worker processes `azuraforge serve` starts.")
    api_workers: int = Field(
        1,
        ge=1,
        description="API processes `azuraforge serve` runs on its port, each with its own "
        "model cache (about one per core serves the most predict requests).",
    )
    heartbeat_interval: float = Field(5.0, gt=0, description="Seconds between lease renewals.")
    lease_ttl: float = Field(
        25.0,
        gt=0,
        description="Seconds a lease lives without renewal (a dead worker's run is reaped "
        "lost within lease_ttl + reaper_interval: 30 s by default).",
    )
    reaper_interval: float = Field(
        5.0, gt=0, description="Seconds between checks for expired leases."
    )
    duty_ttl: float = Field(
        5.0,
        gt=0,
        description="Seconds the lease of a duty that runs on one process of the store at a "
        "time (the reaper, the streams' keeper) lives without renewal: another process takes "
        "the duty over within duty_ttl + duty_renew_interval of its holder's death.",
    )
    duty_renew_interval: float = Field(
        1.5,
        gt=0,
        description="Seconds between renewals of a duty's lease (and between the tries of the "
        "processes waiting for it); its holder stops the duty when no renewal succeeded for "
        "duty_ttl - duty_renew_interval, before another can take it.",
    )
    poll_interval: float = Field(
        0.25, gt=0, description="Seconds between checks for queued runs and cancel requests."
    )
    resend_after: float = Field(
        30.0,
        gt=0,
        description="Seconds a job may wait queued and due while the Celery broker holds no "
        "message for it (a Redis restarted without its data) before a worker's reaper sends "
        "it again.",
    )
    cancel_grace: float = Field(
        30.0,
        ge=0,
        description="Seconds a cancelled run may take to stop before it is killed (training "
        "stops at the next batch; the run then scores and saves its partly trained model).",
    )
    jobs_per_process: int = Field(
        100,
        ge=1,
        description="Jobs of one process group (a study's trials) that a worker runs one "
        "after another in one process before it forks a fresh one; 1: a process for each job.",
    )
    flush_interval: float = Field(
        0.05, gt=0, description="Most seconds a logged metric waits before it is written."
    )
    output_limit: int = Field(
        1_000_000,
        ge=1_000,
        description="Characters of a run's printed output (stdout and stderr) kept among its "
        "log lines; past it the oldest printed lines are dropped, down to half of it, and a "
        "log line says so.",
    )
    held_points: int = Field(
        100_000,
        ge=1,
        description="Metric points a run holds in memory (about 160 bytes each) while neither "
        "the store nor the spool in its folder takes them (the store unreachable and the disk "
        "full); past it, new points are dropped and the run's end says how many.",
    )
    system_metrics_interval: float = Field(
        10.0,
        ge=0,
        description="Seconds between two samples of a run's CPU, memory and threads, taken in "
        "its own process and kept as its system/... metrics; 0 samples none.",
    )
    allowed_origins: CommaList[str] = Field(
        default_factory=list,
        description="Web origins besides the server's own (https://ops.example.org) whose "
        "pages may change things through the API or follow its event streams; in the "
        "environment separated by commas, or as JSON: "
        "AZURAFORGE_ALLOWED_ORIGINS=https://ops.example.org,https://af.lan",
    )
    trusted_proxies: str = Field(
        "",
        description="Addresses of the reverse proxies in front of the API whose X-Forwarded-For "
        "header names the client (uvicorn's forwarded_allow_ips: 127.0.0.1, 10.0.0.0/8, "
        "comma-separated, or * for any). Empty: a client's address is the one it connects "
        "from, whatever it sends; the sign-in throttle and the audit log go by it.",
    )
    allowed_hosts: CommaList[str] = Field(
        default_factory=list,
        description="Host names besides the loopback ones (localhost, 127.0.0.1, [::1]) that "
        "requests may be addressed to, as the Host header names them: af.example.org, "
        "192.168.1.5, *.example.org (* allows any: not recommended). Others are refused, as "
        "DNS rebinding sends them. `azuraforge serve` adds the address it is bound to (bound "
        "to 0.0.0.0, any IP address). In the environment, separated by commas: "
        "AZURAFORGE_ALLOWED_HOSTS=af.example.org,af.lan",
    )
    alert_webhooks: CommaList[str] = Field(
        default_factory=list,
        description="Addresses (http:// or https://) that streams' alerts are posted to, "
        "signed (docs/hub.md); in the environment separated by commas: "
        "AZURAFORGE_ALERT_WEBHOOKS=https://hooks.example.org/af",
    )
    stream_urls: CommaList[str] = Field(
        default_factory=list,
        description="Addresses (http:// or https://) under which a stream may poll for rows "
        "(a stream's url must be one of them or below one); none by default: no stream "
        "fetches anything. In the environment separated by commas: "
        "AZURAFORGE_STREAM_URLS=https://api.exchange.example/v1/candles",
    )
    stream_sources: CommaList[str] = Field(
        default_factory=list,
        description="Names of installed sources (entry points of azuraforge.sources, not the "
        "built-in ones) a stream may name as its plugin; none by default. In the environment "
        "separated by commas: AZURAFORGE_STREAM_SOURCES=kafka-prices",
    )
    session_key: CommaList[SecretStr] = Field(
        default_factory=list,
        description="The key browser sessions are signed with, if not the store's "
        "(docs/security.md, Keys): at least 32 characters, or several separated by commas, "
        "the first signing and every one still read (a rotation). None: the store's keys, "
        "made on first use. AZURAFORGE_SESSION_KEY=<64 hex digits>",
    )
    webhook_key: CommaList[SecretStr] = Field(
        default_factory=list,
        description="The key alert webhooks are signed with, if not the store's "
        "(docs/security.md, Keys): at least 32 characters (of several separated by commas, "
        "the first signs). None: the store's key, made on first use. "
        "AZURAFORGE_WEBHOOK_KEY=<64 hex digits>",
    )
    alert_interval: float = Field(
        5.0, gt=0, description="Seconds between two looks at the streams' alert rules."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="The token Prometheus sends to read /metrics (docs/operations.md): "
        "'Authorization: Bearer <token>', at least 32 characters; a server admin's credential "
        "opens it too. None: /metrics answers clients on this machine (loopback) when the "
        "server listens there alone, else a server admin's credential alone. "
        "AZURAFORGE_METRICS_TOKEN=<64 hex digits>",
    )
    host: str = Field(
        "127.0.0.1",
        description="The address the API listens on, which `azuraforge serve --host` sets: one "
        "beyond loopback (0.0.0.0, a LAN address) lets no one read /metrics without a "
        "credential, from this machine either.",
    )
    max_request_bytes: int = Field(
        1_000_000, gt=0, description="Largest request body the API accepts."
    )
    max_artifact_bytes: int = Field(
        1_000_000_000,
        gt=0,
        description="Largest file a run written from outside (an external run: your own code, "
        "azuraforge run's recording) may upload among its files, streamed to the blob store.",
    )
    max_upload_bytes: int = Field(
        50_000_000,
        gt=0,
        description="Largest data file a project's editor may upload into its data folder "
        "(PUT /data/{file}, azuraforge data upload), streamed to disk, then read whole once "
        "to be checked.",
    )
    run_idle_limit: float = Field(
        600.0,
        ge=1,
        le=7 * 86_400,
        description="Seconds an external run stays alive without a word from its writer unless "
        "it asks for another limit when made: each write, or an empty one (a heartbeat), keeps "
        "it alive that long; past it the reaper ends the run lost and its credential is "
        "refused.",
    )
    model_cache_size: int = Field(
        8, ge=1, description="Model versions the API keeps loaded for predict (LRU)."
    )
    alias_refresh: float = Field(
        0.25,
        gt=0,
        description="Seconds between checks of where the aliases served (name@alias) point: "
        "a moved alias is served from its new version within this plus the version's load.",
    )
    max_predict_rows: int = Field(
        10_000, ge=1, description="Most rows a synchronous predict request may send."
    )
    predict_batch_wait: float = Field(
        0.002,
        ge=0,
        le=0.05,
        description="Most seconds a predict request waits for others to the same model version "
        "to share its forward pass: requests that arrive together are predicted in one batch, "
        "the batch closed as soon as no more arrive (a lone request does not wait) or this "
        "has passed since its first; 0 predicts each request alone.",
    )
    data_dir: Path = Field(
        default_factory=lambda fields: fields["home"] / "data",
        description="The projects' data folders, whose files jobs submitted through the API "
        "may read (their file settings, such as a forecaster's csv): the default project's is "
        "this folder less its projects folder, another project's projects/<name> in it; "
        "default home/data.",
    )
    plugins_dir: Path | None = Field(
        None,
        description="A folder of plugin files (*.py directly in it) imported at start by "
        "every API server, worker and command: each adds pipelines, stream sources, job kinds "
        "or assistant backends (docs/platform.md, Plugin folder); none by default. Every "
        "replica must be given the same files: /health reports a replica whose set differs.",
    )
    blob_store: str = Field(
        default_factory=lambda fields: str(fields["home"] / "blobs"),
        description="Where the platform keeps its files (artifacts, reports, registered models, "
        "predictions' inputs and outputs, stream snapshots): a folder (default home/blobs, or "
        "file:///srv/af/blobs), or a bucket of an S3-compatible object store that every API "
        "server and worker shares, s3://bucket/prefix, with s3_endpoint; its credentials come "
        "from boto3's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), never "
        "from this object.",
    )
    assist_backends: list[AssistBackend] = Field(
        default_factory=list,
        description="The assistant's backends (docs/assist.md). None declared: one named "
        "local, the packaged SmolLM2-135M through llama.cpp (the assist extra), loaded at the "
        "first message; without the extra the chat answers 503 saying what to install. In "
        "the environment a JSON list: "
        'AZURAFORGE_ASSIST_BACKENDS=\'[{"name": "local", "kind": "llama"}]\'',
    )
    assist_max_tokens: int = Field(
        1024, ge=1, le=32_768, description="Most tokens one chat answer may ask for."
    )
    assist_selector_discount: float = Field(
        1.0,
        gt=0,
        le=1,
        description="How fast the backend selector forgets (docs/assist.md): each answer of a "
        "task type weighs its earlier verdicts by this factor. 1 (the default) keeps every "
        "count and forgets a candidate's only when its change test sees it change; below 1 "
        "also discounts every count at each answer (0.9 was the default until issue 63: it "
        "could not tell 3.5 % from 7.5 % good answers apart).",
    )
    assist_cache_url: str = Field(
        "",
        max_length=500,
        description="Where deterministic chat answers (temperature 0) are kept for the same "
        "request: empty, the store's own table (the embedded default); redis://host:6379/1, "
        "a Redis every API process shares (the cluster path).",
    )
    assist_cache_ttl: float = Field(
        86_400.0, ge=0, description="Seconds a cached answer is served; 0 turns the cache off."
    )
    assist_cache_entries: int = Field(
        10_000, ge=1, description="Most answers a project's cache holds (the oldest go first)."
    )
    assist_guardian: bool = Field(
        True,
        description="Run the code of each code answer behind bubblewrap (syntax and a clean "
        "run), keep the finding on the turn and count it as a verdict (docs/assist.md); "
        "without bubblewrap no code runs and each check says why.",
    )
    assist_nightly: bool = Field(
        True,
        description="Run each project's nightly pass over the day's turns once a day (facts "
        "into memory, failure patterns, fine-tunes of experts with enough approved examples: "
        "docs/assist.md).",
    )
    assist_nightly_hour: int = Field(
        3, ge=0, le=23, description="The hour (UTC) after which the nightly pass runs."
    )
    assist_fine_tune_after: int = Field(
        20,
        ge=1,
        le=1_000_000,
        description="Approved examples of an expert, not yet trained on, after which the "
        "nightly pass starts its fine-tune.",
    )
    assist_memory: bool = Field(
        True,
        description="Keep each message a user sends in a chat as long-term memory (their own, "
        "in the project), searched when a message asks about earlier conversations.",
    )
    assist_memory_url: str = Field(
        "",
        max_length=500,
        description="Where the long-term memory lives: empty, the store's own database "
        "(on PostgreSQL, with pgvector, which its server must have) or, embedded, a SQLite "
        "file of its own beside the store's (azuraforge-memory.db, with sqlite-vec); or "
        "another database, sqlite:///path (never the store's own file) or "
        "postgresql://host/db.",
    )
    s3_endpoint: str = Field(
        "",
        description="Address of the S3-compatible server of an s3:// blob_store "
        "(http://minio.lan:9000, SeaweedFS's http://127.0.0.1:8333); empty: AWS itself.",
    )
    log_level: Literal["NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "NOTSET",
        description="The level of the azuraforge loggers (NOTSET: as the process's logging "
        "is configured, WARNING and above by default); below WARNING, their records are "
        "written to stderr. Live: set through the API it applies at once "
        "(docs/operations.md, Live settings).",
    )
    settings_poll_interval: float = Field(
        0.2,
        gt=0,
        le=60,
        description="Seconds between two looks of an API process at the store for a newer "
        "version of the live settings (docs/operations.md, Live settings).",
    )

    @field_validator("metrics_token", mode="after")
    @classmethod
    def _check_token(cls, token: SecretStr | None) -> SecretStr | None:
        given = 0 if token is None else len(token.get_secret_value().strip())
        if token is not None and given < MIN_TOKEN:
            raise InvalidParameterError(
                f"{given} characters, at least {MIN_TOKEN} needed; make one with: python -c "
                "'import secrets; print(secrets.token_hex(32))'"
            )
        return token

    @field_validator("allowed_hosts", mode="after")
    @classmethod
    def _check_hosts(cls, hosts: list[str]) -> list[str]:
        return [allowed_host_entry(host) for host in hosts if host.strip()]

    @field_validator("alert_webhooks", "stream_urls", mode="after")
    @classmethod
    def _check_urls(cls, urls: list[str], info: ValidationInfo) -> list[str]:
        found = [url.strip() for url in urls if url.strip()]
        for url in found:
            if not url.startswith(("http://", "https://")) or len(url) > 500:
                raise InvalidParameterError(
                    f"{info.field_name}: {url[:100]!r} is not an http:// or https:// address "
                    "of at most 500 characters"
                )
        return found

    @field_validator("assist_memory_url", "assist_cache_url", mode="after")
    @classmethod
    def _check_service_url(cls, url: str, info: ValidationInfo) -> str:
        schemes, what = _SERVICE_URLS[str(info.field_name)]
        if url and (not url.startswith(schemes) or url.rstrip("/") in ("sqlite:", "sqlite:/")):
            raise InvalidParameterError(f"{url[:100]!r} is not {what}")
        return url

    @field_validator("assist_backends", mode="after")
    @classmethod
    def _check_kinds(
        cls, backends: list[AssistBackend], info: ValidationInfo
    ) -> list[AssistBackend]:
        """Each backend's kind one there is, once this process loaded the plugin folder these
        settings name (a change of the live settings); before (the settings a process starts
        with), the chat checks them when it is made, the folder loaded."""
        from azuraforge.assist.backends.registry import check_kinds
        from azuraforge.learn.plugin_folder import loaded_folder

        folder = info.data.get("plugins_dir")
        if backends and loaded_folder().folder == (folder.resolve() if folder else None):
            check_kinds((backend.name, backend.kind) for backend in backends)
        return backends

    @field_validator("home", "data_dir", "plugins_dir", mode="after")
    @classmethod
    def _expand(cls, folder: Path | None) -> Path | None:
        return None if folder is None else folder.expanduser()

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'azuraforge.db'}"
        if _same_sqlite_file(self.assist_memory_url, self.database_url):
            raise InvalidParameterError(
                "assist_memory_url names the store's own SQLite file; give the memory a file "
                "of its own (or leave it empty: azuraforge-memory.db beside the store)"
            )
        if self.transport == "celery" and not self.broker_url:
            raise InvalidParameterError(
                "transport is 'celery' but no broker is set: set AZURAFORGE_BROKER_URL=redis://host:6379/0"
            )
        if self.heartbeat_interval >= self.lease_ttl:
            raise InvalidParameterError(
                f"heartbeat_interval ({self.heartbeat_interval} s) must be shorter than lease_ttl "
                f"({self.lease_ttl} s), or every lease expires between renewals"
            )
        if 2 * self.duty_renew_interval >= self.duty_ttl:
            raise InvalidParameterError(
                f"duty_renew_interval ({self.duty_renew_interval} s) must be under half of "
                f"duty_ttl ({self.duty_ttl} s): a duty's holder acts for duty_ttl - "
                "duty_renew_interval after each renewal, so it would stop between two"
            )
        return self

    @property
    def work_dir(self) -> Path:
        """Where this machine's jobs write their files while they run, each in a folder named
        by its id (``home/work/<id>``), removed once the blob store keeps them."""
        return self.home / "work"

    @property
    def cache_dir(self) -> Path:
        """Where this machine keeps copies of blobs it reads as files (a registered model's,
        a stream's snapshot), made on first use: ``home/cache``."""
        return self.home / "cache"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _file_settings(settings_cls)


def _file_settings(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource:
    """The settings file's values (none when it does not exist).

    Raises
    ------
    InvalidParameterError
        Naming the file, when it cannot be read or is not TOML (one line, not a traceback).
    """
    path = settings_file()
    try:
        return TomlConfigSettingsSource(settings_cls, path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        problem = str(e).replace("\n", " ")
        raise InvalidParameterError(
            f"settings file {path} is not valid TOML: {problem}; fix it, or name another file "
            f"with {SETTINGS_FILE_VARIABLE}"
        ) from None
    except OSError as e:
        raise InvalidParameterError(
            f"cannot read settings file {path}: {e.strerror or e}; fix it, or name another "
            f"file with {SETTINGS_FILE_VARIABLE}"
        ) from None


_SERVICE_URLS: dict[str, tuple[tuple[str, ...], str]] = {
    "assist_memory_url": (
        ("sqlite:///", "postgresql://", "postgresql+psycopg://"),
        "a database address for the memory (sqlite:///path, postgresql://host/db); empty "
        "keeps it beside the store",
    ),
    "assist_cache_url": (
        ("redis://", "rediss://", "unix://"),
        "a Redis address (redis://host:6379/1, rediss://..., unix://...); empty keeps the "
        "cache in the store",
    ),
}
"""The schemes each service address may have, and what the error says it must be."""


def _same_sqlite_file(first: str, second: str) -> bool:
    """Whether two database URLs name one SQLite file."""
    files = [
        url.removeprefix("sqlite:///") for url in (first, second) if url.startswith("sqlite:///")
    ]
    return len(files) == 2 and all(files) and Path(files[0]).resolve() == Path(files[1]).resolve()
