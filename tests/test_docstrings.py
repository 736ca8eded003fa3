"""Every name of the public API has a docstring (issue 17).

The public API is every name in ``__all__`` of every module of the package
that is not private (no part of its dotted name starts with ``_``) and not
the command line (``sensorio.cli``), and, for the classes among them, their
public methods and properties defined in sensorio (not the ones inherited from
builtins or the standard library, nor those dataclasses and NamedTuples
generate). Constants (tuples, dicts, strings) cannot carry a docstring and
are not checked.

A class needs its own docstring: the signature a dataclass or NamedTuple
writes when it has none does not count, nor a base class's. A method or
property may take the docstring of the sensorio method it overrides (the
override keeps the contract that docstring states).

Run as a script (``python tests/test_docstrings.py``) to list the names
without a docstring.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterator
from types import ModuleType

import sensorio


def public_modules() -> list[ModuleType]:
    """The package and its non-private modules, imported (the command line left out)."""
    modules = [sensorio]
    for info in pkgutil.walk_packages(sensorio.__path__, "sensorio."):
        parts = info.name.split(".")[1:]
        if parts[0] == "cli" or any(part.startswith("_") for part in parts):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def _text(doc: object) -> bool:
    return isinstance(doc, str) and bool(doc.strip())


def _class_doc(cls: type) -> bool:
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return False
    generated = dataclasses.is_dataclass(cls) or (issubclass(cls, tuple) and hasattr(cls, "_fields"))
    return not (generated and doc.startswith(cls.__name__ + "("))


def _member_function(value: object) -> object | None:
    """The function behind a method, static/class method or property, else None."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return value
    if hasattr(value, "attrname") and hasattr(value, "func"):  # functools.cached_property
        return value.func
    if inspect.isfunction(value):
        return value
    return None


def _member_doc(cls: type, name: str, function: object) -> bool:
    if _text(function.__doc__) or (isinstance(function, property) and function.fget and _text(function.fget.__doc__)):
        return True
    for base in cls.__mro__[1:]:  # the sensorio method it overrides
        if base.__module__.startswith("sensorio") and name in vars(base):
            inherited = _member_function(vars(base)[name])
            if inherited is not None and _member_doc(base, name, inherited):
                return True
    return False


def public_names() -> Iterator[tuple[str, bool]]:
    """(qualified name, has a docstring) of every public name, once each."""
    seen: set[str] = set()

    def once(qualified: str) -> bool:
        if qualified in seen:
            return False
        seen.add(qualified)
        return True

    for module in public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                if once(f"{obj.__module__}.{obj.__qualname__}"):
                    yield f"{obj.__module__}.{obj.__qualname__}", _class_doc(obj)
                for cls in obj.__mro__:
                    if not cls.__module__.startswith("sensorio"):
                        continue
                    for member, value in vars(cls).items():
                        function = _member_function(value)
                        qualified = f"{cls.__module__}.{cls.__qualname__}.{member}"
                        if member.startswith("_") or function is None or not once(qualified):
                            continue
                        yield qualified, _member_doc(cls, member, function)
            elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
                qualified = f"{obj.__module__}.{obj.__qualname__}"
                if once(qualified):
                    yield qualified, _text(obj.__doc__)


def missing() -> list[str]:
    """The public names without a docstring, sorted."""
    return sorted(name for name, documented in public_names() if not documented)


def test_public_names_have_docstrings() -> None:
    names = list(public_names())
    assert len(names) > 300  # the walk found the package
    absent = missing()
    assert not absent, f"{len(absent)} public names without a docstring:\n" + "\n".join(absent)


if __name__ == "__main__":
    absent = missing()
    print("\n".join(absent))
    print(f"{len(absent)} of {len(list(public_names()))} public names without a docstring", file=sys.stderr)
