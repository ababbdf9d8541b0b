"""How messages are declared, checked and dispatched (pure): the machinery of :mod:`.messages`.

Theory of operation
-------------------
Every message that crosses a process boundary is declared once, in :mod:`.messages`, as a
``TypedDict`` whose ``op`` field is a ``Literal`` of its name, decorated with the channels it
travels on::

    @message(Channel.CLIENT_STREAM)
    class ClientReleasesKeys(TypedDict):
        "The client dropped its last Future of these keys."
        op: Literal["client-releases-keys"]
        keys: list[str]

From the declaration this module derives, once, at import:

- a **checker** per message (:func:`check`): required fields present, every field of its declared
  type (``str``, ``int``, ``float``, ``bool``, ``list[...]``, ``dict[str, ...]``, nested
  TypedDicts, unions, ``Literal``, ``Opaque``, ``Any``), extra fields allowed (a newer peer may
  add one).  The shells check every incoming message before its handler runs, so a malformed
  message is refused whole, with an error naming the op and the field, and never half-applied.
  Checking is on the path of every task, so each declaration is also compiled into one Python
  expression that only says "fine" (about 1 µs for a ``task-finished``); only a message it
  rejects goes through the slower checkers that say exactly what is wrong;
- the **dispatch tables** of the shells (:func:`handlers_for`): ``op → handler`` built from
  ``{MessageClass: handler}``, refusing a class not declared on that channel;
- the **catalogue** (:func:`declared`), which tests use to check that every declared message
  has a handler and every handler a declaration, and from which the TypeScript types of the
  Jupyter comm and the dashboard's WebSocket are generated (:func:`typescript`).
"""
from __future__ import annotations

import enum
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from ..errors import ProtocolError
from .serialize import Opaque

if sys.version_info >= (3, 11):
    from typing import NotRequired, is_typeddict
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired, is_typeddict

__all__ = ["Channel", "Field", "Spec", "check", "checker", "declared", "handlers_for", "message",
           "spec", "typescript"]

T = TypeVar("T")


class Channel(enum.Enum):
    """Where a message travels.  Streams carry batches (lists) of messages; requests are one
    message answered by one reply on a pooled connection."""

    #: requests to the scheduler (and the two that turn a connection into a stream)
    SCHEDULER = "request to the scheduler"
    #: a client's long-lived stream to the scheduler
    CLIENT_STREAM = "client → scheduler stream"
    #: the scheduler's stream to a client
    TO_CLIENT = "scheduler → client stream"
    #: a worker's long-lived stream to the scheduler
    WORKER_STREAM = "worker → scheduler stream"
    #: the scheduler's stream to a worker
    TO_WORKER = "scheduler → worker stream"
    #: requests to a worker (from clients, peers or the scheduler)
    WORKER = "request to a worker"
    #: the JupyterLab sidebar ⇄ the kernel (a Jupyter comm)
    KERNEL_COMM = "sidebar ⇄ kernel comm"
    #: the dashboard page ⇄ the scheduler (a WebSocket)
    DASHBOARD = "dashboard page ⇄ scheduler WebSocket"


Checker = Callable[[Any, str], None]


@dataclass(frozen=True)
class Field:
    """One declared field of a message."""

    name: str
    hint: Any
    required: bool
    checker: Checker


@dataclass(frozen=True)
class Spec:
    """A declared message: its op, channels, fields and documentation."""

    cls: type
    op: str
    channels: tuple[Channel, ...]
    fields: tuple[Field, ...]
    doc: str
    #: the compiled "is this message fine?" predicate
    ok: Callable[[dict[str, Any]], bool]


_REGISTRY: dict[Channel, dict[str, Spec]] = {c: {} for c in Channel}
_BY_CLASS: dict[type, Spec] = {}


# --------------------------------------------------------------------------- checkers
def _type_name(value: Any) -> str:
    return type(value).__name__


def _fail(path: str, expected: str, value: Any) -> ProtocolError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ProtocolError(f"{path} must be {expected}, not {_type_name(value)} {shown}")


def _scalar(kind: type, expected: str) -> Checker:
    def check(value: Any, path: str) -> None:
        if type(value) is not kind:
            raise _fail(path, expected, value)
    return check


def _check_int(value: Any, path: str) -> None:
    if type(value) is not int:
        raise _fail(path, "an int", value)


def _check_float(value: Any, path: str) -> None:
    if type(value) is not float and type(value) is not int:
        raise _fail(path, "a number", value)


def _check_any(value: Any, path: str) -> None:
    return None


def _checker(hint: Any, owner: str) -> Checker:
    """A function checking a value against one type hint (raising ProtocolError)."""
    if hint is Any or hint is object:
        return _check_any
    if hint is str:
        return _scalar(str, "a string")
    if hint is bool:
        return _scalar(bool, "a bool")
    if hint is bytes:
        def check_bytes(value: Any, path: str) -> None:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise _fail(path, "bytes", value)
        return check_bytes
    if hint is int:
        return _check_int
    if hint is float:
        return _check_float
    if hint is type(None) or hint is None:
        return _scalar(type(None), "None")
    if hint is Opaque:
        def check_opaque(value: Any, path: str) -> None:
            if not isinstance(value, Opaque):
                raise _fail(path, "a pickled payload", value)
        return check_opaque
    if is_typeddict(hint):
        return _typeddict_checker(hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin is NotRequired:
        return _checker(args[0], owner)
    if origin is Literal:
        allowed = frozenset(args)

        def check_literal(value: Any, path: str) -> None:
            if type(value) not in (str, int) or value not in allowed:
                raise _fail(path, " or ".join(repr(a) for a in args), value)
        return check_literal
    if origin is Union or origin is types.UnionType:
        options = [_checker(a, owner) for a in args]
        names = " or ".join(_hint_name(a) for a in args)

        def check_union(value: Any, path: str) -> None:
            for option in options:
                try:
                    option(value, path)
                    return
                except ProtocolError:
                    continue
            raise _fail(path, names, value)
        return check_union
    if origin in (list, tuple) or hint in (list, tuple):
        item = _checker(args[0], owner) if args else _check_any
        expected = f"a list of {_hint_name(args[0])}" if args else "a list"

        def check_list(value: Any, path: str) -> None:
            if type(value) is not list and type(value) is not tuple:
                raise _fail(path, expected, value)
            if item is not _check_any:
                for i, v in enumerate(value):
                    item(v, f"{path}[{i}]")
        return check_list
    if origin is dict or hint is dict:
        key = _checker(args[0], owner) if args else _check_any
        val = _checker(args[1], owner) if args else _check_any

        def check_dict(value: Any, path: str) -> None:
            if type(value) is not dict:
                raise _fail(path, "a dict", value)
            if key is not _check_any or val is not _check_any:
                for k, v in value.items():
                    key(k, f"{path} key")
                    val(v, f"{path}[{k!r}]")
        return check_dict
    raise TypeError(f"{owner}: cannot check fields of type {hint!r}")


def _hint_name(hint: Any) -> str:
    if hint is type(None) or hint is None:
        return "None"
    if isinstance(hint, type):
        return {"str": "a string", "int": "an int", "float": "a number",
                "bool": "a bool"}.get(hint.__name__, hint.__name__)
    return str(hint).replace("typing.", "")


def _fields(cls: type) -> tuple[Field, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    required = getattr(cls, "__required_keys__", frozenset(hints))
    out = []
    for name, hint in hints.items():
        is_required = name in required and get_origin(hint) is not NotRequired
        out.append(Field(name, hint, is_required, _checker(hint, f"{cls.__name__}.{name}")))
    return tuple(out)


def _typeddict_checker(cls: type) -> Checker:
    fields = _fields(cls)

    def check_record(value: Any, path: str) -> None:
        if type(value) is not dict:
            raise _fail(path, f"a {cls.__name__} record", value)
        for f in fields:
            try:
                v = value[f.name]
            except KeyError:
                if f.required:
                    raise ProtocolError(f"{path} has no field {f.name!r}") from None
                continue
            f.checker(v, f"{path}.{f.name}")
    return check_record


# --------------------------------------------------------------------------- compiled checks
_MISSING: Any = object()


class _Namespace:
    """Names a compiled predicate refers to (record predicates, literal sets, types)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {"M": _MISSING, "Opaque": Opaque,
                                       "BYTES": (bytes, bytearray, memoryview)}
        self._n = 0

    def add(self, prefix: str, value: Any) -> str:
        self._n += 1
        name = f"{prefix}{self._n}"
        self.values[name] = value
        return name

    def var(self) -> str:
        self._n += 1
        return f"v{self._n}"


def _expr(hint: Any, var: str, ns: _Namespace) -> str:
    """A Python expression true when the value in ``var`` matches ``hint``."""
    if hint is Any or hint is object:
        return "True"
    simple = {str: "is str", int: "is int", bool: "is bool"}
    if hint in simple:
        return f"{var}.__class__ {simple[hint]}"
    if hint is float:
        return f"({var}.__class__ is float or {var}.__class__ is int)"
    if hint is type(None) or hint is None:
        return f"{var} is None"
    if hint is Opaque:
        return f"isinstance({var}, Opaque)"
    if hint is bytes:
        return f"isinstance({var}, BYTES)"
    if is_typeddict(hint):
        pred = ns.add("rec", _compile(hint.__name__, _fields(hint)))
        return f"{pred}({var})"
    origin, args = get_origin(hint), get_args(hint)
    if origin is NotRequired:
        return _expr(args[0], var, ns)
    if origin is Literal:
        allowed = ns.add("lit", frozenset(args))
        return f"({var}.__class__ in (str, int) and {var} in {allowed})"
    if origin is Union or origin is types.UnionType:
        return "(" + " or ".join(_expr(a, var, ns) for a in args) + ")"
    if origin in (list, tuple) or hint in (list, tuple):
        kind = f"({var}.__class__ is list or {var}.__class__ is tuple)"
        if not args or _expr(args[0], "x", ns) == "True":
            return kind
        item = ns.var()
        return f"({kind} and all({_expr(args[0], item, ns)} for {item} in {var}))"
    if origin is dict or hint is dict:
        kind = f"{var}.__class__ is dict"
        if not args:
            return kind
        k, v = ns.var(), ns.var()
        key_ok, val_ok = _expr(args[0], k, ns), _expr(args[1], v, ns)
        return f"({kind} and all({key_ok} and {val_ok} for {k}, {v} in {var}.items()))"
    raise TypeError(f"cannot check fields of type {hint!r}")


def _compile(name: str, fields: tuple[Field, ...]) -> Callable[[Any], bool]:
    """One function ``ok(msg) -> bool`` checking every field of a declaration at once."""
    ns = _Namespace()
    terms = []
    for f in fields:
        var = ns.var()
        expr = _expr(f.hint, var, ns)
        if f.required:
            # m[name] raises KeyError when it is missing (cheaper than a get, on every task)
            direct = _expr(f.hint, f"m[{f.name!r}]", ns)
            if expr == "True":
                terms.append(f"m[{f.name!r}] is not M")
            elif direct.count("m[") == 1:
                terms.append(direct)
            else:
                terms.append(f"(({var} := m[{f.name!r}]) is not M and {expr})")
        elif expr != "True":
            terms.append(f"(({var} := m.get({f.name!r}, M)) is M or {expr})")
    body = "\n                and ".join(terms or ["True"])
    source = (f"def ok_{name}(m):\n    if m.__class__ is not dict:\n        return False\n"
              f"    try:\n        return ({body})\n    except KeyError:\n        return False\n")
    exec(compile(source, f"<check {name}>", "exec"), ns.values)  # noqa: S102 - our own source
    return ns.values[f"ok_{name}"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- declaring
def message(*channels: Channel) -> Callable[[type[T]], type[T]]:
    """Declare a TypedDict as a message travelling on ``channels``.

    Its ``op`` field must be a ``Literal`` of the message's name.

    Raises:
        TypeError: for a class that is not a TypedDict, has no ``op`` literal, or reuses an op
            already declared on one of the channels.

    >>> from typing import Literal, TypedDict
    >>> @message(Channel.TO_WORKER)
    ... class _Example(TypedDict):
    ...     op: Literal["example-doctest"]
    ...     key: str
    >>> spec(_Example).op
    'example-doctest'
    """
    if not channels:
        raise TypeError("a message needs at least one channel")

    def register(cls: type[T]) -> type[T]:
        if not is_typeddict(cls):
            raise TypeError(f"{cls.__name__} must be a TypedDict")
        fields = _fields(cls)
        op_field = next((f for f in fields if f.name == "op"), None)
        if op_field is None or get_origin(op_field.hint) is not Literal \
                or len(get_args(op_field.hint)) != 1:
            raise TypeError(f"{cls.__name__} needs an op: Literal['<name>'] field")
        op = get_args(op_field.hint)[0]
        body = tuple(f for f in fields if f.name != "op")
        s = Spec(cls, op, channels, body, " ".join((cls.__doc__ or "").split()),
                 _compile(cls.__name__, body))
        for channel in channels:
            if op in _REGISTRY[channel]:
                raise TypeError(f"op {op!r} is declared twice on {channel.value}")
            _REGISTRY[channel][op] = s
        _BY_CLASS[cls] = s
        return cls
    return register


def spec(cls: type) -> Spec:
    """The declaration of message class ``cls``.

    Raises:
        KeyError: when ``cls`` is not a declared message.
    """
    return _BY_CLASS[cls]


def declared(channel: Channel) -> dict[str, Spec]:
    """Every message declared on ``channel``, by op."""
    return dict(_REGISTRY[channel])


# --------------------------------------------------------------------------- checking
def check(channel: Channel, msg: Any) -> Spec:
    """Check one incoming message against its declaration; returns the declaration.

    Raises:
        ProtocolError: the message is not a dict, its op is not declared on ``channel``, or a
            field is missing or of the wrong type (the error names the op and the field).

    >>> check(Channel.WORKER_STREAM, {"op": "add-keys", "keys": ["x"]}).op
    'add-keys'
    >>> check(Channel.WORKER_STREAM, {"op": "add-keys", "keys": [1]})
    Traceback (most recent call last):
    futurelab.errors.ProtocolError: add-keys: field 'keys'[0] must be a string, not int 1
    """
    return checker(channel)(msg)


def checker(channel: Channel) -> Callable[[Any], Spec]:
    """:func:`check` for one channel, bound once (a stream reader calls it per message)."""
    table = _REGISTRY[channel]

    def check_message(msg: Any) -> Spec:
        try:
            s = table[msg["op"]]
        except (KeyError, TypeError):
            s = None
        if s is not None and s.ok(msg):
            return s
        raise _explain(channel, msg)
    return check_message


def _explain(channel: Channel, msg: Any) -> ProtocolError:
    """The precise error of a message the compiled check refused."""
    if type(msg) is not dict:
        return ProtocolError(f"a message must be a dict, not {_type_name(msg)}")
    op = msg.get("op")
    s = _REGISTRY[channel].get(op) if type(op) is str else None
    if s is None:
        return ProtocolError(f"unknown operation {op!r} on the {channel.value}")
    for f in s.fields:
        try:
            v = msg[f.name]
        except KeyError:
            if f.required:
                return ProtocolError(f"{op}: missing field {f.name!r}")
            continue
        try:
            f.checker(v, f"{op}: field {f.name!r}")
        except ProtocolError as e:
            return e
    return ProtocolError(f"{op}: malformed message")  # the two checks disagree: a bug here


def handlers_for(channel: Channel, table: Mapping[type, T]) -> dict[str, T]:
    """``{op: handler}`` for a shell, from ``{MessageClass: handler}``.

    Raises:
        TypeError: a class in ``table`` is not a message declared on ``channel``.
    """
    out: dict[str, T] = {}
    for cls, handler in table.items():
        s = _BY_CLASS.get(cls)
        if s is None or channel not in s.channels:
            raise TypeError(f"{getattr(cls, '__name__', cls)} is not a message declared on the "
                            f"{channel.value}")
        out[s.op] = handler
    return out


# --------------------------------------------------------------------------- TypeScript
def _ts_type(hint: Any, records: dict[str, type]) -> str:
    if hint is str:
        return "string"
    if hint in (int, float):
        return "number"
    if hint is bool:
        return "boolean"
    if hint is type(None) or hint is None:
        return "null"
    if hint is Any or hint is object or hint is Opaque:
        return "unknown"
    if is_typeddict(hint):
        name: str = hint.__name__
        records.setdefault(name, hint)
        return name
    origin, args = get_origin(hint), get_args(hint)
    if origin is NotRequired:
        return _ts_type(args[0], records)
    if origin is Literal:
        return " | ".join(f'"{a}"' if isinstance(a, str) else str(a).lower() for a in args)
    if origin is Union or origin is types.UnionType:
        return " | ".join(_ts_type(a, records) for a in args)
    if origin in (list, tuple) or hint in (list, tuple):
        inner = _ts_type(args[0], records) if args else "unknown"
        return f"Array<{inner}>"
    if origin is dict or hint is dict:
        inner = _ts_type(args[1], records) if args else "unknown"
        return f"{{ [key: string]: {inner} }}"
    raise TypeError(f"no TypeScript type for {hint!r}")


def typescript(channels: tuple[Channel, ...], header: str) -> str:
    """TypeScript interfaces for every message (and nested record) declared on ``channels``.

    The front end imports these, so a field renamed in Python fails ``tsc``; a test checks the
    generated file is up to date.
    """
    records: dict[str, type] = {}
    names: list[str] = []
    for channel in channels:
        for s in _REGISTRY[channel].values():
            records.setdefault(s.cls.__name__, s.cls)
    lines = [header, ""]
    done: set[str] = set()
    while len(done) < len(records):
        for name, cls in sorted(records.items()):
            if name in done:
                continue
            done.add(name)
            names.append(name)
            doc = " ".join((cls.__doc__ or "").split())
            if doc:
                lines.append(f"/** {doc} */")
            lines.append(f"export interface {name} {{")
            hints = typing.get_type_hints(cls, include_extras=True)
            required = getattr(cls, "__required_keys__", frozenset(hints))
            for field, hint in hints.items():
                optional = field not in required or get_origin(hint) is NotRequired
                lines.append(f"  {field}{'?' if optional else ''}: {_ts_type(hint, records)};")
            lines.append("}")
            lines.append("")
    return "\n".join(lines)
