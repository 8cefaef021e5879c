package main

import "context"

// tokenEnv is the environment variable --token defaults to, as streamctl's.
const tokenEnv = "STREAMHOUSE_TOKEN"

// bearer sends a credential as the "authorization" metadata of every gRPC
// call. Plaintext is allowed: the benchmarked cell listens on loopback.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
