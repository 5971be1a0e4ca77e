"""Decomposed builds (issue 23 §1) are exactly the whole builds, with real kubectl kustomize.

Each check builds the same Flux Kustomizations twice, before and after a change: whole, and
decomposed (only the parts the change touches built, the untouched ones known by identity). The
two must agree object for object: the same identities, every built object the same, and every
object the decomposed build did not build (a stub: its identity only) the same before and after
in the whole build. Where decomposing would not be exact the gate builds whole, and then the two
agree trivially; the tests also count that decomposition did happen.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codemods.repo.graph import RepoGraph
from codemods.repo.index import scan
from codemods.verify import objects
from codemods.verify.adapter import build_input, target
from codemods.verify.building import Outcome, build_targets
from codemods.verify.decompose import Change
from codemods.verify.gate import verify
from codemods.verify.kustomize import discover
from codemods.verify.model import FluxTarget, Options
from codemods.verify.tree import TemplatesOnly, Tree
from tests.helpers import ROOT, SNAPSHOTS, run_codemods, tree
from tests.test_flux_model import _in_place_templates
from tests.test_snapshots import CASES

COMMAND = discover()
WHOLE, PARTS = 10**9, 0  # Options.decompose_from: never, always


def _generate() -> object:
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- building both ways -----------------------------------------------------------------------------
def both_ways(root: Path, writes: Mapping[str, bytes | None], targets: list[FluxTarget]) -> tuple[Outcome, Outcome]:
    assert COMMAND is not None
    before = Tree(root)
    trees = {"before": before, "after": Tree(root, writes, base=before)}
    reads: dict[tuple[str, str], set[str]] = {}
    buildable = []
    for flux in targets:
        try:
            for side, found in trees.items():
                reads[(flux.uid, side)] = set().union(
                    *(
                        found.closure(d)
                        for d in (flux.path, *flux.components)
                        if found.is_dir(d) or found.kustomization(d)
                    )
                )
        except TemplatesOnly:
            continue
        buildable.append(flux)
    change = Change(touched=frozenset(writes))
    outcomes = [
        build_targets(trees, buildable, reads, Options(COMMAND, decompose_from=size), change) for size in (WHOLE, PARTS)
    ]
    return outcomes[0], outcomes[1]


def _is_stub(obj: objects.Obj) -> bool:
    return set(obj) == {"apiVersion", "kind", "metadata"} and set(obj["metadata"]) <= {"name", "namespace"}


def assert_exact(whole: Outcome, parts: Outcome) -> int:
    """The decomposed builds are the whole ones; returns how many targets were decomposed."""
    assert whole.builds.keys() == parts.builds.keys()
    for (uid, side), built in whole.builds.items():
        mine = parts.builds[(uid, side)]
        assert built.output is not None and mine.output is not None
        assert (mine.output.ok, mine.output.error) == (built.output.ok, built.output.error), (uid, side)
        if not built.output.ok:
            continue
        theirs, ours = built.objects or [], mine.objects or []
        assert len(ours) == len(theirs), (uid, side)
        by_whole, by_parts = objects.by_identity(theirs), objects.by_identity(ours)
        assert by_parts.keys() == by_whole.keys(), (uid, side)
        was = objects.by_identity(whole.builds[(uid, "before")].objects or [])
        now = objects.by_identity(whole.builds[(uid, "after")].objects or [])
        for ident, obj in by_parts.items():
            if obj != by_whole[ident]:
                assert _is_stub(obj), f"{uid} {side}: {ident} built differently"
                assert was.get(ident) == now.get(ident), f"{uid}: {ident} was not built, yet it changes"
    return sum(1 for d in parts.decomposed if not d.whole)


# -- every snapshot case ------------------------------------------------------------------------------
def _case(case: str) -> tuple[Path, dict[str, bytes | None], list[FluxTarget]]:
    before_root, after_root = SNAPSHOTS / case / "before", SNAPSHOTS / case / "after"
    before, after = tree(before_root), tree(after_root)
    writes: dict[str, bytes | None] = {p: d for p, d in after.items() if before.get(p) != d}
    writes.update({p: None for p in before.keys() - after.keys()})
    index = scan(before_root)
    graph = RepoGraph.of(index)
    found: dict[str, FluxTarget] = {}
    for unit in index.flagged("flux_paths"):
        for ks in graph.declared_in((unit.rendered or unit.template).path):  # type: ignore[union-attr]
            if "${" not in ks.path:
                flux = target(graph, ks)
                found[flux.uid] = flux
    return before_root, writes, list(found.values())


def _exact_case(case: str) -> int:
    root, writes, targets = _case(case)
    if _in_place_templates(root):
        pytest.skip("in-place templates: the gate renders them, this comparison does not")
    if not writes or not targets:
        return 0
    return assert_exact(*both_ways(root, writes, targets))


DEFAULT_CASES = [
    "plain-flux-overlays",
    "cluster-template-final-fix",
    "s17-namespace-from-parent",
    "s23-parent-labels-carried-over",
]


@pytest.mark.parametrize("case", DEFAULT_CASES)
def test_a_snapshot_case_builds_the_same_objects_decomposed(case: str) -> None:
    assert case in CASES
    _exact_case(case)


@pytest.mark.slow
def test_every_snapshot_case_builds_the_same_objects_decomposed() -> None:
    decomposed = sum(_exact_case(case) for case in CASES if not _in_place_templates(SNAPSHOTS / case / "before"))
    assert decomposed >= 5, "the cases must exercise decomposition, not only its fallback"


# -- a generated single-root monorepo -----------------------------------------------------------------
@pytest.fixture(scope="module")
def monorepo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes | None]]:
    """A home-ops monorepo of 300 apps (ten namespaces) whose one root Flux Kustomization builds
    everything, two apps with the incident; and the fix, as `codemods run` writes it."""
    base = tmp_path_factory.mktemp("monorepo")
    root, fixed = base / "repo", base / "fixed"
    _generate().monorepo(root, 300, broken=2)  # type: ignore[attr-defined]
    shutil.copytree(root, fixed)
    assert run_codemods("run", "--no-verify", str(fixed)).returncode == 0
    before, after = tree(root), tree(fixed)
    writes: dict[str, bytes | None] = {p: d for p, d in after.items() if before.get(p) != d}
    writes.update({p: None for p in before.keys() - after.keys()})
    return root, writes


@pytest.mark.slow  # the generated monorepo, built whole and in parts: CI runs it
def test_the_monorepo_builds_the_same_objects_decomposed(monorepo: tuple[Path, dict[str, bytes | None]]) -> None:
    root, writes = monorepo
    index = scan(root)
    graph = RepoGraph.of(index)
    targets = [target(graph, ks) for ks in graph.flux_kustomizations() if ks.name in ("cluster-apps", "app00075")]
    whole, parts = both_ways(root, writes, targets)
    assert assert_exact(whole, parts) == 2  # the app's small build too, at a threshold of 0
    (root_ks,) = [d for d in parts.decomposed if d.target.name == "cluster-apps"]
    # Two of the ten namespaces' kustomizations are touched (a Job leaves each): only the two
    # Jobs are built; the other eight namespaces and the two touched ones' other entries are not.
    assert sorted(root_ks.built) == sorted(p for p in writes if p.endswith("-migration-job.yaml") and writes[p] is None)
    assert root_ks.untouched == 8 + 2 * 31


@pytest.mark.slow  # as above
def test_the_gate_judges_the_monorepo_the_same_decomposed(monorepo: tuple[Path, dict[str, bytes | None]]) -> None:
    """The whole verdict (what Flux applies differently, the Job moves, the problems) is the
    same from decomposed builds as from whole ones, and the summary says what was decomposed."""
    from codemods.runner import plan_repository, select

    root, _writes = monorepo
    assert COMMAND is not None
    data = build_input(plan_repository(root, select()))
    whole = verify(root, data, Options(COMMAND, decompose_from=WHOLE))
    parts = verify(root, data, Options(COMMAND, decompose_from=PARTS))
    assert (parts.status, parts.targets, parts.moves, parts.problems) == (
        whole.status,
        whole.targets,
        whole.moves,
        whole.problems,
    )
    assert parts.status == "verified" and not whole.decomposed
    lines = [d.line() for d in parts.decomposed]
    assert "flux-system/cluster-apps: 2 of 72 parts built" in lines, lines
    assert parts.builds < whole.builds + 2  # the probe, and nothing built twice


def test_the_run_says_which_builds_were_decomposed(
    monorepo: tuple[Path, dict[str, bytes | None]], tmp_path: Path
) -> None:
    import json

    import jsonschema

    root, _writes = monorepo
    work = tmp_path / "repo"
    shutil.copytree(root, work)
    # The root's build reads about 320 files, over the default threshold of 256.
    result = run_codemods("run", "--dry-run", "--verify", "--json", str(work))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, json.loads((ROOT / "codemods" / "schemas" / "report.schema.json").read_text()))
    (entry,) = report["semantic"]["decomposed"]
    assert (entry["kustomization"], entry["untouched"], entry["whole"]) == ("flux-system/cluster-apps", 70, None)
    assert "flux-system/cluster-apps: 2 of 72 parts built" in result.stderr


# -- random aggregation layouts ---------------------------------------------------------------------
KINDS = {
    "ConfigMap": ("v1", "data:\n  k: '{v}'\n"),
    "Namespace": ("v1", ""),
    "Deployment": (
        "apps/v1",
        (
            "spec:\n  selector:\n    matchLabels: {{app: {n}}}\n  template:\n    metadata:\n      labels: {{app: {n}}}\n"
            "    spec:\n      containers:\n        - name: c\n          image: nginx:1.{v}\n"
        ),
    ),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "rules: []\n"),
    "Kustomization": ("kustomize.toolkit.fluxcd.io/v1", "spec:\n  path: ./x/{v}\n  interval: 1h\n"),
    "HelmRelease": ("helm.toolkit.fluxcd.io/v2", "spec:\n  values:\n    a: '{v}'\n"),
    "Job": (
        "batch/v1",
        (
            "spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: j\n"
            "          image: busybox:1.{v}\n"
        ),
    ),
    "RoleBinding": (
        "rbac.authorization.k8s.io/v1",
        (
            "subjects:\n  - kind: ServiceAccount\n    name: default\n    namespace: x\n"
            "roleRef: {{kind: Role, name: r, apiGroup: rbac.authorization.k8s.io}}\n"
        ),
    ),
}
FLUX_PATCH = (
    "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: x\n"
    "spec:\n  decryption:\n    provider: sops\n"
)
_FLUX_PATCH = "  - target:\n      kind: Kustomization\n    patch: |-\n" + "".join(
    f"      {line}\n" for line in FLUX_PATCH.splitlines()
)
TRANSFORMERS = {
    "namespace": "namespace: ns{n}\n",
    "annotations": "commonAnnotations:\n  team: t{n}\n",
    "labels": "labels:\n  - pairs:\n      tier: t{n}\n",
    "flux-patch": "patches:\n" + _FLUX_PATCH,
    "replicas-patch": "patches:\n  - target:\n      kind: Deployment\n    patch: |-\n      kind: Deployment\n"
    "      metadata:\n        name: x\n      spec:\n        replicas: {n}\n",
    "misfit-patch": "patches:\n  - target:\n      kind: ConfigMap\n    patch: |-\n      kind: ConfigMap\n"
    "      metadata:\n        name: x\n      data:\n        k:\n          nested: '{n}'\n",
    # Not aggregations: built whole wherever they are.
    "selector-labels": "labels:\n  - pairs:\n      sel: s{n}\n    includeSelectors: true\n",
    "common-labels": "commonLabels:\n  cl: c{n}\n",
    "prefix": "namePrefix: p{n}-\n",
    "images": "images:\n  - name: nginx\n    newTag: '9.{n}'\n",
    "json6902": "patches:\n  - target:\n      kind: ConfigMap\n    patch: |-\n      - op: replace\n        path: /data/k\n"
    "        value: j{n}\n",
}


@dataclass
class Obj:
    kind: str
    name: str
    namespace: str | None
    value: int

    def text(self) -> str:
        api, body = KINDS[self.kind]
        meta = f"metadata:\n  name: {self.name}\n" + (f"  namespace: {self.namespace}\n" if self.namespace else "")
        return f"apiVersion: {api}\nkind: {self.kind}\n{meta}" + body.format(n=self.name, v=self.value)


@dataclass
class Dir:
    files: dict[str, list[Obj]]
    dirs: dict[str, Dir]
    transformers: list[str]
    written: bool = True  # False: no kustomization (Flux generates one; the root only)
    number: int = 0

    def render(self, path: str, out: dict[str, str]) -> None:
        for name, objs in self.files.items():
            out[f"{path}/{name}"] = "".join(f"---\n{o.text()}" for o in objs)
        for name, sub in self.dirs.items():
            sub.render(f"{path}/{name}", out)
        if self.written:
            entries = [*self.files, *self.dirs]
            body = "".join(TRANSFORMERS[t].format(n=self.number) for t in self.transformers)
            out[f"{path}/kustomization.yaml"] = "resources:\n" + "".join(f"  - {e}\n" for e in entries) + body


NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"])


@st.composite
def objs(draw: st.DrawFn) -> Obj:
    kind = draw(st.sampled_from(sorted(KINDS)))
    namespace = draw(st.sampled_from([None, None, "x", "y"])) if kind not in ("Namespace", "ClusterRole") else None
    return Obj(kind, draw(NAMES), namespace, draw(st.integers(0, 3)))


@st.composite
def dirs(draw: st.DrawFn, depth: int, counter: list[int]) -> Dir:
    counter[0] += 1
    files = {f"f{i}.yaml": draw(st.lists(objs(), min_size=1, max_size=2)) for i in range(draw(st.integers(1, 3)))}
    subs = {}
    if depth > 0:
        for i in range(draw(st.integers(0, 2))):
            subs[f"d{i}"] = draw(dirs(depth - 1, counter))
    return Dir(files, subs, draw(transformers()), number=counter[0])


def transformers() -> st.SearchStrategy[list[str]]:
    """Up to two transformers, at most one per kustomization field (a key written twice is
    an error of its own)."""
    return st.lists(
        st.sampled_from(sorted(TRANSFORMERS)), max_size=2, unique_by=lambda t: TRANSFORMERS[t].split(":", 1)[0]
    )


@dataclass(frozen=True)
class Case:
    before: dict[str, str]
    after: dict[str, str | None]
    flux: FluxTarget = field(compare=False)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    counter = [0]
    root = draw(dirs(2, counter))
    root.written = draw(st.booleans())
    before: dict[str, str] = {}
    root.render("apps", before)
    changed = _change(draw, root)
    after_tree: dict[str, str] = {}
    changed.render("apps", after_tree)
    after: dict[str, str | None] = {p: t for p, t in after_tree.items() if before.get(p) != t}
    after.update({p: None for p in before.keys() - after_tree.keys()})
    patches = ({"target": {"kind": "Kustomization"}, "patch": FLUX_PATCH},)
    flux = FluxTarget(
        "apps",
        "flux-system",
        "apps",
        target_namespace=draw(st.sampled_from([None, "tns"])),
        patches=draw(st.sampled_from([(), patches])),
        file="clusters/apps.yaml",
    )
    return Case(before, after, flux)


def _change(draw: st.DrawFn, root: Dir) -> Dir:
    """A copy of root with one change: an object's value, a file added or removed, or a
    kustomization's transformers."""
    import copy

    changed = copy.deepcopy(root)
    places = _dirs(changed)
    where = draw(st.sampled_from(places))
    what = draw(st.sampled_from(["value", "add", "remove", "transformer"]))
    if what == "value":
        name = draw(st.sampled_from(sorted(where.files)))
        where.files[name][0].value += 1
    elif what == "add":
        where.files[f"new{len(where.files)}.yaml"] = [draw(objs())]
    elif what == "remove" and len(where.files) > 1:
        del where.files[draw(st.sampled_from(sorted(where.files)))]
    elif where.written:
        where.transformers = draw(transformers())
    return changed


def _dirs(node: Dir) -> list[Dir]:
    return [node, *(d for sub in node.dirs.values() for d in _dirs(sub))]


def _materialise(root: Path, files: Mapping[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_random_aggregation_layouts_build_the_same_objects_decomposed(case: Case) -> None:
    _check_layout(case)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_many_random_aggregation_layouts_build_the_same_objects_decomposed(case: Case) -> None:
    _check_layout(case)


def _check_layout(case: Case) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="codemods-layout-") as scratch:
        root = Path(scratch)
        _materialise(root, case.before)
        writes = {p: None if t is None else t.encode() for p, t in case.after.items()}
        assert_exact(*both_ways(root, writes, [case.flux]))


def test_a_layout_of_every_transformer_kind_decomposes() -> None:
    """The property test's layouts do decompose (not only fall back): one of them, fixed."""
    ns = Dir(
        {"a.yaml": [Obj("Kustomization", "a", None, 0)], "b.yaml": [Obj("ConfigMap", "b", "x", 0)]},
        {},
        ["namespace", "flux-patch"],
        number=1,
    )
    other = Dir(
        {"c.yaml": [Obj("Namespace", "c", None, 0), Obj("HelmRelease", "c", None, 0)]},
        {},
        ["annotations", "labels"],
        number=2,
    )
    root = Dir({"r.yaml": [Obj("ClusterRole", "r", None, 0)]}, {"ns": ns, "other": other}, [], written=False)
    before: dict[str, str] = {}
    root.render("apps", before)
    patch = {"target": {"kind": "Kustomization"}, "patch": FLUX_PATCH}
    flux = FluxTarget("apps", "flux-system", "apps", target_namespace="tns", patches=(patch,), file="c.yaml")
    after = {"apps/ns/b.yaml": before["apps/ns/b.yaml"].replace("'0'", "'1'")}
    import tempfile

    with tempfile.TemporaryDirectory(prefix="codemods-layout-") as scratch:
        _materialise(Path(scratch), before)
        whole, parts = both_ways(Path(scratch), {p: t.encode() for p, t in after.items()}, [flux])
    assert assert_exact(whole, parts) == 1
    (found,) = parts.decomposed
    assert (found.built, found.untouched) == (("apps/ns/b.yaml",), 3)


def test_the_identity_reader_agrees_with_the_yaml_parser_or_declines() -> None:
    from codemods.verify.ids import identities
    from codemods.verify.yamlload import load_all

    texts = [
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: &n app\n  labels: {a: *n}\n",
        "---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: 's', namespace: \"x\"}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: on\n",  # a boolean to YAML 1.1
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 0o17\n",  # an integer to YAML 1.2
        "apiVersion: v1\nkind: ConfigMapList\nmetadata:\n  name: l\nitems: []\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  <<: {name: m}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: !!str a\n",
        'apiVersion: v1\nkind: ConfigMap\nspec:\n  x: "abc\nkind: B"\nmetadata:\n  name: q\n',
    ]
    expected = [
        ("ConfigMap", "app", None),
        ("Secret", "s", "x"),
        None,
        None,
        None,
        None,
        None,
        ("ConfigMap", "a", None),
    ]
    expected.append(("ConfigMap", "q", None))
    for text, wanted in zip(texts, expected, strict=True):
        found = identities(text.encode())
        got = [(i.kind, i.name, i.namespace) for i, _node in found] if found is not None else None
        assert got == ([wanted] if wanted else None), text
        if found:  # what it reads is what the parser reads
            (doc,) = [d for d in load_all(text) if d]
            assert (doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace")) == wanted


def test_a_target_naming_a_remote_resource_is_never_built_in_parts_either(tmp_path: Path) -> None:
    """An untouched remote entry would be built with the touched ones (its objects cannot be
    read here): the target is not built at all, as a whole one is not (kustomize would fetch)."""
    from codemods.verify.building import REMOTE

    files = {
        "apps/kustomization.yaml": "resources:\n  - local.yaml\n  - https://github.com/example/repo//base?ref=v1\n",
        "apps/local.yaml": Obj("ConfigMap", "a", None, 0).text(),
    }
    _materialise(tmp_path, files)
    flux = FluxTarget("apps", "flux-system", "apps", file="c.yaml")
    writes = {"apps/local.yaml": files["apps/local.yaml"].replace("'0'", "'1'").encode()}
    whole, parts = both_ways(tmp_path, writes, [flux])
    for outcome in (whole, parts):
        assert not outcome.decomposed
        assert all(b.output is not None and b.output.error.startswith(REMOTE) for b in outcome.builds.values())
        assert all(b.spec.error for b in outcome.runs)  # no kustomize ran


def test_a_failed_build_retried_on_the_whole_tree_skips_an_unrendered_template(tmp_path: Path) -> None:
    """The retry on the whole tree weighs every file, an in-place Jinja template the run cannot
    render among them: it is never copied, so it weighs nothing (bjw-s-labs/home-ops, whose
    ansible templates sit beside a build that fails before the change too, raised TemplatesOnly)."""
    files = {
        "apps/kustomization.yaml": "resources:\n  - local.yaml\nconfigMapGenerator:\n  - name: c\n    files:\n"
        "      - missing.toml\n",
        "apps/local.yaml": Obj("ConfigMap", "a", None, 0).text(),
        "ansible/templates/bouncer.yaml.j2": "key: {{ secret }}\n",
    }
    _materialise(tmp_path, files)
    assert COMMAND is not None
    before = Tree(tmp_path, templates={"ansible/templates/bouncer.yaml": "ansible/templates/bouncer.yaml.j2"})
    writes = {"apps/local.yaml": files["apps/local.yaml"].replace("'0'", "'1'").encode()}
    trees = {"before": before, "after": replace(before, writes=writes, base=before, _read={})}
    flux = FluxTarget("apps", "flux-system", "apps", file="c.yaml")
    reads = {(flux.uid, side): set(t.closure("apps")) for side, t in trees.items()}
    outcome = build_targets(trees, [flux], reads, Options(COMMAND), Change(touched=frozenset(writes)))
    errors = {side: b.output.error for (_uid, side), b in outcome.builds.items() if b.output is not None}
    assert errors.keys() == {"before", "after"}
    assert all("missing.toml" in e for e in errors.values()), errors
