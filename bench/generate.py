"""Generate synthetic Flux repositories for the benchmarks.

`monorepo(root, apps=3000, broken=0)`: a home-ops style tree, 30 apps per namespace, four
files per app (ks.yaml, app/kustomization.yaml, app/helmrelease.yaml, app/ocirepository.yaml)
plus two per namespace, and one Flux Kustomization (kubernetes/flux/cluster/ks.yaml) that
builds the whole of kubernetes/apps through the kustomization Flux generates for it (the
billimek/onedr0p layout: a single root applies every namespace and every app's ks.yaml).
`broken` apps get the incident: a litellm-helm block with the Job enabled and a stray
migration Job in the namespace directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

APPS_PER_NAMESPACE = 30

KS = """---
# yaml-language-server: $schema=https://kubernetes-schemas.pages.dev/kustomize.toolkit.fluxcd.io/kustomization_v1.json
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: &app {app}
  namespace: flux-system
spec:
  targetNamespace: {ns}
  commonMetadata:
    labels:
      app.kubernetes.io/name: *app
  dependsOn:
    - name: {ns}-db
  path: ./kubernetes/apps/{ns}/{app}/app
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  wait: false
  interval: 30m
  timeout: 5m
"""

APP_KUSTOMIZATION = """---
# yaml-language-server: $schema=https://json.schemastore.org/kustomization
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ./helmrelease.yaml
  - ./ocirepository.yaml
"""

HELMRELEASE = """---
# yaml-language-server: $schema=https://kubernetes-schemas.pages.dev/helm.toolkit.fluxcd.io/helmrelease_v2.json
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: &app {app}
spec:
  interval: 30m
  chartRef:
    kind: OCIRepository
    name: {app}
  install:
    remediation:
      retries: 3
  upgrade:
    cleanupOnFail: true
    remediation:
      strategy: rollback
      retries: 3
  values:
    controllers:
      {app}:
        annotations:
          reloader.stakater.com/auto: "true"
        containers:
          app:
            image:
              repository: ghcr.io/example/{app}
              tag: 1.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
            env:
              TZ: Etc/UTC
              LOG_LEVEL: info
            probes:
              liveness: &probes
                enabled: true
                custom: true
                spec:
                  httpGet:
                    path: /healthz
                    port: &port 8080
              readiness: *probes
            resources:
              requests:
                cpu: 10m
              limits:
                memory: 256Mi
    service:
      app:
        ports:
          http:
            port: *port
    route:
      app:
        hostnames: ["{{{{ .Release.Name }}}}.${{SECRET_DOMAIN}}"]
        parentRefs:
          - name: envoy-internal
            namespace: network
{extra}"""

LITELLM = """    litellm-helm:
      fullnameOverride: {app}-litellm
      migrationJob:
        enabled: true
        ttlSecondsAfterFinished: 120
"""

OCIREPOSITORY = """---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: {app}
spec:
  interval: 15m
  layerSelector:
    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip
    operation: copy
  ref:
    tag: 4.4.0
  url: oci://ghcr.io/bjw-s-labs/helm/app-template
"""

NAMESPACE_KUSTOMIZATION = """---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {ns}
resources:
  - ./namespace.yaml
{entries}"""

NAMESPACE = """---
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
"""

ROOT = """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: cluster-apps
  namespace: flux-system
spec:
  interval: 1h
  path: ./kubernetes/apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  patches:
    - # the defaults every app's Flux Kustomization gets
      patch: |-
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: not-used
        spec:
          decryption:
            provider: sops
      target:
        group: kustomize.toolkit.fluxcd.io
        kind: Kustomization
"""

JOB = """---
apiVersion: batch/v1
kind: Job
metadata:
  name: {app}-litellm-migrations
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: migrations
          image: ghcr.io/berriai/litellm-database:main-stable
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def monorepo(root: Path, apps: int = 3000, broken: int = 0) -> int:
    """Write the tree; return the number of files written."""
    _write(root / "kubernetes" / "flux" / "cluster" / "ks.yaml", ROOT)
    written = 1
    namespaces = (apps + APPS_PER_NAMESPACE - 1) // APPS_PER_NAMESPACE
    broken_every = max(1, apps // broken) if broken else 0
    for n in range(namespaces):
        ns = f"ns{n:03d}"
        entries = []
        for a in range(APPS_PER_NAMESPACE):
            index = n * APPS_PER_NAMESPACE + a
            if index >= apps:
                break
            app = f"app{index:05d}"
            is_broken = (
                bool(broken_every) and index % broken_every == broken_every // 2 and index // broken_every < broken
            )
            base = root / "kubernetes" / "apps" / ns / app
            _write(base / "ks.yaml", KS.format(app=app, ns=ns))
            _write(base / "app" / "kustomization.yaml", APP_KUSTOMIZATION)
            _write(
                base / "app" / "helmrelease.yaml",
                HELMRELEASE.format(app=app, extra=LITELLM.format(app=app) if is_broken else ""),
            )
            _write(base / "app" / "ocirepository.yaml", OCIREPOSITORY.format(app=app))
            written += 4
            entries.append(f"  - ./{app}/ks.yaml\n")
            if is_broken:
                _write(root / "kubernetes" / "apps" / ns / f"{app}-migration-job.yaml", JOB.format(app=app))
                entries.append(f"  - ./{app}-migration-job.yaml\n")
                written += 1
        _write(
            root / "kubernetes" / "apps" / ns / "kustomization.yaml",
            NAMESPACE_KUSTOMIZATION.format(ns=ns, entries="".join(entries)),
        )
        _write(root / "kubernetes" / "apps" / ns / "namespace.yaml", NAMESPACE.format(ns=ns))
        written += 2
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--apps", type=int, default=3000)
    parser.add_argument("--broken", type=int, default=0)
    args = parser.parse_args()
    print(monorepo(args.root, args.apps, args.broken), "files")


if __name__ == "__main__":
    main()
