"""Trust decisions: do the notes cover the question (coverage), is the answer supported by them (check)."""
