"""How good a run is: against gold intents, against another run, and by a judge the run did not use."""
