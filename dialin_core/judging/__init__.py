"""Is a cluster one intent? The cohesion judge, the LLM judge, their cascade, and how judges learn."""
