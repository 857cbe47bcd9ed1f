"""The customer's ticket page: its tokens, what it shows, and the messages posted from it."""
