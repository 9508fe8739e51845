// Default gRPC v2 ports (every port is a flag: `--grpc-port`). The REST defaults stay 8080 (serve-model)
// and 8000 (route). Kept free of imports so the operator can read them without loading onnxruntime.

/** `tinysaver serve-model --grpc-port` default (KServe's convention: REST 8080, gRPC 8081). */
export const MODEL_SERVER_GRPC_PORT = 8081;
/** `tinysaver route --grpc-port` default. */
export const ROUTER_GRPC_PORT = 9000;
