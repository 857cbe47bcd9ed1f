"""Similar tickets: which open tickets and incidents look like a new one, and when several
together look like one outage (a "possible incident")."""
