"""The push gate: the git-remote-gitfleet helper and the pre-push hook, which route
pushes through the queue."""
