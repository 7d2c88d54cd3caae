"""The web front: server-rendered pages for every role, calling the services' HTTP APIs with the
signed-in person's token. It keeps no business data (docs/decisions/0011-web-front.md)."""
