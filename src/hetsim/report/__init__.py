"""Tables and plots derived from result records."""
