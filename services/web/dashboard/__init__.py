"""The job dashboard at /dashboard: server-rendered pages over the same stores and functions the
API uses, opened with an API key pasted once into its login form (`session`)."""
