"""Satisfaction (CSAT): one question after resolution, one rating per ticket."""
