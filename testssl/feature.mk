# TLS grading (testssl/README.md): make's part, included by the Makefile.
COMPOSE_COMBINATIONS += compose.yaml+compose.tls.yaml+testssl/compose.testssl.yaml
