"""Mutual aid between cities, in four parts that call one way:

desk (what coordinators do) and inbox (partner messages in) → outbound (outbox rows: what we
tell partners) ← relay (delivery, retries, escalation) reads what outbound wrote.
"""
