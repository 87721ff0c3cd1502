"""A local S3 + DynamoDB emulator for Samsa's dev loop and tests, where LocalStack cannot run.

moto's own `moto_server` command serves requests on many threads and takes no lock around
DynamoDB transactions, so concurrent TransactWriteItems can lose updates there — exactly what
Samsa's commit protocol relies on. This serves the same moto app on a single thread.

    python3 localstack/moto-server.py [PORT] [HOST]      (defaults 5000, 127.0.0.1)
"""
import sys

try:
    from werkzeug.serving import run_simple
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
except ImportError as e:
    print(f"moto is not importable by this python: {e} (pip install 'moto[server]')", file=sys.stderr)
    sys.exit(3)

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False)
