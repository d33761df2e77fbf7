# The metrics overlay (metrics/README.md): make's part, included by the Makefile.
COMPOSE_COMBINATIONS += compose.yaml+metrics/compose.yaml compose.yaml+compose.tls.yaml+metrics/compose.yaml
