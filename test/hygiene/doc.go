// Package hygiene checks that credentials never leave the driver: a full
// volume lifecycle at -v=10 with distinctive secrets (Keystone password,
// application credential secret, Lunanode API key) and the Keystone tokens
// the simulator issued, then every log line, gRPC error, metric and doctor
// report is searched for them.
//
//	go test ./test/hygiene -v
package hygiene
