"""The names a program reads that nothing defines: what a run may never reach (a function
nobody calls, an ``if __name__ == "__main__":`` block the sandbox skips) and still fails on,
found without running it, as pyflakes' undefined-name check does, by the compiler's own
symbol tables (:mod:`symtable`).

A name counts as defined when the module binds it anywhere (an assignment, ``def``, ``class``,
``import``, a loop or ``with`` target, ``except ... as``; a function's ``global`` it assigns)
or it is a builtin or a module attribute (``__name__``...). Where a ``from ... import *``
could bind any name, none is reported.
"""

from __future__ import annotations

import ast
import builtins
import symtable

MODULE_NAMES = frozenset({"__name__", "__file__", "__doc__", "__builtins__", "__spec__",
                          "__loader__", "__package__", "__annotations__", "__dict__"})  # fmt: skip
"""Names every module has besides the builtins."""


def undefined_names(code: str) -> list[tuple[str, int]]:
    """The names ``code`` reads that neither it nor the builtins define, each with the line it
    is first read on, in the order of the code; none if the code does not compile.

    Examples
    --------
    >>> undefined_names("def area(r):\\n    return pi * r ** 2")
    [('pi', 2)]
    >>> undefined_names("import math\\ndef area(r):\\n    return math.pi * r ** 2")
    []
    """
    try:
        table = symtable.symtable(code, "solution.py", "exec")
        tree = ast.parse(code)
    except (SyntaxError, ValueError):  # a run says what is wrong with it
        return []
    if any(isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
           for node in ast.walk(tree)):  # fmt: skip
        return []
    defined = set(dir(builtins)) | MODULE_NAMES | _bound_globally(table)
    read = _read_globally(table) - defined
    lines: dict[str, int] = {}
    for node in ast.walk(tree):  # where each is read (a binding elsewhere of a name is not)
        if isinstance(node, ast.Name) and node.id in read and not isinstance(node.ctx, ast.Store):
            lines[node.id] = min(lines.get(node.id, node.lineno), node.lineno)
    return sorted(lines.items(), key=lambda item: (item[1], item[0]))


def _tables(table: symtable.SymbolTable) -> list[symtable.SymbolTable]:
    found, todo = [], [table]
    while todo:  # iterative: a deeply nested program must not exhaust the stack
        current = todo.pop()
        found.append(current)
        todo.extend(current.get_children())
    return found


def _bound_globally(table: symtable.SymbolTable) -> set[str]:
    """What the module binds: its own bindings, and the globals its functions assign."""
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    for scope in _tables(table)[1:]:
        bound |= {s.get_name() for s in scope.get_symbols()
                  if s.is_declared_global() and (s.is_assigned() or s.is_imported())}  # fmt: skip
    return bound


def _read_globally(table: symtable.SymbolTable) -> set[str]:
    """The names read in some scope that resolve to the module's (or the builtins')."""
    read = set()
    for scope in _tables(table):
        module = scope.get_type() == "module"
        for symbol in scope.get_symbols():
            if symbol.is_referenced() and (module or symbol.is_global()):
                read.add(symbol.get_name())
    return read
