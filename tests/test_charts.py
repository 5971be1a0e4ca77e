"""Chart knowledge (codemods/charts/): which versions of a parent chart deploy the sub-chart's Job."""

from __future__ import annotations

import pytest

from codemods.charts import POLICIES
from codemods.charts.base import at_or_above, only_below

FIXED = (0, 3, 0)


@pytest.mark.parametrize(
    ("spec", "below"),
    [
        ("0.2.4", True),
        ("v0.2.4", True),
        ("0.2", True),
        ("0.2.x", True),
        ("0.2.*", True),
        ("~0.2.1", True),
        ("^0.2.1", True),
        (">=0.2.0 <0.3.0", True),
        ("<=0.2.9", True),
        ("0.3.0", False),
        ("0.3.0-rc.1", False),  # a pre-release counts as its release: not known to be older
        ("0.3.x", False),
        ("^0.3.0", False),
        ("<0.3.1", False),  # allows 0.3.0
        ("<=0.3.0", False),
        (">=0.2.0", False),  # no upper bound: the latest is installed
        ("1.0.0", False),
        ("latest", False),
        ("", False),
        (None, False),
    ],
)
def test_a_version_or_range_is_below_only_when_every_version_it_allows_is(spec: str | None, below: bool) -> None:
    assert only_below(spec, FIXED) is below


def test_openhands_before_0_3_deploys_the_litellm_subchart_by_default() -> None:
    litellm = POLICIES["litellm"]
    assert litellm.implied_subchart("openhands", "0.2.4") == ("litellm-helm",)
    assert litellm.implied_subchart("openhands", "0.3.1") is None
    assert litellm.implied_subchart("openhands", None) is None  # unpinned: the latest ships the Job off
    assert litellm.implied_subchart("app-template", "0.2.4") is None
    assert litellm.implied_subchart(None, "0.2.4") is None


@pytest.mark.parametrize(
    ("spec", "newer"),
    [
        (None, True),  # unpinned: Flux installs the latest
        ("", True),
        ("latest", True),
        ("0.3.0", True),
        ("v0.4.2", True),
        ("0.3.x", True),
        ("~0.3.1", True),
        ("^0.3.0", True),
        (">=0.3.0 <0.4.0", True),
        ("0.2.4", False),
        ("0.2.x", False),
        (">=0.2.0", False),  # allows 0.2.x
        ("<0.4.0", False),  # no lower bound
        ("sha256:0123abcd", False),  # a digest: nothing is known of it
    ],
)
def test_a_version_or_range_is_at_or_above_only_when_every_version_it_allows_is(spec: str | None, newer: bool) -> None:
    assert at_or_above(spec, FIXED) is newer


def test_openhands_0_3_turns_the_subchart_job_off_itself() -> None:
    litellm = POLICIES["litellm"]
    unset = lambda path: None
    assert litellm.fix(("litellm-helm",), unset, False, "openhands", "0.3.1") is None
    assert litellm.fix(("litellm-helm",), unset, False, "openhands", None) is None
    assert litellm.fix(("litellm-helm",), unset, False, "openhands", "0.2.4") is not None
    assert litellm.fix(("litellm-helm",), unset, False, "openhands", "sha256:0123abcd") is not None  # unknown: explicit
    enabled = lambda path: True if path[-1] == "enabled" and path[-2] == "migrationJob" else None
    assert litellm.fix(("litellm-helm",), enabled, False, "openhands", "0.3.1") is not None  # set true on purpose
