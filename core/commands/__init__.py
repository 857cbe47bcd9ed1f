"""Commands: the agent grammar, time phrases, and what each verb does."""
