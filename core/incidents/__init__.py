"""Incidents: one problem many customers share, its public timeline and its linked tickets."""
