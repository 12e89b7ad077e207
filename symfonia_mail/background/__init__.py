"""The outbox and the workers: messages sent in the background on Django's Tasks framework."""
