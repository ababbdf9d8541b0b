"""``%load_ext futurelab``: run a cell on the cluster (``%%submit``), list and cancel futures.

Theory of operation
-------------------
``%%submit`` turns a cell into one task.  :func:`free_names` reads the cell's syntax tree and finds
the names it reads before (or without) assigning them; those are looked up in the notebook's
namespace and passed to the task as arguments, so Futures among them become dependencies that the
scheduler tracks and the cell sees as their values.  Nothing is submitted when the cell has a
syntax error or reads a name that is defined nowhere.  On the worker, :func:`run_cell` executes the
cell's statements and evaluates a trailing expression, whose value is the task's result.

``run_cell`` is shipped by value (see :func:`_detached`), so workers never import IPython.
"""
from __future__ import annotations

import ast
import builtins
import symtable
import types
import uuid
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .repr import table


# ---------------------------------------------------------------------- the cell as a task
def run_cell(filename: str, source: str, names: tuple[str, ...], *values: Any) -> Any:
    """Run a cell's ``source`` with ``names`` bound to ``values``; return its last expression."""
    import ast
    import builtins
    import linecache
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    tree = ast.parse(source, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)  # type: ignore[attr-defined]
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    ns.update(zip(names, values))
    exec(compile(tree, filename, "exec"), ns)  # noqa: S102 - running the cell is the point
    return eval(compile(last, filename, "eval"), ns) if last is not None else None


def _detached(fn: Callable[..., Any]) -> types.FunctionType:
    """A copy of ``fn`` that cloudpickle ships by value (its module is not looked up)."""
    copy = types.FunctionType(fn.__code__, {"__builtins__": builtins}, fn.__name__)
    copy.__qualname__ = fn.__name__
    return copy


class _Names(ast.NodeVisitor):
    """Module-level reads in execution order: a name read before any assignment is free."""

    def __init__(self) -> None:
        self.assigned: set[str] = set()
        self.free: dict[str, None] = {}

    def load(self, name: str) -> None:
        if name not in self.assigned:
            self.free.setdefault(name, None)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.load(node.id)
        else:
            self.assigned.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for t in node.targets:
            self.visit(t)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.load(node.target.id)
        self.visit(node.value)
        self.visit(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.annotation)
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.visit(node.target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def _defined(self, node: Any) -> None:
        # decorators, defaults, annotations and bases run now; bodies are scopes of their own
        for d in getattr(node, "decorator_list", []):
            self.visit(d)
        if isinstance(node, ast.ClassDef):
            for b in node.bases + [k.value for k in node.keywords]:
                self.visit(b)
        else:
            args = node.args
            for d in args.defaults + [d for d in args.kw_defaults if d is not None]:
                self.visit(d)
        if not isinstance(node, ast.Lambda):
            self.assigned.add(node.name)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _defined
    visit_Lambda = _defined

    def _comprehension(self, node: Any) -> None:
        self.visit(node.generators[0].iter)  # only the first iterable runs in this scope

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            self.assigned.add(alias.asname or alias.name.split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.assigned.add(node.name)
        for stmt in node.body:
            self.visit(stmt)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self.assigned.add(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.assigned.add(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.generic_visit(node)
        if node.rest:
            self.assigned.add(node.rest)


def _nested_globals(table_: symtable.SymbolTable) -> set[str]:
    """Names that function, class and comprehension scopes read from module level."""
    out: set[str] = set()
    for child in table_.get_children():
        for sym in child.get_symbols():
            if sym.is_referenced() and sym.is_global() and not sym.is_assigned():
                out.add(sym.get_name())
        out |= _nested_globals(child)
    return out


def free_names(source: str, filename: str = "<cell>") -> list[str]:
    """The names ``source`` reads that it does not define first, builtins left out.

    Raises:
        SyntaxError: when ``source`` does not parse.

    >>> free_names("y = x + 1\\nprint(y, z)")
    ['x', 'z']
    """
    tree = ast.parse(source, filename, "exec")
    visitor = _Names()
    for stmt in tree.body:
        visitor.visit(stmt)
    top = symtable.symtable(source, filename, "exec")
    module_assigned = {s.get_name() for s in top.get_symbols() if s.is_assigned()
                       or s.is_imported()}
    names = list(visitor.free)
    names += sorted(_nested_globals(top) - module_assigned - set(names))
    return [n for n in names if not hasattr(builtins, n)]


def _unpicklable(names: list[str], values: tuple[Any, ...]) -> list[str]:
    """The names whose values cloudpickle cannot serialize."""
    import cloudpickle
    bad = []
    for name, value in zip(names, values):
        try:
            cloudpickle.dumps(value)
        except Exception:  # noqa: BLE001 - any failure means it cannot travel
            bad.append(name)
    return bad


def _holders(user_ns: dict[str, Any], hidden: dict[str, Any]) -> dict[str, list[str]]:
    """Future key → the user-namespace expressions that hold it (``x``, ``futs[3]``, ``d['a']``)."""
    from ..client.future import Future
    out: dict[str, list[str]] = {}
    for name, value in list(user_ns.items()):
        if (name.startswith("_") and name != "_") or name in ("In", "Out") or (
                name in hidden and hidden[name] is value):
            continue
        if isinstance(value, Future):
            out.setdefault(value.key, []).append(name)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value[:10000]):
                if isinstance(v, Future):
                    out.setdefault(v.key, []).append(f"{name}[{i}]")
        elif isinstance(value, dict):
            for k, v in list(value.items())[:10000]:
                if isinstance(v, Future):
                    out.setdefault(v.key, []).append(f"{name}[{k!r}]")
    return out


class FuturesTable:
    """What ``%futures`` shows: rows of key, status, type and the names holding each future."""

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        self.rows = rows

    def _repr_html_(self) -> str:
        if not self.rows:
            return "<em>No live futures.</em>"
        return (f"<div><strong>{len(self.rows)} futures</strong></div>"
                + table(self.rows, ("key", "status", "type", "held by")))

    def __repr__(self) -> str:
        if not self.rows:
            return "No live futures."
        widths = [max(len(str(r[i])) for r in self.rows + [("key", "status", "type", "held by")])
                  for i in range(4)]
        lines = ["  ".join(h.ljust(wd) for h, wd in zip(("key", "status", "type", "held by"),
                                                         widths))]
        lines += ["  ".join(str(c).ljust(wd) for c, wd in zip(row, widths)) for row in self.rows]
        return "\n".join(lines)


@magics_class
class FuturelabMagics(Magics):
    """``%%submit``, ``%futures`` and ``%cancel``."""

    def _client(self) -> Any:
        from ..client.client import default_client
        try:
            return default_client()
        except ValueError as e:
            raise UsageError(f"futurelab: {e}") from None

    @magic_arguments()
    @argument("name", nargs="?", default="_",
              help="the variable to bind the Future to (default: _)")
    @argument("--workers", "-w", default=None,
              help="comma-separated worker addresses or names the task may run on")
    @argument("--pure", action="store_true",
              help="name the task by its code and inputs, so a repeat reuses the result")
    @argument("--wait", action="store_true", help="block until done and show the result")
    @cell_magic
    def submit(self, line: str, cell: str) -> None:
        """Run this cell on the cluster as one task; bind its Future to NAME (default ``_``).

        The names the cell reads come from the notebook; Futures among them are waited for and
        arrive as their values.  The task's result is the value of the cell's last expression.

            %%submit total --wait
            sum(parts)
        """
        args = parse_argstring(self.submit, line)
        name = args.name
        if not name.isidentifier():
            raise UsageError(f"%%submit: {name!r} is not a valid variable name")
        filename = f"<%%submit {name}>"
        try:
            names = free_names(cell, filename)
        except SyntaxError as e:
            where = f"line {e.lineno}" + (f", column {e.offset}" if e.offset else "")
            text = f"\n    {e.text.rstrip()}" if e.text else ""
            raise UsageError(f"%%submit: syntax error at {where}: {e.msg}{text}\n"
                             "Nothing was submitted.") from None
        ns = self.shell.user_ns if self.shell is not None else {}
        missing = [n for n in names if n not in ns]
        if missing:
            raise UsageError(f"%%submit: name{'s' if len(missing) > 1 else ''} not defined: "
                             f"{', '.join(missing)}. Nothing was submitted.")
        values = tuple(ns[n] for n in names)
        client = self._client()
        workers = [x.strip() for x in args.workers.split(",")] if args.workers else None
        prefix = "cell" if name == "_" else name
        key = None if args.pure else f"{prefix}-{uuid.uuid4().hex}"
        func = _detached(run_cell)
        func.__name__ = prefix
        try:
            future = client.submit(func, filename, cell, tuple(names), *values, key=key,
                                   workers=workers, pure=bool(args.pure))
        except TypeError as e:
            bad = _unpicklable(names, values)
            what = ", ".join(bad) if bad else "the cell"
            raise UsageError(f"%%submit: cannot send {what} to the cluster: {e}. "
                             "Nothing was submitted.") from None
        ns[name] = future
        from IPython.display import display

        from .repr import in_kernel
        if in_kernel():
            from .widgets import FutureView
            display(FutureView(future))
        else:
            display(future)
        if args.wait:
            result = future.result()
            if result is not None:
                display(result)

    @line_magic
    def futures(self, line: str = "") -> None:
        """Show this kernel's live futures: key, status, type, and the variables holding them."""
        client = self._client()
        ns = self.shell.user_ns if self.shell is not None else {}
        hidden = getattr(self.shell, "user_ns_hidden", {}) if self.shell is not None else {}
        holders = _holders(ns, hidden)
        rows = [(key, st.status, st.type or "", ", ".join(holders.get(key, [])))
                for key, st in list(client.futures.items())]
        from IPython.display import display
        display(FuturesTable(rows))

    @magic_arguments()
    @argument("names", nargs="*", help="variables holding Futures (or lists/dicts of them)")
    @argument("--all", action="store_true", help="cancel every future of this kernel's client")
    @line_magic
    def cancel(self, line: str = "") -> None:
        """Cancel the futures held by the named variables, or every future with ``--all``."""
        from ..client.future import Future
        from .progress import collect_futures
        args = parse_argstring(self.cancel, line)
        if not args.names and not args.all:
            raise UsageError("%cancel: name the variables to cancel, or pass --all")
        client = self._client()
        ns = self.shell.user_ns if self.shell is not None else {}
        if args.all:
            futures = [Future(k, client, inform=False) for k in list(client.futures)]
        else:
            missing = [n for n in args.names if n not in ns]
            if missing:
                raise UsageError(f"%cancel: not defined: {', '.join(missing)}")
            futures = collect_futures(ns[n] for n in args.names)
            if not futures:
                raise UsageError(f"%cancel: no futures in {', '.join(args.names)}")
        client.cancel(futures)
        print(f"cancelled {len(futures)} future{'s' if len(futures) != 1 else ''}")


def load_ipython_extension(ipython: Any) -> None:
    """Register the futurelab magics (``%load_ext futurelab``)."""
    ipython.register_magics(FuturelabMagics)

