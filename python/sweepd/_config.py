"""`Config` (a run's `wandb.config`) and `Summary` (its `wandb.summary`).

Config follows W&B's precedence: the sweep's parameters win over the
defaults given to `init(config=...)`, and `config.update()` (or setting an
item) of a key the sweep set keeps the sweep's value, with one warning per
key. Summary holds the last logged value of each key, unless the user set
that key explicitly.
"""

import argparse
from collections.abc import Mapping

from ._records import warn


def as_mapping(values):
    """A dict from what W&B accepts as config: a dict (any Mapping), an
    argparse.Namespace (or any object with attributes), absl flags, None."""
    if values is None:
        return {}
    if isinstance(values, Mapping):
        return dict(values)
    if isinstance(values, argparse.Namespace):
        return dict(vars(values))
    flags = getattr(values, "flag_values_dict", None)
    if callable(flags):
        return dict(flags())
    if hasattr(values, "__dict__"):
        return {k: v for k, v in vars(values).items() if not k.startswith("_")}
    raise TypeError(
        "config must be a dict, an argparse.Namespace or None, not %s"
        % type(values).__name__
    )


class Config:
    """Item and attribute access to a run's configuration."""

    def __init__(self, values=None, sweep_params=None):
        object.__setattr__(self, "_items", as_mapping(values))
        object.__setattr__(self, "_locked", frozenset())
        object.__setattr__(self, "_warned", set())
        if sweep_params:
            self._items.update(sweep_params)
            object.__setattr__(self, "_locked", frozenset(sweep_params))

    # -- W&B's methods ----------------------------------------------------
    def update(self, values=None, allow_val_change=None, **kwargs):
        """Set keys; a key the sweep set keeps the sweep's value."""
        new = as_mapping(values)
        new.update(kwargs)
        for key, value in new.items():
            self._set(key, value)

    def setdefaults(self, values):
        """Set only the keys not set yet."""
        for key, value in as_mapping(values).items():
            if key not in self._items:
                self._items[key] = value

    def get(self, key, default=None):
        return self._items.get(key, default)

    def keys(self):
        return self._items.keys()

    def items(self):
        return self._items.items()

    def values(self):
        return self._items.values()

    def as_dict(self):
        return dict(self._items)

    def persist(self):
        """W&B writes its config file here; sweepd keeps nothing to write."""

    # -- mapping and attribute protocol -----------------------------------
    def _set(self, key, value):
        if key in self._locked:
            if self._items.get(key) != value and key not in self._warned:
                self._warned.add(key)
                warn(
                    "config %r stays at the sweep's value %r (not %r)"
                    % (key, self._items.get(key), value)
                )
            return
        self._items[key] = value

    def __getitem__(self, key):
        return self._items[key]

    def __setitem__(self, key, value):
        self._set(key, value)

    def __delitem__(self, key):
        del self._items[key]

    def __getattr__(self, name):
        items = self.__dict__.get("_items")
        if items is None or name.startswith("__"):
            raise AttributeError(name)
        try:
            return items[name]
        except KeyError:
            raise AttributeError("config has no key %r" % name) from None

    def __setattr__(self, name, value):
        self._set(name, value)

    def __delattr__(self, name):
        try:
            del self._items[name]
        except KeyError:
            raise AttributeError(name) from None

    def __contains__(self, key):
        return key in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __eq__(self, other):
        if isinstance(other, Config):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other)
        return NotImplemented

    def __repr__(self):
        return "Config(%r)" % (self._items,)

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)


class Summary:
    """A run's summary: item and attribute access, `update()`.

    `_logged` holds the last logged value of each key (filled by
    `Run.log`), `_set` what the user set explicitly, which wins.
    """

    def __init__(self):
        object.__setattr__(self, "_logged", {})
        object.__setattr__(self, "_set", {})

    def as_dict(self):
        merged = dict(self._logged)
        merged.update(self._set)
        return merged

    def update(self, values=None, **kwargs):
        self._set.update(as_mapping(values))
        self._set.update(kwargs)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self):
        return self.as_dict().keys()

    def items(self):
        return self.as_dict().items()

    def values(self):
        return self.as_dict().values()

    def __getitem__(self, key):
        if key in self._set:
            return self._set[key]
        return self._logged[key]

    def __setitem__(self, key, value):
        self._set[key] = value

    def __delitem__(self, key):
        found = False
        for store in (self._set, self._logged):
            if key in store:
                del store[key]
                found = True
        if not found:
            raise KeyError(key)

    def __getattr__(self, name):
        if name.startswith("__") or "_set" not in self.__dict__:
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError("summary has no key %r" % name) from None

    def __setattr__(self, name, value):
        self._set[name] = value

    def __contains__(self, key):
        return key in self._set or key in self._logged

    def __iter__(self):
        return iter(self.as_dict())

    def __len__(self):
        return len(self.as_dict())

    def __repr__(self):
        return "Summary(%r)" % (self.as_dict(),)
