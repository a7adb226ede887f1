"""What anyone outside the board may read and send (issue 11): the public register of approved
projects, its feeds, and the objection channel with its triage."""
