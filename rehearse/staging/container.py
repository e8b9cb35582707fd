"""The docker backend: PostgreSQL in a throwaway container of the source's major version.

The image is ``rehearse-postgres:<major>`` (built locally by scripts/docker-up.sh from
docker/postgres; nothing is pulled), or whatever ``--image`` names. The container uses
host networking and listens on a free port of 127.0.0.1 only, so no traffic leaves
loopback and no NAT rules are needed. ``--reuse`` commits the populated container as a
``rehearse-template`` image; later runs start from it copy-on-write. Containers carry labels with the run id, owner pid
and host, so ``rehearse gc`` finds them even if the run registry lost track; rehearse
removes them itself (testcontainers' Ryuk reaper is disabled: its image cannot be pulled).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from .. import errors, model
from . import registry
from .cluster import THROWAWAY_SETTINGS
from .common import database_name, free_port, server_version, version_warning
from .interface import BackendRequest, register_backend, register_resource, register_sweeper

LABEL_RUN = "org.rehearse.run_id"
LABEL_PID = "org.rehearse.pid"
LABEL_PID_START = "org.rehearse.pid_start"
LABEL_HOST = "org.rehearse.host"
IMAGE_REPO = "rehearse-postgres"
TEMPLATE_REPO = "rehearse-template"
LABEL_TPL_DATABASE = "org.rehearse.template.database"
LABEL_TPL_SECRET = "org.rehearse.template.password"
LABEL_TPL_USED = "org.rehearse.template.created"
LABEL_TPL_BASE = "org.rehearse.template.image"
KEEP_TEMPLATES = int(os.environ.get("REHEARSE_KEEP_TEMPLATES", "3"))
DEFAULT_SOCKETS = ("/var/tmp/rehearse-docker/docker.sock", "/var/run/docker.sock")


def docker_host() -> str:
    """DOCKER_HOST, else the engine scripts/docker-up.sh starts, else the system one."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    for sock in DEFAULT_SOCKETS:
        if Path(sock).exists():
            return f"unix://{sock}"
    return f"unix://{DEFAULT_SOCKETS[-1]}"


def _unavailable(host: str, why: str) -> errors.DockerUnavailable:
    return errors.DockerUnavailable(
        f"--staging docker needs a Docker engine, but none answers at {host} ({why})",
        hint="start one with scripts/docker-up.sh (or set DOCKER_HOST), or use --staging local")


def client(host: str | None = None):
    """A docker SDK client that has answered a ping, else DockerUnavailable."""
    host = host or docker_host()
    if host.startswith("unix://") and not Path(host[len("unix://"):]).exists():
        raise _unavailable(host, "no such socket")
    try:
        import docker
    except ImportError:
        raise _unavailable(host, "the docker Python package is not installed") from None
    try:
        cli = docker.DockerClient(base_url=host, timeout=30)
        cli.ping()
    except Exception as exc:
        raise _unavailable(host, " ".join(str(exc).split())[:120]) from None
    return cli


def _configure_testcontainers(host: str) -> None:
    # testcontainers reads these at import time; the config object is updated too in case it
    # was imported already. Ryuk cannot be pulled here and rehearse removes its containers itself;
    # docker_host mode because this VM has a /.dockerenv and would otherwise look "inside docker".
    os.environ["DOCKER_HOST"] = host
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    from testcontainers.core.config import ConnectionMode, testcontainers_config as tc

    tc.ryuk_disabled = os.environ["TESTCONTAINERS_RYUK_DISABLED"].lower() == "true"
    if os.environ["TESTCONTAINERS_CONNECTION_MODE"] == "docker_host":
        tc.connection_mode_override = ConnectionMode.docker_host


def pick_image(cli, source: model.SourceInfo | None, image: str | None) -> tuple[str, str | None]:
    """The image to run and a warning when its major differs from production's."""
    from docker.errors import ImageNotFound

    if image:
        try:
            cli.images.get(image)
        except ImageNotFound:
            raise errors.BadInput(f"the image {image} given with --image does not exist in the Docker engine",
                                  hint="build or load it first (rehearse never pulls images)") from None
        return image, None
    tags = sorted({t for img in cli.images.list(name=IMAGE_REPO) for t in img.tags},
                  key=lambda t: int(re.sub(r"\D", "", t.rsplit(":", 1)[1]) or 0))
    majors = {int(t.rsplit(":", 1)[1]): t for t in tags if t.rsplit(":", 1)[1].isdigit()}
    if not majors:
        raise errors.DockerUnavailable(
            f"the Docker engine has no {IMAGE_REPO} image",
            hint="build it once with scripts/docker-up.sh, or pass --image")
    if source is not None and source.major in majors:
        return majors[source.major], None
    newest = max(majors)
    warning = None
    if source is not None:
        warning = (f"production runs PostgreSQL {source.server_version} but there is no {IMAGE_REPO}:{source.major} "
                   f"image; staging uses {IMAGE_REPO}:{newest}, so results may differ "
                   f"(build one with REHEARSE_PG_MAJORS={source.major} scripts/docker-up.sh)")
    return majors[newest], warning


class DockerBackend:
    kind = "docker"

    def __init__(self, run: registry.RunRecord, source: model.SourceInfo | None, *, image: str | None) -> None:
        self.run = run
        self.source = source
        self.host = docker_host()
        self.cli = client(self.host)
        self.image, warning = pick_image(self.cli, source, image)
        self.warnings = [warning] if warning else []
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.name = f"rehearse-{run.run_id}"[:63]
        self.database = database_name(source)
        self.container = None
        self.entry: dict | None = None

    def _template_tag(self, template: str) -> str:
        # a template belongs to the image it was made from: --image X never reuses one made on Y
        import hashlib

        return f"{TEMPLATE_REPO}:{template[:24]}-{hashlib.sha256(self.image.encode()).hexdigest()[:8]}"

    def _find_template(self, template: str) -> tuple[str, dict] | None:
        from docker.errors import ImageNotFound

        tag = self._template_tag(template)
        try:
            img = self.cli.images.get(tag)
        except ImageNotFound:
            return None
        labels = img.labels or {}
        if labels.get(LABEL_TPL_DATABASE) and labels.get(LABEL_TPL_SECRET):
            return tag, labels
        return None

    def start(self, template: str | None) -> model.StagingDatabase:
        _configure_testcontainers(self.host)
        run_image = self.image
        from_template = False
        if template:
            found = self._find_template(template)
            if found is not None:
                run_image, labels = found
                self.database, self.password = labels[LABEL_TPL_DATABASE], labels[LABEL_TPL_SECRET]
                from_template = True
        labels = {LABEL_RUN: self.run.run_id, LABEL_PID: str(os.getpid()), LABEL_HOST: registry.hostname(),
                  LABEL_PID_START: str(registry.process_start(os.getpid()))}
        pc = _make_class()(run_image, port=self.port, username="postgres", password=self.password,
                           dbname=self.database)
        pc.with_name(self.name).with_env("PGPORT", str(self.port)).with_env("POSTGRES_LISTEN", "127.0.0.1")
        pc.with_command(["postgres", *_throwaway_args()])
        pc.with_kwargs(network_mode="host", labels=labels, shm_size="256m")
        pc.ports = {}  # host networking: nothing to publish
        self.entry = self.run.add("container", name=self.name, docker_host=self.host)
        self.container = pc
        try:
            pc.start()
        except Exception as exc:
            logs = ""
            try:
                logs = " | ".join(pc.get_wrapped_container().logs(tail=5).decode(errors="replace").splitlines())
            except Exception:
                pass
            raise errors.StagingError(f"the staging container ({self.image}) did not start: "
                                      f"{' '.join(str(exc).split())[:200]} {logs}".strip(),
                                      hint=f"see docker logs {self.name}") from None
        version, num = server_version(self.admin_dsn())
        warning = version_warning(self.source, version, num, f"the staging container ({self.image})")
        if warning and not self.warnings:
            self.warnings.append(warning)
        return model.StagingDatabase(
            kind="docker", url=self.url(), dsn=self.admin_dsn(), database=self.database, server_version=version,
            server_version_num=num, run_id=self.run.run_id, connect_hint=self.hint(),
            warnings=tuple(self.warnings), from_template=from_template,
        )

    def save_template(self, template: str) -> None:
        """Stop PostgreSQL cleanly, commit the container as an image, start it again.

        With overlay2 a container from that image starts copy-on-write, whatever the data size.
        The image keeps the container's random password in a label (the server listens on
        127.0.0.1 only and anyone who can read image labels controls the engine anyway).
        """
        if self.container is None or self._find_template(template) is not None:
            return
        wrapped = self.container.get_wrapped_container()
        wrapped.stop(timeout=60)  # STOPSIGNAL SIGINT: fast shutdown, a clean data directory
        wrapped.commit(repository=self._template_tag(template).split(":")[0],
                       tag=self._template_tag(template).split(":", 1)[1],
                       conf={"Labels": {LABEL_TPL_DATABASE: self.database, LABEL_TPL_SECRET: self.password,
                                        LABEL_TPL_USED: str(int(time.time())), LABEL_TPL_BASE: self.image}})
        wrapped.start()
        self.container._connect()
        prune_templates(self.cli, KEEP_TEMPLATES)

    def admin_dsn(self) -> str:
        return (f"host=127.0.0.1 port={self.port} user=postgres password={self.password} "
                f"dbname={self.database}")

    def url(self) -> str:
        return f"postgresql+psycopg2://postgres:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def hint(self) -> str:
        return (f"docker exec -it {self.name} psql -U postgres -d {self.database}  "
                f"(DOCKER_HOST={self.host}; remove it with: rehearse gc --kept, or docker rm -f {self.name})")

    def keep(self) -> str:
        return self.hint()

    def close(self) -> None:
        if self.entry is None:
            return
        remove_container(self.name, self.host)
        self.run.drop(self.entry)
        self.entry = None
        try:
            self.cli.close()
        except Exception:
            pass


def _throwaway_args() -> list[str]:
    args: list[str] = []
    for name, value in THROWAWAY_SETTINGS.items():
        if name not in ("listen_addresses", "min_wal_size"):  # entrypoint: 127.0.0.1; image: 16 MB WAL segments
            args += ["-c", f"{name}={value}"]
    return args


def _make_class():
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers < 4.14
        from testcontainers.postgres import PostgresContainer

    class HostNetworkPostgres(PostgresContainer):
        """PostgresContainer on the host network: ready when 127.0.0.1:<port> answers from here."""

        def _connect(self) -> None:
            import psycopg2

            deadline = time.monotonic() + 120
            dsn = (f"host=127.0.0.1 port={self.port} user={self.username} password={self.password} "
                   f"dbname={self.dbname} connect_timeout=2")
            while True:
                try:
                    psycopg2.connect(dsn).close()
                    return
                except psycopg2.OperationalError as exc:
                    last = exc
                self.reload()
                if self.status in ("exited", "dead"):
                    raise RuntimeError(f"container exited: {' '.join(str(last).split())}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL in the container did not answer within 120 s: {last}")
                time.sleep(0.05)

    return HostNetworkPostgres


def prune_templates(cli, keep: int) -> list[str]:
    """Remove all but the ``keep`` newest template images (images in use stay)."""
    imgs = cli.images.list(name=TEMPLATE_REPO)
    imgs.sort(key=lambda i: int((i.labels or {}).get(LABEL_TPL_USED, "0")), reverse=True)
    removed = []
    for img in imgs[keep:]:
        for tag in img.tags:
            try:
                cli.images.remove(tag)
                removed.append(tag)
            except Exception:
                pass
    return removed


def remove_container(name: str, host: str | None = None) -> bool:
    """Force-remove a container by name; False when it does not exist (or no engine answers)."""
    try:
        cli = client(host)
    except errors.DockerUnavailable:
        return False
    from docker.errors import NotFound

    try:
        cli.containers.get(name).remove(force=True, v=True)
        return True
    except NotFound:
        return False
    finally:
        cli.close()


def collect_containers(*, include_kept: bool = False) -> list[str]:
    """Remove labelled containers of this host whose owner is gone and no live record claims."""
    host = docker_host()
    try:
        cli = client(host)
    except errors.DockerUnavailable:
        return []
    live = {}
    for _, rec in registry.records():
        live[rec.get("run_id")] = rec
    done = []
    try:
        for ctr in cli.containers.list(all=True, filters={"label": LABEL_RUN}):
            labels = ctr.labels
            if labels.get(LABEL_HOST) != registry.hostname():
                continue
            rec = live.get(labels.get(LABEL_RUN))
            if rec is not None and (rec.get("kept") and not include_kept):
                continue
            start = labels.get(LABEL_PID_START)
            if registry.pid_alive(int(labels.get(LABEL_PID, "0")), None if start in (None, "None") else start):
                continue
            ctr.remove(force=True, v=True)
            done.append(f"removed container {ctr.name} (run {labels.get(LABEL_RUN)})")
    finally:
        cli.close()
    return done


def _create(request: BackendRequest) -> DockerBackend:
    return DockerBackend(request.run, request.source, image=request.image)


def _remove_recorded(res: dict) -> str:
    return "removed container " + res["name"] if remove_container(res["name"], res.get("docker_host")) else ""


register_backend("docker", accepts=lambda spec: spec == "docker", create=_create)
register_resource("container", _remove_recorded)
register_sweeper("docker", collect_containers)
