"""Retrieval-augmented answering: chunks, embeddings, the Chroma + BM25 index, hybrid retrieval, the token budget, follow-ups and the chat answer."""
