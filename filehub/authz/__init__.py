"""Relationship-based access control (after Zanzibar): the pure core.

``rules`` holds the rewrite rules as data and filehub's model (``FILEHUB_SCHEMA``);
``model`` holds relation tuples, the ``TupleStore`` protocol with ``MemoryTuples``, and the
evaluation (``check``, ``list_objects``). No IO here: ``authz.service`` loads tuples from
the database and calls these. See docs/authz.md.
"""

from filehub.authz.model import (
    InvalidTuple,
    MemoryTuples,
    ObjectRef,
    RelationTuple,
    ResolutionTooDeep,
    SubjectRef,
    TupleStore,
    check,
    list_objects,
    subject_sets,
    validate_tuple,
)
from filehub.authz.rules import FILEHUB_SCHEMA, MAX_DEPTH, AuthzError, Schema, SchemaError, UnknownRelation

__all__ = [
    "FILEHUB_SCHEMA",
    "MAX_DEPTH",
    "AuthzError",
    "InvalidTuple",
    "MemoryTuples",
    "ObjectRef",
    "RelationTuple",
    "ResolutionTooDeep",
    "Schema",
    "SchemaError",
    "SubjectRef",
    "TupleStore",
    "UnknownRelation",
    "check",
    "list_objects",
    "subject_sets",
    "validate_tuple",
]
