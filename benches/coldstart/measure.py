"""Cold start of a Lambda function binary: process start to first answered invocation, against
a local stand-in for the Lambda Runtime API (the same three HTTP calls Lambda's runtime serves).

Usage: python3 benches/coldstart/measure.py BOOTSTRAP EVENT.json [runs=30]

Each run starts the binary afresh with the environment `template.yaml` gives the functions (AWS
resource names, region, placeholder credentials; no network call is made at init), hands it
EVENT as its first invocation, and stops the clock when the function posts its response.
Prints p50 / p90 / max in milliseconds.
"""
import http.server
import json
import os
import socketserver
import subprocess
import sys
import threading
import time

binary, event_path = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 30
event = open(event_path, "rb").read()
answered = threading.Event()
answer = {}


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        if answered.is_set():
            # Later polls wait until the process is stopped.
            time.sleep(5)
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:vigil",
        )
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        self.wfile.write(event)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        answer["at"] = time.perf_counter()
        answer["path"] = self.path
        answer["body"] = body[:300]
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        answered.set()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A stopped function's connection breaks mid-answer; that is expected.
        pass


server = Server(("127.0.0.1", 0), RuntimeApi)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]

env = {
    "PATH": os.environ.get("PATH", ""),
    "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
    "AWS_LAMBDA_FUNCTION_NAME": "vigil",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/vigil",
    "AWS_LAMBDA_LOG_STREAM_NAME": "local",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "VIGIL_STORE": "aws",
    "VIGIL_RESOURCE_PREFIX": "vigil",
    # What template.yaml passes, so nothing is looked up at init.
    "VIGIL_TABLE_NAME": "vigil-table",
    "VIGIL_OUTBOX_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/vigil-outbox",
    "VIGIL_OUTBOX_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/vigil-outbox-dlq",
    "VIGIL_WORKFLOW_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/vigil-workflows",
    "VIGIL_WORKFLOW_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/vigil-workflows-dlq",
    "VIGIL_OUTBOX_QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:vigil-outbox",
    "VIGIL_WORKFLOW_QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:vigil-workflows",
    "VIGIL_EVENT_BUS_NAME": "vigil-bus",
    "VIGIL_SCHEDULE_GROUP": "vigil",
    "VIGIL_SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/vigil-scheduler",
    "VIGIL_LOG": "warn",
    "VIGIL_LOG_FORMAT": "json",
    # The template points the TLS roots at the runtime's CA bundle; this machine's bundle here.
    "SSL_CERT_FILE": next(
        (p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
         if os.path.exists(p)),
        "",
    ),
}

timings = []
for _ in range(runs):
    answered.clear()
    answer.clear()
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not answered.wait(10):
        process.kill()
        sys.exit(f"no answer within 10 s: {process.stderr.read().decode(errors='replace')[:2000]}")
    timings.append((answer["at"] - started) * 1000)
    process.kill()
    process.wait()

timings.sort()
pick = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))]
print(f"first answer: {answer['path']} {answer['body'][:120]!r}")
print(
    f"cold start over {runs} runs: p50 {pick(0.5):.1f} ms, p90 {pick(0.9):.1f} ms, "
    f"max {timings[-1]:.1f} ms"
)
