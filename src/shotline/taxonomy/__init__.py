"""Category taxonomies for ad-serving: loading, validation and the shipped default."""

from shotline.taxonomy.loader import (
    DEFAULT_TAXONOMY, Category, Taxonomy, default_taxonomy_path, load_taxonomy, parse_taxonomy,
)

__all__ = ["DEFAULT_TAXONOMY", "Category", "Taxonomy", "default_taxonomy_path", "load_taxonomy",
           "parse_taxonomy"]
