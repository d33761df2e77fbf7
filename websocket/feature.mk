# WebSockets (websocket/README.md): make's part, included by the Makefile.
COMPOSE_COMBINATIONS += compose.yaml+websocket/compose.yaml compose.yaml+compose.tls.yaml+websocket/compose.yaml
