"""The names a settings model knows: nearest-key suggestions and unknown TIDINGS_* variables."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterator, Mapping, Sequence

from pydantic import BaseModel

ENV_PREFIX = "TIDINGS_"
# Variables that are ours but not settings: the config file's path, the test suite's database.
NOT_SETTINGS = frozenset({"TIDINGS_CONFIG", "TIDINGS_TEST_DATABASE_URL"})
# Variables of the project's own test suite and benchmarks, never settings.
NOT_SETTINGS_PREFIXES = ("TIDINGS_TEST_", "TIDINGS_BENCH_", "TIDINGS_FAULT_")


def _model_of(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds, and whether a key or index comes before it (dict, list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    if origin in (dict, list):
        inner = typing.get_args(annotation)[-1]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner, True
    return None, False


def keys_at(model: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The keys allowed under `path` (e.g. ("email",) -> host, port, …); [] when unknown."""
    current: type[BaseModel] | None = model
    skip = False
    for part in path:
        if current is None:
            return []
        if skip:  # an agent's name or a list index: the same model continues below it
            skip = False
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current, skip = _model_of(field.annotation)
    return sorted(current.model_fields) if current is not None and not skip else []


def nearest(word: str, known: Sequence[str]) -> str | None:
    """The known name closest to a misspelt one, if any is close enough."""
    found = difflib.get_close_matches(word.lower(), list(known), n=1, cutoff=0.6)
    return found[0] if found else None


def _env_names(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        yield variable
        inner, keyed = _model_of(field.annotation)
        if inner is not None and not keyed:
            yield from _env_names(inner, variable + "__")


def unknown_environment(model: type[BaseModel], environ: Mapping[str, str]) -> list[str]:
    """A sentence for each TIDINGS_* variable that names no setting (it would be ignored)."""
    sections = {name.upper() for name in model.model_fields}
    known = sorted(_env_names(model, ENV_PREFIX))
    problems = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NOT_SETTINGS:
            continue
        if upper.startswith(NOT_SETTINGS_PREFIXES):
            continue
        section = upper[len(ENV_PREFIX) :].split("__")[0]
        if (section in sections and "__" in upper[len(ENV_PREFIX) :]) or upper in known:
            continue  # a section's key: a wrong key there is an error from the model itself
        guess = difflib.get_close_matches(upper, known, n=1, cutoff=0.6)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        problems.append(f"{variable} is not a setting and is ignored{hint}")
    return problems
