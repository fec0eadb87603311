"""A Griffe extension for the API reference: the docstrings' Sphinx markup → mkdocstrings Markdown.

The package's docstrings are Google-style, with Sphinx roles for references and
math (``:func:`~neuralpde.store.open_store```, ``:class:`ConvTower```,
``:math:`\\nu```, ``.. math::`` blocks), which read well in the source and in
``help()``.  Rendered as Markdown they would be literal text, and a reference to
a renamed or removed name would go unnoticed.  This extension rewrites them, in
memory only, when mkdocstrings loads the package (the source files are not
changed):

* a reference role (``mod``, ``func``, ``class``, ``meth``, ``attr``, ``data``,
  ``exc``, ``obj``, ``const``) to a name of neuralpde becomes an autorefs link to
  its canonical path, resolved as Python would from the docstring's scope (the
  object's members, its module's imports, the parents) or, for a bare name
  that is not in scope (``:class:`ConfigError``` in a module that does not
  import it), to the one public object of the package with that name;
  ``~`` shows the last component only, as in Sphinx;
* a reference that cannot be resolved in neuralpde stays a link to the name as
  written, so ``mkdocs build --strict`` fails on it (``unresolved reference``);
* a reference to another library (JAX, Flax, NumPy, xarray, jax-cfd, ...) or to
  a private name (not in the reference) becomes a code span;
* ``:math:`x``` becomes ``\\(x\\)`` and a ``.. math::`` block a ``$$`` block
  (rendered by ``pymdownx.arithmatex`` and MathJax).

Loaded from ``mkdocs.yml`` (``extensions: [docs/_ext/griffe_sphinx.py]``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(mod|func|class|meth|attr|data|exc|obj|const):`([^`]+)`")
MATH_ROLE = re.compile(r":math:`([^`]+)`")
MATH_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<inline>\S.*)?$")
# names that resolve outside neuralpde: rendered as code, not linked
EXTERNAL = ("jax", "jnp", "np", "numpy", "xr", "xarray", "flax", "nnx", "optax", "orbax", "ocp",
            "cfd", "jax_cfd", "matplotlib", "plt", "zarr", "pandas", "pd", "math", "dataclasses",
            "typing", "argparse", "signal", "pathlib", "os", "json", "netCDF4", "xgcm",
            "cf_xarray", "tensorboardX", "filelock", "tqdm", "functools", "concurrent")


def _lookup(collection, path: str):
    """The canonical path of ``path`` in the loaded tree, or None."""
    try:
        found = collection[path]
        return found.canonical_path
    except Exception:  # noqa: BLE001 (not found, alias to an unloaded package, ...)
        return None


def _resolve(obj, target: str, collection, names) -> tuple[str | None, str]:
    """(canonical path or None, the path the name means from ``obj``'s scope)."""
    head, _, rest = target.partition(".")
    meant = target
    try:
        resolved = obj.resolve(head)
        meant = resolved + ("." + rest if rest else "")
    except Exception:  # noqa: BLE001 (griffe.NameResolutionError and friends)
        pass
    for candidate in (meant, target):
        path = _lookup(collection, candidate)
        if path is not None:
            return path, meant
    if len(names.get(target, ())) == 1:  # a bare name defined once in the package
        return names[target][0], meant
    return None, meant


def _reference(obj, match: re.Match, collection, package: str, names) -> str:
    text = match.group(2).strip()
    title, target = text, text
    explicit = re.fullmatch(r"(.*?)\s*<([^>]+)>", text)
    if explicit:
        title, target = explicit.group(1), explicit.group(2)
    if target.startswith("!"):
        return f"`{title.lstrip('!')}`"
    short = target.startswith("~")
    target = target.lstrip("~.").removesuffix("()")
    if not explicit:
        title = target.rsplit(".", 1)[-1] if short else target
        title = title + ("()" if text.endswith("()") else "")
    path, meant = _resolve(obj, target, collection, names)
    if path is not None and path.split(".")[0] == package:
        if any(part.startswith("_") for part in path.split(".")):
            return f"`{title}`"  # private: not in the reference
        return f"[`{title}`][{path}]"
    if path is not None:  # another loaded package
        return f"`{title}`"
    if meant.split(".")[0] != package and (meant.split(".")[0] in EXTERNAL
                                           or target.split(".")[0] in EXTERNAL):
        return f"`{title}`"
    return f"[`{title}`][{meant}]"  # unresolved in the package: strict mode reports it


def _math_blocks(text: str) -> str:
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        match = MATH_BLOCK.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group("indent")
        body = [match.group("inline")] if match.group("inline") else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        while body and not body[0]:
            body.pop(0)
        out += ["", indent + "$$"] + [indent + line for line in body if line] + [indent + "$$", ""]
    return "\n".join(out)


def convert(obj, text: str, collection, package: str, names) -> str:
    """The docstring ``text`` of ``obj`` with its Sphinx markup as Markdown."""
    if ".. math::" in text:
        text = _math_blocks(text)
    text = MATH_ROLE.sub(lambda m: r"\(" + m.group(1) + r"\)", text)
    return ROLE.sub(lambda m: _reference(obj, m, collection, package, names), text)


class SphinxToMarkdown(griffe.Extension):
    """Rewrite every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        collection = loader.modules_collection
        objects = []

        def collect(obj):
            if obj.is_alias or any(obj is seen for seen in objects):
                return
            objects.append(obj)
            for member in list(obj.members.values()):
                collect(member)

        collect(pkg)
        names: dict[str, list[str]] = {}  # public name -> the paths defining it
        for obj in objects:
            if not any(part.startswith("_") for part in obj.path.split(".")):
                names.setdefault(obj.name, []).append(obj.path)
        for obj in objects:
            if obj.docstring is not None:
                obj.docstring.value = convert(obj, obj.docstring.value, collection, pkg.name, names)
