from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All configuration, read from ``REGISTRY_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    # With no URL the service runs its own PostgreSQL in ``data_dir / "pg"``. On a real server
    # this is the service's least-privilege role; the owner's URL runs migrations and backups.
    database_url: str | None = None
    owner_database_url: str | None = None
    data_dir: Path = Field(default=REPO_ROOT / ".data")
    embedded_pg_port: int = 54329
    # The embedded server's buffer cache (PostgreSQL's size syntax). 256MB suits the demo; a
    # large dataset's benchmarks want its working set in it (docs/performance.md).
    embedded_pg_shared_buffers: str = Field(default="256MB", pattern=r"^[1-9][0-9]{0,6}(kB|MB|GB)$")
    # Folder holding initdb/pg_ctl; found automatically when unset.
    pg_bin_dir: Path | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    debug: bool = False
    db_pool_size: int = 10
    # Bearer token for GET /metrics; unset, only the loopback and private networks may read it.
    metrics_token: str | None = None
    # Set when served over HTTPS (behind a proxy that terminates TLS): cookies get ``Secure``.
    secure_cookies: bool = False
    # Loaded on the first start of an empty database by ``registry serve``.
    seed_demo: bool = True
    # Where users reach the service; printed into certificates' QR codes and verification links.
    public_url: str | None = None
    # The Ed25519 key that signs certificates; made on first use. Default: data_dir/keys/.
    signing_key_path: Path | None = None
    # Seconds between a running job's heartbeats; a job silent for three is queued again.
    job_heartbeat_seconds: float = 5.0
    # Worker processes that render certificate PDFs (default: one per core).
    render_workers: int | None = None
    # Reminders by email: off unless an SMTP server is named.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "registry@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    # Public register (/register): lookups a client may make a minute (per server process).
    register_lookups_per_minute: int = Field(default=10, ge=1, le=10_000)
    # Uploaded import files are deleted this many days after their job ended (the job's record,
    # problems and counts stay; committing a check that old asks for the file again).
    import_retention_days: float = 7

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def key_path(self) -> Path:
        return self.signing_key_path or self.data_dir / "keys" / "certificate-signing-ed25519.pem"

    @property
    def embedded(self) -> bool:
        return self.database_url is None
