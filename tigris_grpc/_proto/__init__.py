"""Generated protobuf and gRPC modules (build output of `make protos`; not committed)."""
