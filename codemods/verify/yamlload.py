"""Plain data from YAML, fast: libyaml through PyYAML when it is installed (`codemods[build]`
brings it), else ruamel.yaml's safe loader. The gate only compares data, never positions."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

try:  # libyaml is about 20 times faster than ruamel's pure-Python loader (domain-facts §5)
    import yaml as _pyyaml

    _LOADER: Any = getattr(_pyyaml, "CSafeLoader", None)
    _PYYAML_ERROR: type[Exception] = _pyyaml.YAMLError
except ImportError:  # pragma: no cover - depends on the installation
    _LOADER = None
    _PYYAML_ERROR = YAMLError


class LoadError(Exception):
    pass


def load_all(text: str | bytes) -> list[Any]:
    try:
        if _LOADER is not None:
            return list(_pyyaml.load_all(text, Loader=_LOADER))
        return list(YAML(typ="safe", pure=True).load_all(text))
    except (YAMLError, _PYYAML_ERROR, UnicodeDecodeError, ValueError) as err:
        raise LoadError(str(err)) from None


def load(text: str | bytes) -> Any:
    docs = load_all(text)
    return docs[0] if docs else None
