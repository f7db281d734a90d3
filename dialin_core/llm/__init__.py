"""LLM back ends behind one protocol (base.py, backends.py), with a persistent call cache in front of them
(cache.py). Nothing is imported here: the run configuration reads the back-end registry, and the cache
needs the workspace, which needs the configuration."""
