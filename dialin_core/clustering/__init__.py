"""Clustering algorithms behind one protocol, and the sample of a cluster a judge or namer reads."""
