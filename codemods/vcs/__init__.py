"""Git delivery: the planned change as one commit on a branch, never touching the checkout."""
