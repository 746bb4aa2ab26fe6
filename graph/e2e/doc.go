// Package e2e holds Custody's end-to-end tests: each starts the real server
// (graph/server.Start) on the embedded SQLite store and on PostgreSQL, and
// talks to it over real HTTP with bearer tokens, as a client would.
package e2e
