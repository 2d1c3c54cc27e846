"""Models reached by name on a db, sync or async: db.User as an attribute, db["User"] as an item."""
from typing import Dict, Generic, List, Tuple, TypeVar

M = TypeVar("M")


class ModelsByName(Generic[M]):
    """Base of Db and AsyncDb; the subclass fills self._models, then calls _expose_models."""

    _models: Dict[str, M]

    def _expose_models(self) -> None:
        """Makes each model a plain attribute, so that db.User costs no __getattr__ call. A model named like an
        attribute of the class (close, models) stays reachable as db["close"] only."""
        for name, model in self._models.items():
            if not hasattr(type(self), name) and not name.startswith("_"):
                self.__dict__[name] = model

    def __getattr__(self, name: str) -> M:
        models = self.__dict__.get("_models")
        if models is not None and name in models:
            return models[name]
        raise AttributeError("kvorm: the schema has no model %r (models: %s)"
                             % (name, ", ".join(sorted(models or ())) or "none"))

    def __getitem__(self, name: str) -> M:
        try:
            return self._models[name]
        except KeyError:
            raise KeyError("kvorm: the schema has no model %r" % name) from None

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self._models))

    @property
    def models(self) -> Tuple[str, ...]:
        """The model names of the schema."""
        return tuple(self._models)
