"""Sentence embeddings from models shipped inside Python packages."""
