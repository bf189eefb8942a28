"""Read-only dicts and lists, for values shared between requests by a per-process cache (effective settings of
a procedure, an application's settings snapshot).

A cached value handed to many callers must not be changed by one of them: the next request would see the
change. ``freeze`` turns a JSON-like value into dict and list subclasses that refuse every change with a
``TypeError`` saying what to do instead, so a mistake fails in the first test that makes it rather than
corrupting other requests later. They stay real dicts and lists: ``json.dumps``, marshmallow and Jinja treat
them as such. ``copy.deepcopy`` of one gives plain, changeable dicts and lists.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any, NoReturn

_REFUSED = "a shared read-only value (cached for every request): copy.deepcopy() it to change a copy"


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(_REFUSED)


class ReadOnlyDict(dict[str, Any]):
    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {key: deepcopy(value, memo) for key, value in self.items()}

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (and copies by reduce) as a plain dict
        return (dict, (dict(self),))


class ReadOnlyList(list[Any]):
    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [deepcopy(value, memo) for value in self]

    def __copy__(self) -> list[Any]:
        return list(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


def freeze(value: Any) -> Any:
    """``value`` with every dict and list in it, at any depth, made read-only (scalars are immutable already)."""
    if isinstance(value, dict):
        return ReadOnlyDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return ReadOnlyList(freeze(item) for item in value)
    return value
