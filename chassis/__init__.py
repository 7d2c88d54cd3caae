"""The plumbing every service needs, written once: settings, logging, store, outbox relay,
event consumption with retry and dead-lettering, token verification, the HTTP shell and the
process runtime. Services import the chassis; the chassis imports no service."""
