# WebSockets (ws/README.md): make's part, included by the Makefile.
COMPOSE_COMBINATIONS += compose.yaml+ws/compose.yaml compose.yaml+compose.tls.yaml+ws/compose.yaml
