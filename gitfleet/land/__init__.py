"""Landing: the merge queue that rebases, checks and pushes one branch at a time."""
