"""Arrow schemas and record contracts shared by every demem stage.

The bottom layer of the dependency graph: ``pipelines``, ``dedup`` and
``sanitize`` import from here, and this package imports none of them.
"""
from schemas.version import DEMEM_VERSION

__all__ = ["DEMEM_VERSION"]
