"""Every write of the reviews app goes through a function in this package.

Services are keyword-only and transactional; each records its activity in the same
transaction and schedules side effects with transaction.on_commit.
"""
