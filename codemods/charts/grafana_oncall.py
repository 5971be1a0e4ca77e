"""Grafana OnCall's Helm chart (`oncall`, grafana/oncall `helm/oncall`): the engine migrate Job.

Checked against the chart as released, tags `oncall-1.0.12` .. `oncall-1.16.5` of grafana/oncall
(the latest chart, 1.16.5, has the same templates and values as 1.16.4 for everything below).
Files read: `helm/oncall/values.yaml`, `helm/oncall/Chart.yaml`,
`helm/oncall/templates/engine/job-migrate.yaml`, `helm/oncall/templates/_env.tpl`,
`helm/oncall/templates/secrets.yaml`, `helm/oncall/templates/serviceaccount.yaml`.

- `templates/engine/job-migrate.yaml` (when `migrate.enabled`, default true): unless
  `migrate.useHook` (default false) the Job `<engine>-migrate-<timestamp>` is a plain release
  resource with `ttlSecondsAfterFinished: {{ migrate.ttlSecondsAfterFinished }}` (default 20,
  rendered only `if` it is truthy). Flux's helm-controller waits for Jobs; once the TTL
  controller has deleted it, the install or upgrade fails with `jobs.batch
  "oncall-engine-migrate-..." not found` (grafana/oncall#841, #3611).
- With `migrate.useHook` the Job is a `pre-install,pre-upgrade` hook (1.2.15+; 1.2.12-1.2.14
  rendered `post-install,post-upgrade`). Helm runs pre-install hooks before any of the chart's
  other resources, and the Job's container waits (`until nc -vz $DATABASE_HOST ...`) for the
  database and reads its password from a Secret (`templates/_env.tpl`: `snippet.db.env`,
  `snippet.broker.env`). The bundled Bitnami sub-charts (`mariadb.enabled` default true with
  `database.type: mysql` the default, `postgresql.enabled` default false for `postgresql`,
  `rabbitmq.enabled` default true with `broker.type: rabbitmq` the default, `redis.enabled`
  default true, whose env every Job gets) are plain release resources: on a fresh install the
  hook waits for a database and Secrets that do not exist yet, and the install hangs until
  Helm's timeout. `externalMysql`/`externalPostgresql`/`externalRabbitmq`/`externalRedis` only
  apply when the matching `*.enabled` is false.
- Before chart 1.3.62 (grafana/oncall#3136) the chart's own Secrets (`secrets.yaml`) and
  ServiceAccount were not hooks either, so the hook failed on a fresh install even with
  external databases.
- `migrate.ttlSecondsAfterFinished` is a value from 1.1.0 (grafana/oncall#957; the chart's
  values.yaml: "TTL can be unset by setting ttlSecondsAfterFinished: \"\""); before it the TTL
  is a fixed 20 and no value changes the Job.

So: the hook when the release's effective values bundle nothing the Job reads and the chart is
1.3.62 or newer; otherwise the safe variant, `migrate.ttlSecondsAfterFinished: ""`: the Job
stays a plain release resource, created with the databases it waits for, and is never deleted
under Helm (its name carries a timestamp, so each upgrade creates a new Job and Helm deletes
the old one). A chart older than 1.1.0 is refused. A version that cannot be known (a digest, a
chart built from Git) gets the safe variant, which never breaks an install.
"""

from __future__ import annotations

from codemods.charts.base import Fix, Lookup, Refusal, Scalar, at_or_above, only_below, truthy

CHART = "oncall"
TTL_VALUE_SINCE = (1, 1, 0)  # migrate.ttlSecondsAfterFinished is read (grafana/oncall#957)
SAFE_HOOK_SINCE = (1, 3, 62)  # the Job's Secrets and ServiceAccount are hooks too (#3136)

MIGRATE = ("migrate",)
USE_HOOK = (*MIGRATE, "useHook")
TTL = (*MIGRATE, "ttlSecondsAfterFinished")

# (values key, its default, what it bundles); when the Job reads it: see _bundled.
MARIADB = ("mariadb", True, "MariaDB")
POSTGRESQL = ("postgresql", False, "PostgreSQL")
RABBITMQ = ("rabbitmq", True, "RabbitMQ")
REDIS = ("redis", True, "Redis")
DEFAULT_DATABASE = "mysql"
DEFAULT_BROKER = "rabbitmq"

TTL_FAILURE = (
    "the engine migrate Job is a plain release resource with a TTL, so Helm fails with "
    "'jobs.batch not found' once it is gone"
)
WHY_HOOK = (
    f"{TTL_FAILURE}; as a pre-install,pre-upgrade hook (chart 1.3.62+, external databases only) it is not "
    "a release resource and still migrates before each upgrade"
)


def _bundled(lookup: Lookup) -> list[str]:
    """The bundled sub-charts the migrate Job reads from (templates/_env.tpl), as words with
    their values keys: the database of database.type, RabbitMQ when it is the broker, Redis."""
    database = lookup(("database", "type"))
    broker = lookup(("broker", "type"))
    wanted = []
    if (database if database is not None else DEFAULT_DATABASE) == "mysql":
        wanted.append(MARIADB)
    elif database == "postgresql":
        wanted.append(POSTGRESQL)  # sqlite: a file, nothing to wait for
    if (broker if broker is not None else DEFAULT_BROKER) == "rabbitmq":
        wanted.append(RABBITMQ)
    wanted.append(REDIS)  # snippet.broker.env gives every Job the Redis env
    return [f"{name} ({key}.enabled)" for key, default, name in wanted if truthy(lookup((key, "enabled")), default)]


def _why_ttl(bundled: list[str], version: str | None) -> str:
    if bundled:
        reason = (
            f"a pre-install hook would not do: the release bundles {', '.join(bundled)}, which Helm creates only "
            "after the hook, so a fresh install would hang on it"
        )
    elif only_below(version, SAFE_HOOK_SINCE):
        reason = (
            f"a pre-install hook would not do: in chart {version} the Secrets and ServiceAccount it needs are "
            "created only after it (they are hooks too from 1.3.62)"
        )
    else:
        reason = (
            f"a pre-install hook may not do: chart version {version!r} is not known to be 1.3.62 or newer, where "
            "the Secrets and ServiceAccount it needs became hooks too"
        )
    return f"{TTL_FAILURE}; {reason}. Without a TTL the Job stays for Helm to find"


class GrafanaOnCall:
    name = "grafana-oncall"
    charts = (CHART,)
    subchart_keys: tuple[str, ...] = ()
    job = None  # the chart's own Job only: no standalone Job manifest belongs to it
    needles = (CHART.encode(),)
    chart_needles: tuple[bytes, ...] = ()

    def fix(
        self,
        prefix: tuple[str, ...],
        lookup: Lookup,
        has_standalone_job: bool,
        chart: str | None = None,
        version: str | None = None,
    ) -> Fix | Refusal | None:
        if not truthy(lookup((*MIGRATE, "enabled")), True) or truthy(lookup(USE_HOOK), False):
            return None  # no Job, or already a hook
        if not truthy(lookup(TTL), True):
            return None  # no TTL: nothing deletes the Job under Helm
        if only_below(version, TTL_VALUE_SINCE):
            return Refusal(
                f"oncall chart {version} renders its engine migrate Job with a TTL fixed in the template, and no "
                "value removes it (migrate.ttlSecondsAfterFinished is read from chart 1.1.0, a safe migrate.useHook "
                "needs 1.3.62); upgrade the chart"
            )
        bundled = _bundled(lookup)
        if not bundled and at_or_above(version, SAFE_HOOK_SINCE):
            return Fix(USE_HOOK, True, WHY_HOOK, pre_install_hook=True)
        return Fix(TTL, "", _why_ttl(bundled, version), universal=True)

    def skip_branch(self, prefix: tuple[str, ...], block_enabled: Scalar | None) -> bool:
        return False

    def implied_subchart(self, chart: str | None, version: str | None) -> tuple[str, ...] | None:
        return None


GRAFANA_ONCALL = GrafanaOnCall()
