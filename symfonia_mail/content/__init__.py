"""What a message says: kinds, macros, templates, the prepared MIME message."""
