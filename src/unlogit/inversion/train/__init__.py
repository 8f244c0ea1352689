"""Training an inverter: the train state, one step per method, hooks, the loop, and the data stream."""
