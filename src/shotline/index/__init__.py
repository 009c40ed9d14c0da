"""Milvus search core shared by the indexer, query and trainer services."""

from shotline.index.model import Hit, SearchFilter, ShotRow, StoredShot, collection_name, shot_pk
from shotline.index.shot_index import BATCH_ROWS, MAX_TOP_K, QUERY_KINDS, QueryKind, ShotIndex

__all__ = [
    "BATCH_ROWS", "MAX_TOP_K", "QUERY_KINDS", "Hit", "QueryKind", "SearchFilter", "ShotIndex", "ShotRow", "StoredShot",
    "collection_name", "shot_pk",
]
