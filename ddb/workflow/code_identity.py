"""The code identity of a workflow job: the ``ddb`` modules its stage runs, each with a hash of what it does.

A module's hash is taken over its syntax tree with every docstring and bare string statement removed, so comments,
docstrings, blank lines and formatting do not count; any other edit does. A stage's modules are its own module, every
``ddb`` module it imports (transitively, including modules inside subpackages and each package's ``__init__``),
and the modules the workflow names for the job (a dataset's source module, which a stage imports by name at run
time). The rules pass the result as the ``code`` param, so Snakemake reruns exactly the jobs whose code changed.

The identity is a readable string, ``ddb-code <scheme> <module>:<hash> ...``: Snakemake prints it in a job's rerun
reason, and ``python -m ddb.workflow.why`` turns two of them into the list of modules that changed.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

# The normalisation scheme. Changing it changes every job's key once (docs/configuration.md, "Upgrading keeps finished
# results").
SCHEME = "ast1"
MARKER = "ddb-code"


class _StripDocstrings(ast.NodeTransformer):
    """Drops every statement that is only a string constant (docstrings, attribute docstrings)."""

    def visit_Expr(self, node: ast.Expr):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None
        return node

    def generic_visit(self, node):
        super().generic_visit(node)
        if not isinstance(node, ast.Module) and getattr(node, "body", None) == []:
            node.body.append(ast.Pass())  # a function or class that held only its docstring
        return node


def normalised(source: str, filename: str = "<module>") -> str:
    """The syntax tree of ``source`` without docstrings, as text (no positions, so formatting does not count)."""
    tree = _StripDocstrings().visit(ast.parse(source, filename))
    return ast.dump(tree, include_attributes=False)


def source_digest(source: str, filename: str = "<module>") -> str:
    return hashlib.sha256(normalised(source, filename).encode()).hexdigest()[:12]


class CodeIndex:
    """The modules of one package tree on disk (``root/ddb/...``) and the imports between them."""

    def __init__(self, root: str | Path, package: str = "ddb"):
        self.root, self.package = Path(root), package

    def path(self, module: str) -> Path | None:
        """The file of a dotted module name (``ddb.a.b`` -> ``ddb/a/b.py`` or ``ddb/a/b/__init__.py``), or None."""
        base = self.root.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def _is_package(self, module: str) -> bool:
        path = self.path(module)
        return path is not None and path.name == "__init__.py"

    @lru_cache(maxsize=None)
    def digest(self, module: str) -> str:
        path = self._require(module)
        return source_digest(path.read_text(), str(path))

    def _require(self, module: str) -> Path:
        path = self.path(module)
        if path is None:
            raise ValueError(f"no module {module} under {self.root} (a code identity names only modules that exist)")
        return path

    @lru_cache(maxsize=None)
    def imports(self, module: str) -> frozenset[str]:
        """The package's modules that ``module`` imports directly, plus the packages that contain them."""
        path = self._require(module)
        package = module if self._is_package(module) else module.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from . import x, from ..a import b
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                found.add(base)
                # `from ddb.x import y`: y is a submodule or a name defined in ddb.x
                found.update(f"{base}.{alias.name}" for alias in node.names)
        own = {name for name in found if name.split(".")[0] == self.package and self.path(name) is not None}
        return frozenset(own | {parent for name in own for parent in self._parents(name)})

    def _parents(self, module: str) -> list[str]:
        parts = module.split(".")
        return [".".join(parts[:i]) for i in range(1, len(parts))]

    def closure(self, *modules: str) -> list[str]:
        """``modules``, their packages, and every package module they import, transitively, sorted."""
        todo = [m for module in modules for m in (module, *self._parents(module))]
        seen: set[str] = set()
        while todo:
            module = todo.pop()
            if module not in seen:
                self._require(module)
                seen.add(module)
                todo.extend(self.imports(module) - seen)
        return sorted(seen)

    def identity(self, *modules: str) -> str:
        """The code identity of a job running ``modules`` (its stage first, then modules it loads by name)."""
        return " ".join([MARKER, SCHEME, *(f"{m}:{self.digest(m)}" for m in self.closure(*modules))])


def parse_identity(text: str) -> dict[str, str] | None:
    """``{module: hash}`` of an identity string, or None when ``text`` is not one of this scheme."""
    words = text.split()
    if len(words) < 2 or words[0] != MARKER or words[1] != SCHEME:
        return None
    return dict(word.rsplit(":", 1) for word in words[2:])


def changed_modules(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """What differs between two identities: modules whose code changed, that the job now runs, that it no longer runs."""
    return {
        "changed": sorted(m for m in before.keys() & after.keys() if before[m] != after[m]),
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
    }
