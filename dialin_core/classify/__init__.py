"""A fast multi-turn intent classifier for deployment, with LLM routing for the turns it is unsure of.

Building Multi-turn Intent Classification with LLM-based Labeling: each customer turn is classified from its own text and the dialogue before it (consecutive
turns of one speaker merged), by a linear model on frozen sentence embeddings; a turn whose top
probability is below tau goes to an LLM that must choose among the classifier's top K intents.

- `data`: dialogues from a file or a reviewed run, and labelled turns with their context;
- `encoder`: MiniLM traced and int8, ~5 ms for one turn on a small CPU;
- `model`: the classifier, its saved form, and a live dialogue session that embeds each turn once;
- `routing`: the hybrid router, the constrained LLM choice, and the accuracy/coverage arithmetic;
- `evaluate`: a model streamed over held-out dialogues, scored per turn, timed.
"""
