"""Which configuration applies, how fresh it is, and what may override it."""
