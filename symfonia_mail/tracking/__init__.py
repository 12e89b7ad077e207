"""Record what happened to each message: the mail log and delivery events."""
