"""``python -m tigris_grpc`` and the ``tigris-grpc`` console script."""

from tigris_grpc._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
