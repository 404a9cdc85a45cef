"""
The simulated lab's Windows Installer packages: the table, the builder and its cache.

- ``load_products()``: the 22 packages of KB2492954 with both builds (``products.yml``).
- ``build_msis(out_dir, build=..., sizes=..., mtimes=...)``: real MSI files built with wixl.
- ``ensure_built(cache_dir, build=..., sizes=..., mtimes=...)``: the same, cached by content.

See docs/lab-msi.md.
"""

from __future__ import annotations

from rollup.lab.msi.build import build_msis
from rollup.lab.msi.cache import ensure_built
from rollup.lab.msi.products import BUILDS, Build, BuildSpec, LabProduct, ProductTable, load_products

__all__ = [
    "BUILDS",
    "Build",
    "BuildSpec",
    "LabProduct",
    "ProductTable",
    "build_msis",
    "ensure_built",
    "load_products",
]
