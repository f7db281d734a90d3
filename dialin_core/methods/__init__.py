"""Discovery methods (baselines, the Dial-In loop, label generation) and the runs that persist them."""
