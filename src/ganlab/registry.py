"""One small generic registry: a name -> builder table that validates keyword arguments.

Every component group (models, losses, regularizers, datasets, optimizers, schedulers,
feature extractors) is a `Registry`. Configs name a builder and pass keyword arguments;
unknown names, unknown arguments and obviously wrong types fail here, before training,
with a message that lists the valid choices.
"""
from __future__ import annotations

import inspect
import typing
from typing import Any, Callable


class Registry:
    def __init__(self, group: str):
        self.group = group
        self._builders: dict[str, Callable[..., Any]] = {}
        self._info: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **info: Any) -> Callable:
        """Register a builder; `info` holds what the entry declares about itself (e.g. a dataset's
        `fid_extractor`), read back with `info(name)` without building anything."""
        def add(builder: Callable) -> Callable:
            if name in self._builders:
                raise ValueError(f"{self.group} '{name}' is registered twice")
            self._builders[name] = builder
            self._info[name] = dict(info)
            return builder
        return add

    def info(self, name: str) -> dict[str, Any]:
        self.get(name)   # unknown names fail with the list of choices
        return dict(self._info.get(name, {}))

    def names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        return name in self._builders

    def get(self, name: str) -> Callable:
        if name not in self._builders:
            raise ValueError(
                f"unknown {self.group} '{name}' ({self.group}={name}); "
                f"available: {', '.join(self.names()) or '(none)'}"
            )
        return self._builders[name]

    def build(self, name: str, /, **kwargs: Any) -> Any:
        builder = self.get(name)
        check_kwargs(builder, kwargs, f"{self.group} '{name}'")
        return builder(**kwargs)


def check_kwargs(fn: Callable, kwargs: dict[str, Any], what: str) -> None:
    """Reject keyword arguments `fn` does not take, and values of the wrong simple type."""
    sig = inspect.signature(fn)
    params = sig.parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    hints = _hints(fn)
    for key, value in kwargs.items():
        if key not in params:
            if takes_any:
                continue
            valid = [k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            raise TypeError(f"{what} got an unknown argument '{key}'; valid: {', '.join(valid)}")
        expected = hints.get(key)
        if expected is not None and not _type_ok(value, expected):
            raise TypeError(
                f"{what}: argument '{key}' must be {_type_name(expected)}, got {value!r} ({type(value).__name__})"
            )
    missing = [k for k, p in params.items()
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in kwargs]
    if missing:
        raise TypeError(f"{what} is missing required argument(s): {', '.join(missing)}")


def _hints(fn: Callable) -> dict[str, Any]:
    target = fn.__init__ if inspect.isclass(fn) else fn
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: skip type checks rather than guess
        return {}


_SIMPLE = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}


def _type_ok(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return any(_type_ok(value, arg) for arg in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected in _SIMPLE:
        if isinstance(value, bool) and expected is not bool:
            return False
        return isinstance(value, _SIMPLE[expected])
    if origin in (list, tuple, typing.Sequence) or expected in (list, tuple):
        return isinstance(value, (list, tuple)) or hasattr(value, "__len__") and not isinstance(value, (str, dict))
    return True  # richer types (tensors, modules, callables) are not checked here


def _type_name(expected: Any) -> str:
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")


MODELS = Registry("model")
LOSSES = Registry("loss")
REGULARIZERS = Registry("regularizer")
DATASETS = Registry("dataset")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("scheduler")
EXTRACTORS = Registry("extractor")
LOGGERS = Registry("logger")   # builders (run_dir, config, sweep, **settings) -> list of loggers


def discover(package: str) -> None:
    """Import every module of `package`, so that components register themselves where they are defined:
    a new file in models/, regularizers/ or data/ is found with no import list to edit."""
    import importlib
    import pkgutil
    for mod in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{mod.name}")
