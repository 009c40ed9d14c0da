"""The annotator console: an HTTP backend-for-frontend over the public QueryService."""
