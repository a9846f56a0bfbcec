"""Retrieval evals: metrics over gold sets, reports, the `tutor eval` command."""
