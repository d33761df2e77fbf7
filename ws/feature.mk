# WebSockets (ws/README.md): make's part, included by the Makefile.
COMPOSE_COMBINATIONS += compose.yaml+ws/compose.yaml compose.yaml+compose.tls.yaml+ws/compose.yaml

# Extra ws/bench/websocket.py arguments, e.g. BENCH_WEBSOCKET_ARGS='--servers uwsgi --hold 200'
BENCH_WEBSOCKET_ARGS ?=

.PHONY: bench-websocket
bench-websocket: prereqs $(VENV)/.installed ## WebSockets: sockets held, echo round trips/s and CPU per message, both servers (about 1 min, images built); writes ws/bench/
	$(with_base) $(VENV)/bin/python ws/bench/websocket.py $(BENCH_WEBSOCKET_ARGS)

# make bench measures the sockets too, first.
bench: bench-websocket
