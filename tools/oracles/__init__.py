"""What must always hold, checked from the data: used by tests, drills and the simulator."""
