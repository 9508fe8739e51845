// onnxruntime-node's Linux library (1.30) carries Microsoft 1DS telemetry: it writes
// ~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db, uploads to mobile.events.data.microsoft.com,
// and at process exit waits for its upload threads, whose DNS lookups hang where the resolver does not
// answer (a cluster with DNS down, an offline machine): a router took 7 s to exit after a 0.9 s drain
// (issue 10; 0.9 s with it off). Servers on a cluster send no telemetry of their own, so it is off unless
// the user sets ORT_DISABLE_TELEMETRY themselves. Imported before onnxruntime-node: ES modules evaluate
// their imports in order, and the library reads the variable when it starts.
process.env.ORT_DISABLE_TELEMETRY ??= '1';
