"""``python -m tigris_grpc.server``: run the local Tigris server."""

import sys

from tigris_grpc.server._cli import main

if __name__ == "__main__":
    sys.exit(main())
