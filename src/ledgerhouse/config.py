"""Typed settings: built once (environment ``LEDGERHOUSE_*`` and an optional TOML file), then
passed in. Nothing here opens a connection or touches the disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "LEDGERHOUSE_CONFIG"


class Settings(BaseSettings):
    """Every setting Ledgerhouse reads. Documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="LEDGERHOUSE_", extra="forbid")

    root: Path = Field(
        default=Path("./warehouse"), description="Warehouse directory (Delta tables + metadata)."
    )
    metadata_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; default sqlite:///<root>/metadata.db.",
    )
    default_tenant: str = Field(default="default", description="Tenant used when none is named.")
    max_error_rate: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Share of bad rows above which a batch is rejected whole.",
    )
    max_upload_bytes: int = Field(
        default=2 * 1024**3, gt=0, description="Largest ingestion payload accepted."
    )
    max_decoded_bytes: int = Field(
        default=4 * 1024**3,
        gt=0,
        description="Most bytes one ingestion payload may decode to (compressed Parquet and "
        "Arrow expand); counted while decoding, refused (413) as soon as passed.",
    )
    max_batch_rows: int = Field(
        default=20_000_000, gt=0, description="Most rows one ingestion payload may hold."
    )
    max_json_body_bytes: int = Field(
        default=1024**2,
        gt=0,
        description="Largest request body outside ingestion (the JSON of query, cube, "
        "analytics and admin routes).",
    )
    body_read_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Longest a request body may take to arrive in full before a 408.",
    )
    max_field_chars: int = Field(
        default=4096, gt=0, description="Longest text value accepted in any field."
    )
    max_future_days: int = Field(
        default=5,
        ge=0,
        description="Trades, prices, positions and performance dated more than this many days "
        "after the load date are quarantined.",
    )
    allow_non_business_days: bool = Field(
        default=False,
        description="Accept trades dated on a day that is not a business day (dim_date): for "
        "tenants that trade every day (crypto).",
    )
    price_band: float = Field(
        default=0.5,
        ge=0,
        description="A trade's price may differ from its instrument's prevailing close by at "
        "most this share of it (0.5 = ±50%); 0 turns the rule off.",
    )
    price_jump_factor: float = Field(
        default=10.0,
        ge=0,
        description="A close more than this many times (or less than 1/this of) the previous "
        "close is quarantined unless the next close confirms it; 0 turns the rule off.",
    )
    notional_outlier_factor: float = Field(
        default=10.0,
        ge=0,
        description="A trade's notional above this many times the 99th percentile of its "
        "instrument's notionals is an outlier; 0 turns the rule off.",
    )
    notional_outlier_min_history: int = Field(
        default=50,
        ge=1,
        description="Notionals an instrument needs before the outlier rule judges its trades.",
    )
    notional_outlier_action: str = Field(
        default="warn",
        pattern=r"^(warn|quarantine|off)$",
        description="What a notional outlier gets: a warning in the batch report (the trade is "
        "loaded), quarantine, or nothing.",
    )
    query_engine: str = Field(
        default="duckdb",
        min_length=1,
        max_length=64,
        description="The engine that runs queries: a name registered in "
        "ledgerhouse.storage.engines (docs/engines.md).",
    )
    duckdb_memory_limit: str = Field(default="4GB", description="DuckDB memory_limit per tenant.")
    duckdb_threads: int = Field(default=2, gt=0, description="DuckDB threads per tenant.")
    query_row_limit: int = Field(
        default=100_000, gt=0, description="Most rows a SQL query returns."
    )
    query_timeout_s: float = Field(
        default=60.0, gt=0, description="Longest a SQL query may run before it is interrupted."
    )
    result_cache_bytes: int = Field(
        default=256 * 1024**2, ge=0, description="Memory for cached query results (0 = off)."
    )
    query_concurrency: int = Field(
        default=4, gt=0, description="Queries of one tenant that run at the same time."
    )
    query_queue: int = Field(
        default=16, ge=0, description="Queries of one tenant that may wait for a slot."
    )
    query_queue_wait_s: float = Field(
        default=10.0, gt=0, description="Longest a query waits for a slot before a 429."
    )
    serving_native_rows: int = Field(
        default=2_000_000,
        ge=0,
        description="Marts, rollups and dimensions up to this many rows are served from "
        "in-memory copies of their pinned version (0 = always read Parquet).",
    )
    reporting_currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency the cubes' money measures are in: amounts are "
        "converted to it from the portfolio's base currency at the business date's FX rate "
        "when they are loaded.",
    )
    cube_dir: Path | None = Field(
        default=None,
        description="Folder of extra cube YAML files (a cube named like a built-in replaces it).",
    )
    openlineage: str = Field(
        default="file",
        pattern=r"^(file|http|off)$",
        description="OpenLineage run events of every writing job: `file` (NDJSON under "
        "<root>/lineage/openlineage/<tenant>/), `http` (also sent to openlineage_url, e.g. "
        "Marquez, from a background thread) or `off`.",
    )
    openlineage_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="Base URL of the OpenLineage receiver (Marquez: http://host:5000) when "
        "openlineage is `http`; events are POSTed to <url>/api/v1/lineage.",
    )
    openlineage_api_key: str | None = Field(
        default=None,
        description="Bearer token sent with each event when openlineage is `http` (optional).",
    )
    lineage_capture: bool = Field(
        default=True,
        description="Work out the columns each query, cube query and analytics call read "
        "(query log and audit trail), in the query log's background thread; `false` records "
        "relations and versions only.",
    )
    quality_webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="URL that receives one JSON event (POST) per failing quality check, after "
        "the commit or the rejection, from a background thread (2 s timeout, one retry).",
    )
    # single sign-on: OIDC bearer tokens besides API keys (docs/tenancy/sso.md)
    oidc_issuer: str | None = Field(
        default=None,
        min_length=1,
        description="Issuer (`iss`) of the single sign-on tokens accepted; unset: SSO is off "
        "and only API keys are accepted.",
    )
    oidc_audience: str | None = Field(
        default=None,
        min_length=1,
        description="Audience (`aud`) a token must name (comma-separated: any of them); "
        "required with oidc_issuer.",
    )
    oidc_jwks: str | None = Field(
        default=None,
        min_length=1,
        validate_default=True,
        description="The issuer's public key set (JWKS): an http(s) URL (fetched when a token "
        "first needs it, then cached) or a file path; required with oidc_issuer.",
    )
    oidc_algorithms: str = Field(
        default="RS256,ES256",
        description="Signature algorithms accepted (comma-separated; asymmetric only).",
    )
    oidc_leeway_s: float = Field(
        default=30.0, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat."
    )
    oidc_tenant_claim: str = Field(
        default="tenant", min_length=1, description="Claim that names the caller's tenant."
    )
    oidc_user_claim: str = Field(
        default="sub", min_length=1, description="Claim that names the caller (the user)."
    )
    oidc_roles_claim: str = Field(
        default="roles",
        min_length=1,
        description="Claim with the caller's roles (a list, or a space-separated text).",
    )
    oidc_attributes_claim: str | None = Field(
        default="attributes",
        description="Object claim whose keys become the principal's attributes (row policy "
        "parameters); empty: none.",
    )
    oidc_attribute_claims: str | None = Field(
        default=None,
        description="More attributes from single claims: `attr=claim,...` (a dotted claim "
        "reads a nested object), e.g. `desks=desks,client=client_id`.",
    )
    oidc_platform_role: str | None = Field(
        default="platform_admin",
        description="A token role that makes the caller the platform admin (above tenants); "
        "empty: no token ever does.",
    )
    oidc_jwks_refresh_s: float = Field(
        default=300.0, gt=0, description="How long a fetched JWKS URL's key set is used."
    )
    oidc_jwks_min_refresh_s: float = Field(
        default=10.0,
        ge=0,
        description="Fewest seconds between two fetches of the JWKS URL caused by an unknown "
        "key id.",
    )
    oidc_jwks_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Timeout of one fetch of the JWKS URL."
    )
    tenant_retention_days: int = Field(
        default=30,
        ge=0,
        le=36_500,
        description="Days a deleted tenant is kept (exported, refused, resumable) before "
        "`ledgerhouse tenants purge` may remove it (docs/tenancy/lifecycle.md).",
    )
    overload_pause_s: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="Seconds the server waits before answering a 429 (a tenant over its "
        "concurrency, queue or request rate): a client that resends at once, ignoring "
        "Retry-After, then costs the other tenants nothing (docs/tenancy/resources.md).",
    )
    rollup_advisor: Literal["off", "auto"] = Field(
        default="off",
        description="auto: apply the rollup advisor's proposals for a tenant after "
        "`rollup_advisor_every` of its cube queries the star answered "
        "(docs/tenancy/rollups.md); off: only `ledgerhouse optimize advise --apply`.",
    )
    rollup_advisor_every: int = Field(
        default=20, ge=1, le=1_000_000,
        description="Cube queries answered by the star between two automatic advisor runs.",
    )  # fmt: skip
    rollup_advisor_min_queries: int = Field(
        default=5, ge=1, le=1_000_000,
        description="Queries a proposal must answer to be applied automatically.",
    )  # fmt: skip
    rollup_advisor_max_ratio: float = Field(
        default=0.1, gt=0, le=1,
        description="Largest rollup (its rows / the fact's rows) applied automatically.",
    )  # fmt: skip
    host: str = Field(default="127.0.0.1", description="Address `serve` binds to.")
    port: int = Field(default=8000, gt=0, lt=65536, description="Port `serve` listens on.")
    log_level: str = Field(default="INFO", description="Logging level.")

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return v

    @field_validator("price_jump_factor")
    @classmethod
    def _jump(cls, v: float) -> float:
        if 0 < v <= 1:
            raise ValueError("price_jump_factor must be above 1 (or 0 to turn the rule off)")
        return v

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", v.strip()):
            raise ValueError("duckdb_memory_limit must look like '4GB' or '512MiB'")
        return v.strip()

    @field_validator("oidc_algorithms")
    @classmethod
    def _oidc_algorithms(cls, v: str) -> str:
        algorithms = [a.strip() for a in v.split(",") if a.strip()]
        asymmetric = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"}
        asymmetric |= {"ES512", "EdDSA"}
        bad = [a for a in algorithms if a not in asymmetric]
        if bad or not algorithms:
            raise ValueError(
                f"oidc_algorithms may name only asymmetric algorithms "
                f"({', '.join(sorted(asymmetric))}), not {bad or 'nothing'}: a public key set "
                "cannot verify an HMAC (HS256) token"
            )
        return ",".join(algorithms)

    @field_validator("oidc_jwks")
    @classmethod
    def _oidc_complete(cls, v: str | None, info: ValidationInfo) -> str | None:
        # oidc_jwks comes after oidc_issuer and oidc_audience, and is validated even unset
        if info.data.get("oidc_issuer") and not (info.data.get("oidc_audience") and v):
            missing = [] if info.data.get("oidc_audience") else ["oidc_audience"]
            missing += [] if v else ["oidc_jwks"]
            raise ValueError(
                f"oidc_issuer is set but {' and '.join(missing)} not: single sign-on needs "
                "the issuer, the audience and the key set (LEDGERHOUSE_OIDC_ISSUER, "
                "LEDGERHOUSE_OIDC_AUDIENCE, LEDGERHOUSE_OIDC_JWKS)"
            )
        return v

    @property
    def resolved_metadata_url(self) -> str:
        if self.metadata_url:
            return self.metadata_url
        return f"sqlite:///{self.root.resolve() / 'metadata.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def _check_toml(path: Path) -> None:
    """Refuse a config file that is not TOML with a ConfigError naming the file, the line and
    the problem (the settings source would raise tomllib's error from deep inside pydantic)."""
    import re
    import tomllib

    from ledgerhouse.errors import ConfigError

    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text ({exc.reason})",
            hint="Save the file as UTF-8 TOML.",
            file=str(path),
        ) from None
    except tomllib.TOMLDecodeError as exc:
        text = str(exc)
        where = re.search(r"\(at line (\d+), column (\d+)\)", text)
        problem = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", text)
        line, column = (int(where[1]), int(where[2])) if where else (None, None)
        at = f"line {line}, column {column}" if where else "at the end of the file"
        raise ConfigError(
            f"config file {path}, {at}: {problem}",
            hint='Fix the TOML there (each setting is `name = value`, a text value in "quotes"), '
            f"or unset {CONFIG_FILE_ENV}.",
            file=str(path),
            line=line,
            column=column,
        ) from None


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the settings once; a bad value raises ConfigError naming it."""
    from pydantic import ValidationError

    from ledgerhouse.errors import ConfigError

    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and not Path(config_file).is_file():
        raise ConfigError(
            f"{CONFIG_FILE_ENV} names {config_file!r}, which is not a file",
            hint="Point it at a TOML file or unset it.",
        )
    if config_file:
        _check_toml(Path(config_file))
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"setting {field!r} is invalid: {first['msg']}",
            hint=f"Fix LEDGERHOUSE_{field.upper()} or the {field} key of the config file.",
        ) from exc
