"""Serving: the HTTP API and the local model files (pull / list / verify)."""
