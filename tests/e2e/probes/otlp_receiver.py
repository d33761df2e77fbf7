"""An OTLP/HTTP trace receiver for the tests, in the app image: one JSON line per span received.

Listens on port 4318 (OTLP/HTTP's) for POST /v1/traces and decodes the protobuf with the
OpenTelemetry protocol package the app image has for its exporter.
"""

import json
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        export = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource_spans in export.resource_spans:
            resource = {item.key: item.value.string_value for item in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {item.key: item.value.string_value or item.value.int_value for item in span.attributes}
                    line = {
                        "service": resource.get("service.name"),
                        "trace_id": span.trace_id.hex(),
                        "parent_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "attributes": attributes,
                    }
                    print(json.dumps(line), flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


server = HTTPServer(("0.0.0.0", 4318), Receiver)
print("receiver: listening", flush=True)
server.serve_forever()
