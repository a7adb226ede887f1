"""The board's view of its portfolio (issue 11): the oversight dashboard for admins."""
