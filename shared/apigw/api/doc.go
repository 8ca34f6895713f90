// Package api is the HTTP API's contract as Go: the request and response
// types (types.gen.go, made by oapi-codegen) and the route table
// (routes.gen.go), both generated from docs/openapi.yaml, the single source
// of the contract. Edit the document, then run `go generate
// ./shared/apigw/api` (or `make generate`); a test fails while the
// generated files differ from what the document gives.
//
// The package imports nothing heavy (no aws-lambda-go, no SDK): the CDK
// stack imports it for the route table.
package api

//go:generate go run ./internal/cmd/apigen -spec ../../../docs/openapi.yaml -out .
