"""The tools around the product: the local stack, the drills, the simulator, test oracles."""
